"""The store: canonical records, sync state, sync runs and dead letters (SQLAlchemy 2, Alembic).

SQLite under ``var/`` by default; ``PODIUM_DB_URL`` selects PostgreSQL in production.
"""

from podium.store.store import DeadLetter, PageCounts, Store, StoredRecord, content_hash, dumps

__all__ = ["DeadLetter", "PageCounts", "Store", "StoredRecord", "content_hash", "dumps"]
