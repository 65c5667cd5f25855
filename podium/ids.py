"""Deterministic canonical ids: the same house + system + entity + source id gives the same id anywhere."""

from __future__ import annotations

import uuid

# Fixed namespace for Podium Hub canonical ids (uuid5 of the DNS name podium-hub.be). Never change it:
# every stored id and every downstream reference depends on it.
PODIUM_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "podium-hub.be")


def canonical_id(house: str, system: str, entity: str, source_id: str) -> str:
    """Return the canonical id (UUIDv5) of one vendor record as seen by one house."""
    return str(uuid.uuid5(PODIUM_NAMESPACE, f"{house}/{system}/{entity}/{source_id}"))
