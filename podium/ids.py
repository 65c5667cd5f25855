"""Deterministic canonical ids: the same house + system + entity + source id gives the same id anywhere."""

from __future__ import annotations

import hashlib
import uuid

# Fixed namespace for Podium Hub canonical ids (uuid5 of the DNS name podium-hub.be). Never change it:
# every stored id and every downstream reference depends on it.
PODIUM_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "podium-hub.be")
_NAMESPACE_BYTES = PODIUM_NAMESPACE.bytes


def canonical_id(house: str, system: str, entity: str, source_id: str) -> str:
    """Return the canonical id (UUIDv5, RFC 4122) of one vendor record as seen by one house.

    Computed as ``uuid.uuid5(PODIUM_NAMESPACE, "house/system/entity/source_id")`` does, without
    building UUID objects: this runs once per record on the hot path (tests pin the equality).
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{house}/{system}/{entity}/{source_id}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
