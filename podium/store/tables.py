"""The store's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# One row per canonical record, keyed by its natural key (house, source system, entity, source id):
# consecutive vendor ids share B-tree leaves, where a key on the random UUIDv5 ``id`` wrote every row
# into a random leaf. ``id`` is the canonical id (a UUIDv5 *of that key*), kept as data, not indexed.
# ``content_hash`` lets an unchanged record be recognised without rewriting it; ``revision`` counts
# its content changes (1 when first stored), so the page upsert tells inserted from updated by what
# it returns.
canonical_records = Table(
    "canonical_records", metadata,
    Column("house", String(64), primary_key=True),
    Column("source_system", String(64), primary_key=True),
    Column("entity", String(16), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("id", String(36), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("modified", String(32)),
    # The vendor key of the raw record this record came from (an order for its tickets, an event for
    # its dated occurrences): lets a re-read parent retire the children it no longer has.
    Column("parent_key", String(255)),
    Column("first_run_id", String(36)),
    Column("last_run_id", String(36)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("revision", Integer, nullable=False, default=1, server_default="1"),
    Index("ix_canonical_parent", "house", "source_system", "entity", "parent_key"),
)

# Per raw record (an order, an event) of a house × connector × stream: the hash of the raw record
# with the mapping it was mapped with, and how many canonical records it gave. A re-read raw record
# with the same hash is not mapped again (its records are unchanged). Only raw records that mapped
# without any rejection are kept here, so a rejected one is always mapped (and counted) again.
source_records = Table(
    "source_records", metadata,
    Column("house", String(64), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("source_key", String(255), primary_key=True),
    Column("raw_hash", String(64), nullable=False),
    Column("records", Integer, nullable=False),
)

# Where each (house, connector, stream) stands: committed with the page it follows.
sync_state = Table(
    "sync_state", metadata,
    Column("house", String(64), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("state", Text, nullable=False),
    Column("run_id", String(36)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per stream of a sync run; counts grow page by page in the page's transaction.
sync_runs = Table(
    "sync_runs", metadata,
    Column("id", String(36), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("house", String(64), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("stream", String(64), nullable=False),
    Column("entity", String(16), nullable=False),
    Column("trigger", String(32), nullable=False, default="cli"),
    Column("status", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("pages", Integer, nullable=False, default=0),
    Column("read", Integer, nullable=False, default=0),
    Column("inserted", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("error_class", String(32)),
    Column("error", Text),
    Column("archive_uri", Text),
    # Who runs it and when it last showed life: a run left 'running' by a dead owner reads 'interrupted'.
    Column("owner_host", String(255)),
    Column("owner_pid", Integer),
    Column("heartbeat_at", DateTime(timezone=True)),
    Index("ix_sync_runs_hcs", "house", "connector", "stream", "started_at"),
)

# Who holds the one-sync-per-house-×-connector lock. On SQLite the row IS the lock (taken by an
# atomic insert, or by a conditional update of a dead owner's row); on PostgreSQL a session advisory
# lock is the lock and the row only names the holder for the "already running" answer.
sync_locks = Table(
    "sync_locks", metadata,
    Column("house", String(64), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("owner_host", String(255), nullable=False),
    Column("owner_pid", Integer, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# Records that could not become canonical: the reason, the failing schema path, the raw record.
# ``fingerprint`` (house, connector, stream, source id, raw content) is a letter's identity: an unchanged
# bad record seen again bumps ``seen_count``/``last_seen_at`` of its open letter instead of adding one.
# Status: open -> resolved (the record later stored) | superseded (a newer version was rejected) |
# replayed (``podium replay``).
dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stream_run_id", String(36), nullable=False),
    Column("house", String(64), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("stream", String(64), nullable=False),
    Column("source_id", String(255)),
    Column("reason", Text, nullable=False),
    Column("schema_path", Text),
    Column("instance_path", Text),
    Column("raw", Text),
    Column("archive_uri", Text),
    Column("status", String(16), nullable=False, default="open"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True)),
    Column("fingerprint", String(64)),
    Column("seen_count", Integer, nullable=False, default=1, server_default="1"),
    Column("last_seen_at", DateTime(timezone=True)),
    Column("last_stream_run_id", String(36)),
    Column("closed_at", DateTime(timezone=True)),
    Index("ix_dead_letters_hcs", "house", "connector", "stream", "status"),
    Index("ix_dead_letters_fingerprint", "fingerprint"),
    Index("ix_dead_letters_source", "house", "connector", "stream", "source_id"),
)
