"""Store operations. The one rule: a page's records, its dead letters, the run's counts and the
sync state that follows the page commit in ONE transaction, so a sync killed at any point and run
again ends with exactly the store an uninterrupted sync gives.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, and_, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool

from podium.parsing.text import storable
from podium.paths import var_dir
from podium.sdk.retry import retrying_while
from podium.store import locks
from podium.store.tables import canonical_records, dead_letters, sync_runs, sync_state

_MIGRATIONS = Path(__file__).parent / "migrations"
_IN_CHUNK = 500  # ids per IN (...) query: well under every backend's parameter limit


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, so equal records give equal bytes (and hashes)."""
    # NON_STR_KEYS: raw vendor data kept in dead letters may have integer keys (a CSV row by position).
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)


# A dead letter keeps its raw record for replay; past this size it keeps the start only (the page is in
# the archive, ``archive_uri``), so one pathological record cannot put megabytes in every letter.
MAX_DEAD_LETTER_RAW_CHARS = 1_000_000
# Raw values nested deeper than this are cut in a dead letter (the JSON encoder stops at 255 levels).
MAX_DEAD_LETTER_DEPTH = 64


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as the JSON encoder takes it: strings storable, nesting cut at ``MAX_DEAD_LETTER_DEPTH``."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEAD_LETTER_DEPTH:
        return f"<cut: nested deeper than {MAX_DEAD_LETTER_DEPTH} levels>"
    if isinstance(value, dict):
        return {(storable(k) if isinstance(k, str) else k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return value


def dead_letter_raw(value: Any) -> str | None:
    """A dead letter's raw record as storable JSON text, whatever it holds (lone surrogates, NUL, deep nesting)."""
    if value is None:
        return None
    try:
        data = dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        data = dumps(_plain(value))
    if b"\\u0000" in data:  # an escaped NUL is storable text, but replay would bring the NUL back
        data = data.replace(b"\\u0000", b"\\\\x00")
    text = data.decode()
    if len(text) > MAX_DEAD_LETTER_RAW_CHARS:
        return dumps({"@_cut": f"raw record of {len(text)} characters; the whole page is in the archive",
                      "head": text[:10_000]}).decode()
    return text


def dead_letter_fingerprint(house: str, connector: str, stream: str, source_id: str | None, raw: bytes) -> str:
    """A dead letter's identity: the same unchanged bad record gives the same fingerprint."""
    digest = hashlib.sha256("\x1f".join((house, connector, stream, source_id or "")).encode())
    digest.update(b"\x1f")
    digest.update(raw)
    return digest.hexdigest()


def content_hash(data: bytes) -> str:
    """The content hash of a record's canonical JSON."""
    return hashlib.sha256(data).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


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


@dataclass
class PageCounts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0

    def add(self, other: PageCounts) -> None:
        for name in ("read", "inserted", "updated", "unchanged", "rejected", "deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class StreamRun:
    id: str
    run_id: str
    house: str
    connector: str
    stream: str
    entity: str
    counts: PageCounts = field(default_factory=PageCounts)


def default_url() -> str:
    """``PODIUM_DB_URL``, else the embedded SQLite file ``var/podium.db``."""
    return os.environ.get("PODIUM_DB_URL") or f"sqlite:///{var_dir() / 'podium.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # First: a fresh database switching to WAL while another process does the same must wait, not fail.
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL lets `podium status` read while a sync writes; NORMAL is durable at every commit in WAL mode
    # except on power loss, where the last commits roll back together with their state (still consistent).
    # Switching a fresh file to WAL needs the exclusive lock; against another process doing the same it
    # can deadlock, and SQLite then answers "locked" at once without calling the busy handler: try again.
    for attempt in retrying_while(_sqlite_locked, seconds=30):
        with attempt:
            cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_locked(exc: BaseException) -> bool:
    return "database is locked" in str(exc)


def _sqlite_exclusive_begin(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None  # pysqlite's own BEGIN would be DEFERRED and skip DDL


def describe_error(exc: BaseException) -> str:
    """An error's text fit to store, report and log: a database error is cut to its first line.

    The statement's parameters (record JSON with personal data) are kept out by ``hide_parameters``;
    the first line also drops the statement and PostgreSQL's DETAIL ("Failing row contains (...)").
    """
    if isinstance(exc, StatementError) and exc.orig is not None:
        return f"store error ({type(exc.orig).__name__}): {_first_line(str(exc.orig))}"
    if isinstance(exc, SQLAlchemyError):
        return f"store error ({type(exc).__name__}): {_first_line(str(exc))}"
    return str(exc)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def is_store_error(exc: BaseException) -> bool:
    return isinstance(exc, SQLAlchemyError)


class Store:
    """The store, bound to one database."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self.url = url or default_url()
        # hide_parameters: a failing statement's parameters (records with personal data) never reach
        # an exception text, hence never sync_runs.error, a report, an alert or a log.
        self.engine = engine or create_engine(self.url, future=True, pool_pre_ping=True, hide_parameters=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrated = False
        self._open_letters: dict[str, bool] = {}  # stream run id -> has open dead letters

    @classmethod
    def from_env(cls) -> Store:
        """The store named by ``PODIUM_DB_URL`` (default: embedded SQLite), migrated."""
        store = cls()
        store.migrate()
        return store

    # -- schema ---------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent; safe to start concurrently)."""
        if self._migrated:
            return
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self._migration_transaction() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        self._migrated = True

    @contextmanager
    def _migration_transaction(self) -> Iterator[Connection]:
        """One transaction that only one migrating process at a time gets; the others then find head."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as connection:
                connection.execute(select(func.pg_advisory_xact_lock(locks.advisory_key("podium.migrate"))))
                yield connection
            return
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            # BEGIN IMMEDIATE takes SQLite's write lock before Alembic reads its version table: the
            # DDL runs in that one transaction, and a concurrent migrator waits (busy_timeout).
            engine = create_engine(self.engine.url, poolclass=NullPool, hide_parameters=True)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "connect", _sqlite_exclusive_begin)
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            try:
                with engine.begin() as connection:
                    yield connection
            finally:
                engine.dispose()
            return
        with self.engine.begin() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the one-sync-per-house-×-connector lock -------------------------------------------------
    def try_lock_sync(self, house: str, connector: str, run_id: str) -> locks.SyncLease | None:
        """The lock of a house × connector for one sync, or None while another live sync holds it."""
        return locks.try_lock(self.engine, house, connector, run_id)

    def sync_lock_holder(self, house: str, connector: str) -> locks.LockHolder | None:
        return locks.lock_holder(self.engine, house, connector)

    # -- runs -----------------------------------------------------------------------------------
    def close_interrupted_runs(self, house: str, connector: str) -> int:
        """Runs left 'running' by a killed sync become 'interrupted' (their pages stay committed)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(sync_runs)
                .where(and_(sync_runs.c.house == house, sync_runs.c.connector == connector,
                            sync_runs.c.status == "running"))
                .values(status="interrupted", finished_at=now(), error_class="interrupted",
                        error="the sync process stopped before finishing; the next run resumed from its state"))
            return result.rowcount or 0

    def start_stream_run(self, run_id: str, house: str, connector: str, stream: str, entity: str,
                         trigger: str = "cli") -> StreamRun:
        run = StreamRun(str(uuid.uuid4()), run_id, house, connector, stream, entity)
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(insert(sync_runs).values(
                id=run.id, run_id=run_id, house=house, connector=connector, stream=stream, entity=entity,
                trigger=trigger, status="running", started_at=stamp, pages=0, read=0, inserted=0, updated=0,
                unchanged=0, rejected=0, deleted=0, owner_host=locks.HOST, owner_pid=os.getpid(),
                heartbeat_at=stamp))
        return run

    def finish_stream_run(self, run: StreamRun, status: str, error_class: str | None = None,
                          error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sync_runs).where(sync_runs.c.id == run.id).values(
                status=status, finished_at=now(), error_class=error_class, error=error))

    # -- state ----------------------------------------------------------------------------------
    def get_state(self, house: str, connector: str, stream: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sync_state.c.state).where(and_(
                sync_state.c.house == house, sync_state.c.connector == connector,
                sync_state.c.stream == stream))).first()
        return orjson.loads(row[0]) if row else None

    def _put_state(self, conn: Connection, run: StreamRun, state: dict[str, Any]) -> None:
        values = {"state": dumps(state).decode(), "run_id": run.run_id, "updated_at": now()}
        key = and_(sync_state.c.house == run.house, sync_state.c.connector == run.connector,
                   sync_state.c.stream == run.stream)
        if conn.execute(update(sync_state).where(key).values(**values)).rowcount == 0:
            conn.execute(insert(sync_state).values(house=run.house, connector=run.connector, stream=run.stream,
                                                   **values))

    def reset_state(self, house: str, connector: str, stream: str | None = None) -> None:
        """Forget where a sync stands (the next sync reads everything again)."""
        condition = and_(sync_state.c.house == house, sync_state.c.connector == connector)
        if stream:
            condition = and_(condition, sync_state.c.stream == stream)
        with self.engine.begin() as conn:
            conn.execute(sync_state.delete().where(condition))

    # -- the page transaction -------------------------------------------------------------------
    def commit_page(self, run: StreamRun, records: Sequence[StoredRecord], dead: Sequence[DeadLetter],
                    state: dict[str, Any] | None, *, read: int, archive_uri: str | None = None,
                    complete_parents: Iterable[str] = (), vanished: dict[str, Any] | None = None) -> PageCounts:
        """Upsert the page's records, add its dead letters, count, and store the state: one transaction.

        A dead letter already open for the same unchanged record is seen again, not added; an open
        letter of a record stored now is resolved. ``rejected`` counts the records rejected by this
        page, new or seen before (what this run could not store).

        ``complete_parents`` are the raw records of this page that mapped without any rejection; a
        stored child of one of them that this page no longer yields gets ``vanished`` applied
        (e.g. a ticket returned from its order becomes ``refunded``).
        """
        counts = PageCounts(read=read, rejected=len(dead))
        unique: dict[str, StoredRecord] = {}
        for record in records:
            unique[record.id] = record  # a record served twice in one page: the later one wins
        stamp = now()
        with self.engine.begin() as conn:
            existing = self._existing_hashes(conn, list(unique))
            inserts, updates = [], []
            for record in unique.values():
                old = existing.get(record.id)
                if old == record.hash:
                    counts.unchanged += 1
                    continue
                row = {"content_hash": record.hash, "data": record.data.decode(), "deleted": record.deleted,
                       "modified": record.modified, "parent_key": record.parent, "last_run_id": run.run_id,
                       "updated_at": stamp}
                if record.deleted:
                    counts.deleted += 1
                if old is None:
                    if not record.deleted:
                        counts.inserted += 1
                    inserts.append({"id": record.id, "house": run.house, "entity": record.entity,
                                    "source_system": record.source_system, "source_id": record.source_id,
                                    "first_run_id": run.run_id, **row})
                else:
                    if not record.deleted:
                        counts.updated += 1
                    updates.append({"b_id": record.id, **row})
            if inserts:
                conn.execute(insert(canonical_records), inserts)
            retired = (self._retire_vanished(conn, run, unique, set(complete_parents), vanished, counts, stamp)
                       if vanished else [])
            for rows in (updates, retired):
                if rows:
                    conn.execute(update(canonical_records).where(canonical_records.c.id == bindparam("b_id"))
                                 .values({k: bindparam(k) for k in rows[0] if k != "b_id"}), rows)
            self._put_dead_letters(conn, run, dead, unique.values(), archive_uri, stamp)
            conn.execute(update(sync_runs).where(sync_runs.c.id == run.id).values(
                pages=sync_runs.c.pages + 1, read=sync_runs.c.read + counts.read,
                inserted=sync_runs.c.inserted + counts.inserted, updated=sync_runs.c.updated + counts.updated,
                unchanged=sync_runs.c.unchanged + counts.unchanged,
                rejected=sync_runs.c.rejected + counts.rejected, deleted=sync_runs.c.deleted + counts.deleted,
                heartbeat_at=stamp,
                **({"archive_uri": archive_uri.rsplit("/", 1)[0]} if archive_uri else {})))
            if state is not None:
                self._put_state(conn, run, state)
        run.counts.add(counts)
        return counts

    def _put_dead_letters(self, conn: Connection, run: StreamRun, dead: Sequence[DeadLetter],
                          stored: Iterable[StoredRecord], archive_uri: str | None, stamp: datetime) -> None:
        """One open letter per bad record: a new one, or the open one seen again; letters of records
        stored now are resolved, older letters of a record rejected anew are superseded."""
        scope = and_(dead_letters.c.house == run.house, dead_letters.c.connector == run.connector,
                     dead_letters.c.stream == run.stream, dead_letters.c.status == "open")
        letters: dict[str, dict[str, Any]] = {}
        for letter in dead:
            raw = dead_letter_raw(letter.raw)
            source_id = storable(letter.source_id)[:255] if letter.source_id is not None else None
            fingerprint = dead_letter_fingerprint(run.house, run.connector, run.stream, source_id,
                                                  (raw or "").encode())
            if fingerprint in letters:  # one record rejected twice in a page (two failing fields)
                continue
            letters[fingerprint] = {
                "reason": storable(letter.reason), "source_id": source_id,
                "schema_path": storable(letter.schema_path) if letter.schema_path else None,
                "instance_path": storable(letter.instance_path) if letter.instance_path else None,
                "raw": raw, "archive_uri": archive_uri, "last_seen_at": stamp, "last_stream_run_id": run.id}
        if not letters and not self._has_open_letters(conn, run):
            return  # the common page: nothing rejected, nothing waiting to be resolved
        rejected = {row["source_id"] for row in letters.values() if row["source_id"] is not None}
        resolved = {key for record in stored for key in (record.source_id, record.parent)
                    if key is not None and key not in rejected}
        if letters:
            self._open_letters[run.id] = True
            prints = list(letters)
            seen: dict[str, int] = {}
            for start in range(0, len(prints), _IN_CHUNK):
                for fingerprint, letter_id in conn.execute(select(dead_letters.c.fingerprint, dead_letters.c.id).where(
                        and_(scope, dead_letters.c.fingerprint.in_(prints[start:start + _IN_CHUNK])))):
                    seen[fingerprint] = letter_id
            again = [{"b_id": seen[f], "reason": row["reason"], "archive_uri": archive_uri, "last_seen_at": stamp,
                      "last_stream_run_id": run.id} for f, row in letters.items() if f in seen]
            if again:
                conn.execute(update(dead_letters).where(dead_letters.c.id == bindparam("b_id")).values(
                    seen_count=dead_letters.c.seen_count + 1, reason=bindparam("reason"),
                    archive_uri=bindparam("archive_uri"), last_seen_at=bindparam("last_seen_at"),
                    last_stream_run_id=bindparam("last_stream_run_id")), again)
            new = [{"fingerprint": f, **row} for f, row in letters.items() if f not in seen]
            if new:
                renewed = sorted({row["source_id"] for row in new if row["source_id"] is not None})
                for start in range(0, len(renewed), _IN_CHUNK):
                    conn.execute(update(dead_letters).where(and_(
                        scope, dead_letters.c.source_id.in_(renewed[start:start + _IN_CHUNK]),
                        dead_letters.c.fingerprint.not_in(prints))).values(status="superseded", closed_at=stamp))
                conn.execute(insert(dead_letters), [{
                    "stream_run_id": run.id, "house": run.house, "connector": run.connector, "stream": run.stream,
                    "status": "open", "created_at": stamp, "seen_count": 1, **row} for row in new])
        keys = sorted(resolved)
        for start in range(0, len(keys), _IN_CHUNK):
            conn.execute(update(dead_letters).where(and_(
                scope, dead_letters.c.source_id.in_(keys[start:start + _IN_CHUNK]))).values(
                status="resolved", closed_at=stamp))

    def _has_open_letters(self, conn: Connection, run: StreamRun) -> bool:
        """Whether the stream has open letters (asked once per stream run: most have none)."""
        known = self._open_letters.get(run.id)
        if known is None:
            known = self._open_letters[run.id] = conn.execute(select(dead_letters.c.id).where(and_(
                dead_letters.c.house == run.house, dead_letters.c.connector == run.connector,
                dead_letters.c.stream == run.stream, dead_letters.c.status == "open")).limit(1)).first() is not None
        return known

    def _retire_vanished(self, conn: Connection, run: StreamRun, present: dict[str, StoredRecord],
                         parents: set[str], vanished: dict[str, Any], counts: PageCounts,
                         stamp: datetime) -> list[dict[str, Any]]:
        """Rows for the stored children of fully re-read parents that the vendor no longer lists."""
        rows: list[dict[str, Any]] = []
        parent_list = sorted(parents)
        scope = and_(canonical_records.c.house == run.house, canonical_records.c.source_system == run.connector,
                     canonical_records.c.entity == run.entity, canonical_records.c.deleted.is_(False))
        for start in range(0, len(parent_list), _IN_CHUNK):
            chunk = parent_list[start:start + _IN_CHUNK]
            # Ids first: on an ordinary re-read every stored child is still present and nothing is loaded.
            stored_ids = conn.execute(select(canonical_records.c.id).where(
                and_(scope, canonical_records.c.parent_key.in_(chunk)))).scalars()
            missing = [record_id for record_id in stored_ids if record_id not in present]
            if not missing:
                continue
            for record_id, data in conn.execute(select(canonical_records.c.id, canonical_records.c.data)
                                                .where(canonical_records.c.id.in_(missing))):
                record = orjson.loads(data)
                if all(record.get(k) == v for k, v in vanished.items()):
                    continue
                record.update(vanished)
                raw = dumps(record)
                deleted = bool(record.get("deleted"))
                if deleted:
                    counts.deleted += 1
                else:
                    counts.updated += 1
                rows.append({"b_id": record_id, "content_hash": content_hash(raw), "data": raw.decode(),
                             "deleted": deleted, "last_run_id": run.run_id, "updated_at": stamp})
        return rows

    def retire_unlisted(self, run: StreamRun, listed: set[str], unlisted: dict[str, Any]) -> PageCounts:
        """After a complete read of a vendor's whole list: apply ``unlisted`` to every stored record of the
        stream's house, connector and entity whose raw record (``parent_key``) that read did not serve.

        One transaction; a record already in the ``unlisted`` state is left alone, so a second read
        without changes writes nothing. Counted as updated (or deleted, for a tombstone).
        """
        counts = PageCounts()
        stamp = now()
        scope = and_(canonical_records.c.house == run.house, canonical_records.c.source_system == run.connector,
                     canonical_records.c.entity == run.entity, canonical_records.c.deleted.is_(False))
        with self.engine.begin() as conn:
            missing = [record_id for record_id, parent, source_id in conn.execute(select(
                canonical_records.c.id, canonical_records.c.parent_key, canonical_records.c.source_id).where(scope))
                if (parent if parent is not None else source_id) not in listed]
            rows: list[dict[str, Any]] = []
            for start in range(0, len(missing), _IN_CHUNK):
                for record_id, data in conn.execute(select(canonical_records.c.id, canonical_records.c.data).where(
                        canonical_records.c.id.in_(missing[start:start + _IN_CHUNK]))):
                    record = orjson.loads(data)
                    if all(record.get(k) == v for k, v in unlisted.items()):
                        continue
                    record.update(unlisted)
                    raw = dumps(record)
                    deleted = bool(record.get("deleted"))
                    if deleted:
                        counts.deleted += 1
                    else:
                        counts.updated += 1
                    rows.append({"b_id": record_id, "content_hash": content_hash(raw), "data": raw.decode(),
                                 "deleted": deleted, "last_run_id": run.run_id, "updated_at": stamp})
            if rows:
                conn.execute(update(canonical_records).where(canonical_records.c.id == bindparam("b_id"))
                             .values({k: bindparam(k) for k in rows[0] if k != "b_id"}), rows)
                conn.execute(update(sync_runs).where(sync_runs.c.id == run.id).values(
                    updated=sync_runs.c.updated + counts.updated, deleted=sync_runs.c.deleted + counts.deleted,
                    heartbeat_at=stamp))
        run.counts.add(counts)
        return counts

    def _existing_hashes(self, conn: Connection, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start:start + _IN_CHUNK]
            rows = conn.execute(select(canonical_records.c.id, canonical_records.c.content_hash)
                                .where(canonical_records.c.id.in_(chunk)))
            found.update((row[0], row[1]) for row in rows)
        return found

    # -- reading --------------------------------------------------------------------------------
    def export(self, house: str | None = None, entity: str | None = None) -> Iterator[dict[str, Any]]:
        """Stored canonical records sorted by id (what a house or a test compares)."""
        query = select(canonical_records.c.data).order_by(canonical_records.c.id)
        if house:
            query = query.where(canonical_records.c.house == house)
        if entity:
            query = query.where(canonical_records.c.entity == entity)
        with self.engine.connect() as conn:
            for (data,) in conn.execution_options(yield_per=2000).execute(query):
                yield orjson.loads(data)

    def get_record(self, record_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(canonical_records.c.data).where(canonical_records.c.id == record_id)).first()
        return orjson.loads(row[0]) if row else None

    def count_records(self, house: str | None = None, entity: str | None = None) -> int:
        query = select(func.count()).select_from(canonical_records)
        if house:
            query = query.where(canonical_records.c.house == house)
        if entity:
            query = query.where(canonical_records.c.entity == entity)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def status(self, house: str | None = None) -> list[dict[str, Any]]:
        """Per house × connector × stream: last run, its counts, the state, open dead letters."""
        latest = (select(sync_runs.c.house, sync_runs.c.connector, sync_runs.c.stream,
                         func.max(sync_runs.c.started_at).label("started_at"))
                  .group_by(sync_runs.c.house, sync_runs.c.connector, sync_runs.c.stream).subquery())
        query = select(sync_runs).join(latest, and_(
            sync_runs.c.house == latest.c.house, sync_runs.c.connector == latest.c.connector,
            sync_runs.c.stream == latest.c.stream, sync_runs.c.started_at == latest.c.started_at))
        if house:
            query = query.where(sync_runs.c.house == house)
        dead_query = (select(dead_letters.c.house, dead_letters.c.connector, dead_letters.c.stream, func.count())
                      .where(dead_letters.c.status == "open")
                      .group_by(dead_letters.c.house, dead_letters.c.connector, dead_letters.c.stream))
        with self.engine.connect() as conn:
            runs = [dict(r._mapping) for r in conn.execute(query.order_by(
                sync_runs.c.house, sync_runs.c.connector, sync_runs.c.stream))]
            open_dead = {(h, c, s): n for h, c, s, n in conn.execute(dead_query)}
            states = {(h, c, s): st for h, c, s, st in conn.execute(
                select(sync_state.c.house, sync_state.c.connector, sync_state.c.stream, sync_state.c.state))}
        rows = []
        checked_at = now()
        for run in runs:
            key = (run["house"], run["connector"], run["stream"])
            owner = f"{run['owner_host']}:{run['owner_pid']}" if run["owner_host"] else None
            if run["status"] == "running" and locks.owner_is_gone(
                    run["owner_host"], run["owner_pid"], run["started_at"], run["heartbeat_at"], checked_at):
                # Known now, not only when the next sync of the pair starts and closes the run.
                run.update(status="interrupted", error_class="interrupted",
                           error=f"the sync process {owner or ''} stopped before finishing "
                                 "(its pages stay committed; the next sync resumes from its state)")
            heartbeat = locks.as_utc(run["heartbeat_at"])
            rows.append({
                "house": run["house"], "connector": run["connector"], "stream": run["stream"],
                "entity": run["entity"], "last_run": run["run_id"], "status": run["status"],
                "owner": owner, "heartbeat_at": heartbeat.isoformat() if heartbeat else None,
                "started_at": run["started_at"].isoformat() if run["started_at"] else None,
                "finished_at": run["finished_at"].isoformat() if run["finished_at"] else None,
                "read": run["read"], "inserted": run["inserted"], "updated": run["updated"],
                "unchanged": run["unchanged"], "rejected": run["rejected"], "deleted": run["deleted"],
                "error_class": run["error_class"], "error": run["error"],
                "state": orjson.loads(states[key]) if key in states else None,
                "dead_letters_open": open_dead.get(key, 0),
            })
        return rows

    def runs(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(sync_runs).where(sync_runs.c.run_id == run_id))]

    # -- dead letters ---------------------------------------------------------------------------
    def dead_letters(self, *, house: str | None = None, connector: str | None = None, stream: str | None = None,
                     status: str | None = "open", limit: int | None = None) -> list[dict[str, Any]]:
        query = select(dead_letters).order_by(dead_letters.c.id)
        for column, value in ((dead_letters.c.house, house), (dead_letters.c.connector, connector),
                              (dead_letters.c.stream, stream), (dead_letters.c.status, status)):
            if value is not None:
                query = query.where(column == value)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def mark_dead_letters(self, ids: Iterable[int], status: str) -> None:
        ids = list(ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            stamp = now()
            conn.execute(update(dead_letters).where(dead_letters.c.id.in_(ids)).values(
                status=status, replayed_at=stamp, closed_at=stamp))
