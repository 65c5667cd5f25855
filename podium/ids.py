"""Deterministic canonical ids: the same house + system + entity + source id gives the same id anywhere."""

from __future__ import annotations

import hashlib
import uuid

# Fixed namespace for Podium Hub canonical ids (uuid5 of the DNS name podium-hub.be). Never change it:
# every stored id and every downstream reference depends on it.
PODIUM_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "podium-hub.be")
_NAMESPACE_BYTES = PODIUM_NAMESPACE.bytes
_sha1 = hashlib.sha1
# The RFC 4122 variant bits (10xx) set on the first hex digit of the fourth group: its two low bits stay.
_VARIANT = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}


def canonical_id(house: str, system: str, entity: str, source_id: str) -> str:
    """Return the canonical id (UUIDv5, RFC 4122) of one vendor record as seen by one house.

    Computed as ``uuid.uuid5(PODIUM_NAMESPACE, "house/system/entity/source_id")`` does, on the hex text
    of the SHA-1 (the version digit written as "5", the variant digit looked up): no UUID object, no
    bytearray, no bit operations. This runs for every record and every link on the hot path (tests pin
    the equality with ``uuid.uuid5``).
    """
    h = _sha1(_NAMESPACE_BYTES + f"{house}/{system}/{entity}/{source_id}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"
