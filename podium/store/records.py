"""What a mapped page hands the store: its records and dead letters, and how a record's bytes and hash are made.

Apart from ``podium.store.store`` (SQLAlchemy, the schema) so that a mapping worker process, which only
makes these, imports neither.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, so equal records give equal bytes (and hashes)."""
    # NON_STR_KEYS: raw vendor data kept in dead letters may have integer keys (a CSV row by position).
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)


def content_hash(data: bytes) -> str:
    """The content hash of a record's canonical JSON."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class StoredRecord:
    """A validated canonical record ready for the store."""

    id: str
    entity: str
    source_system: str
    source_id: str
    deleted: bool
    modified: str | None
    data: bytes  # canonical JSON (sorted keys)
    hash: str
    parent: str | None = None  # vendor key of the raw record it came from


@dataclass
class DeadLetter:
    """A record (or a part of a page) that could not become canonical."""

    reason: str
    source_id: str | None = None
    schema_path: str | None = None
    instance_path: str | None = None
    raw: Any = None
