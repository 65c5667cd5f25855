"""The store: canonical records, sync state, sync runs and dead letters (SQLAlchemy 2, Alembic).

SQLite under ``var/`` by default; ``PODIUM_DB_URL`` selects PostgreSQL in production.

``Store`` and ``PageCounts`` are imported on first use: a mapping worker process imports this package
for the record types only, and SQLAlchemy would cost it a good part of its start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from podium.store.records import DeadLetter, StoredRecord, content_hash, dumps

if TYPE_CHECKING:
    from podium.store.store import PageCounts, Store

__all__ = ["DeadLetter", "PageCounts", "Store", "StoredRecord", "content_hash", "dumps"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "PageCounts"):
        from podium.store import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
