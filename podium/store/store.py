"""Store operations. The one rule: a page's records, its dead letters, the run's counts and the
sync state that follows the page commit in ONE transaction, so a sync killed at any point and run
again ends with exactly the store an uninterrupted sync gives.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, and_, bindparam, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool

from podium.parsing.text import storable
from podium.paths import var_dir
from podium.sdk.retry import retrying_while
from podium.store import locks
from podium.store.records import DeadLetter, StoredRecord, content_hash, dumps
from podium.store.tables import canonical_records, dead_letters, source_records, sync_runs, sync_state

log = logging.getLogger("podium.store")
_MIGRATIONS = Path(__file__).parent / "migrations"
_IN_CHUNK = 500  # ids per IN (...) query: well under every backend's parameter limit


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


def now() -> datetime:
    return datetime.now(UTC)


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


@dataclass
class _FirstLoad:
    """A stream run that began with nothing stored to compare its pages with: no raw hash of its stream and
    no record of its entity for the house and connector. Its pages skip the look-ups (and the vanished-children
    check) that could only find what this run itself wrote; a page that meets such a row after all falls back
    to the full path (``Store.commit_page``), and the run stops skipping from then on.

    ``empty``: per (source system, entity) met in the run, whether the store held no record of that kind for the
    house when the run first met it. ``unclaimed``: raw keys that gave records on a page of this run without
    their raw hash being stored (a rejected record or no hashes): children stored under them are found only by
    the vanished-children check, which a later page of theirs therefore makes."""

    on: bool = True
    empty: dict[tuple[str, str], bool] = field(default_factory=dict)
    unclaimed: set[str] = field(default_factory=set)


def default_url() -> str:
    """``PODIUM_DB_URL``, else the embedded SQLite file ``var/podium.db``."""
    return os.environ.get("PODIUM_DB_URL") or f"sqlite:///{var_dir() / 'podium.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # First: a fresh database switching to WAL while another process does the same must wait, not fail.
    cursor.execute("PRAGMA busy_timeout=30000")
    # A new database gets 16 KiB pages (SQLite's default is 4 KiB): a stored record (~1 KiB of JSON) and its
    # index entries take fewer pages, so a page commit writes fewer WAL frames and splits fewer B-tree pages
    # (measured in bench/README.md). It must come before WAL mode, which fixes the page size; on an existing
    # database (any content) SQLite ignores it.
    cursor.execute("PRAGMA page_size=16384")
    # WAL lets `podium status` read while a sync writes. synchronous=NORMAL in WAL mode: a commit is
    # written to the WAL but not fsynced, so it survives the process being killed (the OS has it);
    # a power loss (or OS crash) can lose the commits since the WAL was last synced — the background
    # checkpoint syncs it every fraction of a second — and they roll back whole, records together
    # with the state and counts of their page, so the next sync re-reads from the state before them.
    # Switching a fresh file to WAL needs the exclusive lock; against another process doing the same it
    # can deadlock, and SQLite then answers "locked" at once without calling the busy handler: try again.
    for attempt in retrying_while(_sqlite_locked, seconds=30):
        with attempt:
            cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # No checkpoint on the commit path: SQLite's automatic one ran inside every 2nd-3rd page commit
    # (copying the WAL into the database file and fsyncing both) and was the biggest single cost of a
    # page. While a sync writes, ``_WalCheckpointer`` checkpoints from a background thread instead, and
    # once more when the stream run ends.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
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


class _WalCheckpointer:
    """Copies SQLite's WAL into the database file from a background thread while a sync writes.

    Off the commit path: a page commit only appends to the WAL. A PASSIVE checkpoint never waits for
    the writer or blocks it; run often, it keeps up with the pages. sqlite3 releases the GIL while it works.

    But it copies only the frames committed when it began, and the WAL starts again from its beginning
    only when a write transaction begins after a *complete* checkpoint: against a writer that commits
    while it copies, that never happened, and the WAL grew for the whole sync (70 MB for 30,000
    tickets; the file keeps its size afterwards). So once the WAL holds ``RESTART_FRAMES`` frames, the
    writer itself checkpoints between two pages (``between_pages``): only the frames of the last few
    pages are left to copy, and its next page writes the WAL from its beginning. (A RESTART checkpoint
    from this thread would deadlock with the writer's page until its busy timeout: the page reads
    before it asks for the write lock that the RESTART holds while it waits for readers.)
    """

    INTERVAL_S = 0.05
    RESTART_FRAMES = 4096  # 16 MB of 4 KiB pages; scaled to the database's page size (16 KiB: 1024 frames)

    def __init__(self, database: str) -> None:
        self.database = database
        self.restart_frames = max(1, self.RESTART_FRAMES * 4096 // self._page_size(database))
        self._stopping = threading.Event()
        self._restart_due = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podium-wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self.database, timeout=30, check_same_thread=False)
        try:
            while not self._stopping.wait(self.INTERVAL_S):
                if self._checkpoint(connection) >= self.restart_frames:
                    self._restart_due.set()
            self._checkpoint(connection)
        finally:
            connection.close()

    @staticmethod
    def _page_size(database: str) -> int:
        """The database's page size; 4096 (SQLite's default) when it cannot be read: the checkpoints only
        restart the WAL at another length then, which must not stop a sync."""
        try:
            connection = sqlite3.connect(database, timeout=30)
            try:
                size = connection.execute("PRAGMA page_size").fetchone()[0]
            finally:
                connection.close()
            return int(size) if int(size) > 0 else 4096
        except (sqlite3.Error, TypeError, ValueError) as exc:
            log.debug("WAL checkpointer: page size not read (%s); 4096 assumed", exc)
            return 4096

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection) -> int:
        """A PASSIVE checkpoint; the frames in the WAL (0 if it failed)."""
        try:
            result = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # e.g. the file was removed under us; the next sync checkpoints
            log.debug("WAL checkpoint skipped: %s", exc)
            return 0
        return max(result[1], 0) if result else 0

    def between_pages(self, engine: Engine) -> None:
        """On the writer's thread, after a page commit: complete the checkpoint when the WAL is long."""
        if self._restart_due.is_set():
            with engine.connect() as conn:
                busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if not busy and frames == copied:  # else (this thread was checkpointing too) after the next page
                self._restart_due.clear()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=60)


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
        self._source_hashes_known: dict[str, bool] = {}  # stream run id -> the stream had raw hashes
        self._first_loads: dict[str, _FirstLoad] = {}  # stream run id -> its first load (see _FirstLoad)
        self._source_readers: dict[str, _SourceHashReader] = {}  # stream run id -> its raw-hash look-ups
        self._inserted_since_analyze, self._analyze_at = 0, 1000
        self._checkpointer: _WalCheckpointer | None = None

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
        # Imported here: Alembic costs ~0.5 s of CPU to import, paid by every process that imports the
        # store (each mapping worker does, for its record types) though only a migrating one needs it.
        from alembic import command
        from alembic.config import Config

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
        self._stop_checkpointer()
        self._close_source_reader()
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
        self._stop_checkpointer()
        self._source_hashes_known.pop(run.id, None)
        self._first_loads.pop(run.id, None)
        self._close_source_reader(run.id)

    def _start_checkpointer(self) -> None:
        if self._checkpointer is None and self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database not in (None, "", ":memory:"):
                self._checkpointer = _WalCheckpointer(str(database))

    def _stop_checkpointer(self) -> None:
        """End the background checkpoints with a last one (the WAL is small again after a sync)."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

    # -- state ----------------------------------------------------------------------------------
    def get_state(self, house: str, connector: str, stream: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sync_state.c.state).where(and_(
                sync_state.c.house == house, sync_state.c.connector == connector,
                sync_state.c.stream == stream))).first()
        return orjson.loads(row[0]) if row else None

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
                    complete_parents: Iterable[str] = (), vanished: dict[str, Any] | None = None,
                    source_hashes: Mapping[str, str] | None = None, unchanged: int = 0,
                    pages: int = 1) -> PageCounts:
        """Upsert the page's records, add its dead letters, count, and store the state: one transaction.

        ``pages`` > 1: the counts and state of that many pages that write nothing else (no records, no dead
        letters, no raw hashes), committed as one (see ``podium.engine._ProgressOnlyPages``).

        A dead letter already open for the same unchanged record is seen again, not added; an open
        letter of a record stored now is resolved. ``rejected`` counts the records rejected by this
        page, new or seen before (what this run could not store).

        ``complete_parents`` are the raw records of this page that mapped without any rejection; a
        stored child of one of them that this page no longer yields gets ``vanished`` applied
        (e.g. a ticket returned from its order becomes ``refunded``).

        ``source_hashes`` (raw record key -> raw hash) are stored for the raw records of this page that
        mapped without rejection, with the number of records each gave; ``unchanged`` counts the records
        of raw records not mapped again because their raw hash had not changed.

        The records go in on the driver's connection, and what is written gives the counts. SQLite: one
        upsert statement per page, nothing read first. PostgreSQL: the page's stored hashes are read
        first (one statement), new records are COPied, changed ones upserted, unchanged ones not sent
        (see ``_PostgresPageWriter``).
        """
        unique: dict[str, StoredRecord] = {}
        for record in records:
            unique[record.id] = record  # a record served twice in one page: the later one wins
        self._start_checkpointer()
        try:
            counts = self._write_page(run, list(unique.values()), dead, state, read, archive_uri,
                                      set(complete_parents), vanished, source_hashes, unchanged, pages, copy_new=True)
        except _NewKeyTaken:
            first_load = self._first_loads.get(run.id)
            if first_load is not None:
                first_load.on = False  # pages repeat rows in this run: look up from now on
            log.info("%s %s: a row of this page was stored by another writer meanwhile; writing the page again "
                     "by upserts", run.connector, run.stream)
            counts = self._write_page(run, list(unique.values()), dead, state, read, archive_uri,
                                      set(complete_parents), vanished, source_hashes, unchanged, pages, copy_new=False)
        run.counts.add(counts)
        self._after_commit(counts.inserted)
        if self._checkpointer is not None:
            self._checkpointer.between_pages(self.engine)
        return counts

    def _write_page(self, run: StreamRun, records: list[StoredRecord], dead: Sequence[DeadLetter],
                    state: dict[str, Any] | None, read: int, archive_uri: str | None, parents: set[str],
                    vanished: dict[str, Any] | None, source_hashes: Mapping[str, str] | None, unchanged: int,
                    pages: int, *, copy_new: bool) -> PageCounts:
        """``commit_page``'s one transaction (``copy_new``: see ``_PostgresPageWriter``)."""
        counts = PageCounts(read=read, rejected=len(dead), unchanged=unchanged)
        stamp = now()
        first_load = self._first_load(run, source_hashes) if copy_new else None
        with self.engine.begin() as conn, _store_errors(conn):
            writer = _PageWriter.of(conn, run, stamp, copy_new=copy_new)
            check_children = bool(vanished and parents)
            if first_load is not None and source_hashes is not None:
                writer.new_kinds = self._new_kinds(conn, run, first_load, records)
                writer.sources_new = True
                # A stored child of these parents could only have been written by this run, under a parent
                # served on an earlier page: its raw hash is stored then (the insert below meets it) or it
                # is unclaimed. Else there is nothing to compare.
                if check_children and (run.connector, run.entity) in writer.new_kinds \
                        and parents.issubset(source_hashes) and parents.isdisjoint(first_load.unclaimed):
                    check_children = not writer.claim_new_sources(self._given(records, source_hashes))
            writer.begin_page(records, sorted(parents) if check_children else [], list(source_hashes or ()))
            changed = writer.upsert_records(records) if records else []
            for revision, deleted in changed:
                if deleted:
                    counts.deleted += 1
                elif revision == 1:
                    counts.inserted += 1
                else:
                    counts.updated += 1
            counts.unchanged += len(records) - len(changed)
            if check_children:
                writer.retire_vanished(records, parents, vanished or {}, counts)
            self._put_dead_letters(conn, run, dead, records, archive_uri, stamp)
            with writer.page_end():
                if source_hashes and not writer.sources_written:
                    writer.put_source_hashes(self._given(records, source_hashes))
                writer.count_page(counts, pages, archive_uri.rsplit("/", 1)[0] if archive_uri else None)
                if state is not None:
                    writer.put_state(dumps(state).decode())
        if first_load is not None:
            hashed = source_hashes or {}
            first_load.unclaimed.update(record.parent for record in records
                                        if record.parent is not None and record.parent not in hashed)
        return counts

    @staticmethod
    def _given(records: list[StoredRecord], source_hashes: Mapping[str, str]) -> dict[str, tuple[str, int]]:
        """The raw hashes to store: (raw hash, records it gave) per raw record key."""
        given: dict[str, int] = {}
        for record in records:
            if record.parent is not None:
                given[record.parent] = given.get(record.parent, 0) + 1
        return {key: (raw_hash, given.get(key, 0)) for key, raw_hash in source_hashes.items()}

    def _first_load(self, run: StreamRun, source_hashes: Mapping[str, str] | None) -> _FirstLoad | None:
        """The run's first load while it lasts (a page without raw hashes ends it: see ``_FirstLoad``)."""
        first_load = self._first_loads.get(run.id)
        if first_load is None:
            first_load = self._first_loads[run.id] = _FirstLoad(on=not self._has_source_hashes(run))
        if source_hashes is None:
            first_load.on = False
        return first_load if first_load.on else None

    @staticmethod
    def _new_kinds(conn: Connection, run: StreamRun, first_load: _FirstLoad,
                   records: list[StoredRecord]) -> set[tuple[str, str]]:
        """Of the run's entity and the page's kinds of record, those of which the store held no record for the
        house when this run first met them (one look-up per kind and run)."""
        kinds = {(run.connector, run.entity), *((r.source_system, r.entity) for r in records)}
        for system, entity in kinds - first_load.empty.keys():
            first_load.empty[(system, entity)] = conn.execute(select(canonical_records.c.source_id).where(and_(
                canonical_records.c.house == run.house, canonical_records.c.source_system == system,
                canonical_records.c.entity == entity)).limit(1)).first() is None
        return {kind for kind in kinds if first_load.empty[kind]}

    def ask_source_hashes(self, run: StreamRun, keys: Sequence[str]) -> Callable[[], dict[str, tuple[str, int]]]:
        """Ask for the stored (raw hash, records given) of the stream's raw records ``keys``; the returned
        call waits for the answer. Asks nothing while the stream has no stored hash.

        PostgreSQL: the question leaves at once (pipeline mode) on the stream run's own connection outside
        any transaction (no pool checkout, ping, BEGIN or ROLLBACK), and the caller hashes the page while
        the server answers; read the answer before asking again. Each answer sees every page committed
        before it was asked. SQLite: answered here and now (an in-process call), on the run's own connection
        too for a file database (see ``_SourceHashReader``).
        """
        if not keys or not self._has_source_hashes(run):
            return lambda: {}
        reader = self._source_readers.get(run.id)
        if reader is None:
            reader = self._source_reader(run)
            if reader is None:  # an in-memory SQLite database: its one connection is the pool's
                with self.engine.connect() as conn, _store_errors(conn):
                    stored = _sqlite_source_hashes(conn.connection.cursor(), run, list(keys))
                return lambda: stored
            self._source_readers[run.id] = reader
        return reader.ask(list(keys))

    def _source_reader(self, run: StreamRun) -> _SourceHashReader | None:
        if self.engine.dialect.name == "postgresql":
            return _SourceHashReader(self.engine, run)
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            engine = create_engine(self.engine.url, poolclass=NullPool, hide_parameters=True)
            event.listen(engine, "connect", _sqlite_pragmas)
            return _SourceHashReader(engine, run, owns_engine=True)
        return None

    def _close_source_reader(self, run_id: str | None = None) -> None:
        for key in [run_id] if run_id is not None else list(self._source_readers):
            reader = self._source_readers.pop(key, None)
            if reader is not None:
                reader.close()

    def _has_source_hashes(self, run: StreamRun) -> bool:
        """Whether the stream had stored raw hashes when the run started (a first load has none)."""
        known = self._source_hashes_known.get(run.id)
        if known is None:
            with self.engine.connect() as conn:
                known = conn.execute(select(source_records.c.raw_hash).where(and_(
                    source_records.c.house == run.house, source_records.c.connector == run.connector,
                    source_records.c.stream == run.stream)).limit(1)).first() is not None
            self._source_hashes_known[run.id] = known
        return known

    def _after_commit(self, inserted: int) -> None:
        """PostgreSQL: ANALYZE the records table early in a big load, and again as it grows tenfold.

        Until a new table has statistics, the planner scans it whole for the vanished-children query
        (``parent_key = ANY(...)``), which made an initial load quadratic; autovacuum comes too late.
        """
        if self.engine.dialect.name != "postgresql" or not inserted:
            return
        self._inserted_since_analyze += inserted
        if self._inserted_since_analyze < self._analyze_at:
            return
        with self.engine.connect() as conn:
            # The columns queries select by, not ``data``: statistics of the JSON were half the ANALYZE
            # (at 30,000 tickets 70-110 ms instead of 170-220). Autovacuum analyses every column later.
            conn.exec_driver_sql("ANALYZE canonical_records (house, source_system, entity, source_id, id, parent_key, "
                                 "deleted)")
            conn.exec_driver_sql("ANALYZE source_records")
            conn.commit()
        self._analyze_at *= 10
        self._inserted_since_analyze = 0

    def _put_dead_letters(self, conn: Connection, run: StreamRun, dead: Sequence[DeadLetter],
                          stored: Iterable[StoredRecord], archive_uri: str | None, stamp: datetime) -> None:
        """One open letter per bad record: a new one, or the open one seen again; letters of records
        stored now are resolved, older letters of a record rejected anew are superseded."""
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
        scope = and_(dead_letters.c.house == run.house, dead_letters.c.connector == run.connector,
                     dead_letters.c.stream == run.stream, dead_letters.c.status == "open")
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

    def retire_unlisted(self, run: StreamRun, listed: set[str], unlisted: dict[str, Any]) -> PageCounts:
        """After a complete read of a vendor's whole list: apply ``unlisted`` to every stored record of the
        stream's house, connector and entity whose raw record (``parent_key``) that read did not serve.

        One transaction; a record already in the ``unlisted`` state is left alone, so a second read
        without changes writes nothing. Counted as updated (or deleted, for a tombstone).
        """
        counts = PageCounts()
        stamp = now()
        key = (canonical_records.c.house, canonical_records.c.source_system, canonical_records.c.entity)
        scope = and_(key[0] == run.house, key[1] == run.connector, key[2] == run.entity,
                     canonical_records.c.deleted.is_(False))
        with self.engine.begin() as conn:
            rows: list[dict[str, Any]] = []
            retired_sources: set[str] = set()
            for source_id, parent, data in conn.execute(select(
                    canonical_records.c.source_id, canonical_records.c.parent_key, canonical_records.c.data)
                    .where(scope)):
                raw_key = parent if parent is not None else source_id
                if raw_key in listed:
                    continue
                record = orjson.loads(data)
                if all(record.get(k) == v for k, v in unlisted.items()):
                    continue
                record.update(unlisted)
                retired_sources.add(raw_key)
                raw = dumps(record)
                deleted = bool(record.get("deleted"))
                if deleted:
                    counts.deleted += 1
                else:
                    counts.updated += 1
                rows.append({"b_source_id": source_id, "content_hash": content_hash(raw), "data": raw.decode(),
                             "deleted": deleted, "last_run_id": run.run_id, "updated_at": stamp})
            if rows:
                conn.execute(update(canonical_records).where(and_(
                    key[0] == run.house, key[1] == run.connector, key[2] == run.entity,
                    canonical_records.c.source_id == bindparam("b_source_id")))
                    .values({**{k: bindparam(k) for k in rows[0] if k != "b_source_id"},
                             "revision": canonical_records.c.revision + 1}), rows)
                conn.execute(update(sync_runs).where(sync_runs.c.id == run.id).values(
                    updated=sync_runs.c.updated + counts.updated, deleted=sync_runs.c.deleted + counts.deleted,
                    heartbeat_at=stamp))
                # The stored record no longer is what its raw record maps to: when the vendor lists that raw
                # record again, unchanged, it must be mapped again, not skipped by its raw hash.
                keys = sorted(retired_sources)
                for start in range(0, len(keys), _IN_CHUNK):
                    conn.execute(delete(source_records).where(and_(
                        source_records.c.house == run.house, source_records.c.connector == run.connector,
                        source_records.c.stream == run.stream,
                        source_records.c.source_key.in_(keys[start:start + _IN_CHUNK]))))
        run.counts.add(counts)
        return counts

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

    def count_records(self, house: str | None = None, entity: str | None = None, *,
                      source_system: str | None = None) -> int:
        query = select(func.count()).select_from(canonical_records)
        if house:
            query = query.where(canonical_records.c.house == house)
        if source_system:
            query = query.where(canonical_records.c.source_system == source_system)
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


# -- the page's records on the driver's connection ---------------------------------------------------
@contextmanager
def _store_errors(conn: Connection) -> Iterator[None]:
    """A driver error raised as SQLAlchemy raises it with ``hide_parameters``: no record data in its text
    (the statement's parameters and PostgreSQL's DETAIL stay out; ``describe_error`` reads the first line)."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise DBAPIError.instance("(the page's records, on the driver connection)", None, exc, dbapi_error,
                                  hide_parameters=True, dialect=conn.dialect) from None


_KEY = ("house", "source_system", "entity", "source_id")
# What a changed record rewrites; ``revision`` counts the changes, so the upsert's RETURNING tells an
# inserted row (revision 1) from an updated one without reading the row first.
_CHANGED = ("content_hash", "data", "deleted", "modified", "parent_key", "last_run_id", "updated_at")
_UPSERT_SET = ", ".join(f"{c} = excluded.{c}" for c in _CHANGED) + ", revision = canonical_records.revision + 1"
_RECORD_COLUMNS = (*_KEY, "id", "content_hash", "data", "deleted", "modified", "parent_key", "first_run_id",
                   "last_run_id", "updated_at")
_UNIQUE_VIOLATION = "23505"  # SQLSTATE
_CHILDREN = ("SELECT source_id FROM canonical_records WHERE house = %s AND source_system = %s AND entity = %s "
             "AND parent_key = ANY(%s) AND NOT deleted")
_SOURCE_HASHES = ("SELECT source_key, raw_hash, records FROM source_records WHERE house = %s AND connector = %s "
                  "AND stream = %s AND source_key = ANY(%s)")
_SQLITE_SOURCE_HASHES = ("SELECT source_key, raw_hash, records FROM source_records WHERE house = ? AND connector = ? "
                         "AND stream = ? AND source_key IN (SELECT value FROM json_each(?))")


def _sqlite_source_hashes(cursor: Any, run: StreamRun, keys: list[str]) -> dict[str, tuple[str, int]]:
    """Stored (raw hash, records given) of the stream's raw records ``keys`` on SQLite: one statement whatever
    the page's size, the keys as one JSON array parameter."""
    cursor.execute(_SQLITE_SOURCE_HASHES, (run.house, run.connector, run.stream, orjson.dumps(keys).decode()))
    return {key: (raw_hash, given) for key, raw_hash, given in cursor.fetchall()}


_SQLITE_ROWS_PER_STATEMENT = 256  # × 13 columns: far below SQLITE_MAX_VARIABLE_NUMBER (32,766)


def _chunks(items: Sequence[Any], largest: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``largest``, the rest in powers of two (256, 128, …, 1).

    The statement text depends on a slice's length; with a handful of lengths the driver's statement
    cache (sqlite3 keeps 128) reuses them instead of parsing, and keeping, one variant per page size.
    """
    start, size = 0, largest
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        yield items[start:start + size]
        start += size


class _PageWriter:
    """The page's record writes as one statement each, on the raw driver cursor of the page transaction.

    SQLAlchemy Core spent more per row on parameter handling than the database on the row; the driver
    cursor belongs to the same connection, so these statements are part of the page's transaction.
    """

    def __init__(self, conn: Connection, run: StreamRun, stamp: datetime) -> None:
        self.conn, self.run = conn, run
        self.cursor: Any = conn.connection.cursor()
        # A first load (``Store._first_load``): the kinds of record with nothing stored to look up, and whether
        # the page's raw hashes are all new.
        self.new_kinds: set[tuple[str, str]] = set()
        self.sources_new = False
        self.sources_written = False  # by ``claim_new_sources``
        stamp_type = canonical_records.c.updated_at.type
        stamp_bind = stamp_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        self.stamp: Any = stamp_bind(stamp) if stamp_bind else stamp  # SQLite: SQLAlchemy's own text form

    @staticmethod
    def of(conn: Connection, run: StreamRun, stamp: datetime, *, copy_new: bool = True) -> _PageWriter:
        if conn.dialect.name == "postgresql":
            return _PostgresPageWriter(conn, run, stamp, copy_new=copy_new)
        return _PageWriter(conn, run, stamp)

    def row(self, record: StoredRecord) -> tuple[Any, ...]:
        run = self.run
        return (run.house, record.source_system, record.entity, record.source_id, record.id, record.hash,
                record.data.decode(), record.deleted, record.modified, record.parent, run.run_id, run.run_id,
                self.stamp)

    def upsert_records(self, records: list[StoredRecord]) -> list[tuple[int, bool]]:
        """Insert new records, rewrite changed ones, leave unchanged ones: (revision, deleted) per write."""
        width = len(_RECORD_COLUMNS)
        changed: list[tuple[int, bool]] = []
        for chunk in _chunks(records, _SQLITE_ROWS_PER_STATEMENT):
            values = ",".join([f"({','.join('?' * width)})"] * len(chunk))
            self.cursor.execute(
                f"INSERT INTO canonical_records ({', '.join(_RECORD_COLUMNS)}) VALUES {values} "
                f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {_UPSERT_SET} "
                "WHERE canonical_records.content_hash <> excluded.content_hash RETURNING revision, deleted",
                [value for record in chunk for value in self.row(record)])
            changed.extend((revision, bool(deleted)) for revision, deleted in self.cursor.fetchall())
        return changed

    def children(self, parents: list[str]) -> list[str]:
        """Source ids of the stored, not deleted records of the stream's entity under ``parents``."""
        found: list[str] = []
        for chunk in _chunks(parents, _SQLITE_ROWS_PER_STATEMENT):
            self.cursor.execute(
                "SELECT source_id FROM canonical_records WHERE house = ? AND source_system = ? AND entity = ? "
                f"AND parent_key IN ({','.join('?' * len(chunk))}) AND deleted = 0",
                (self.run.house, self.run.connector, self.run.entity, *chunk))
            found.extend(row[0] for row in self.cursor.fetchall())
        return found

    def records_data(self, source_ids: list[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for chunk in _chunks(source_ids, _SQLITE_ROWS_PER_STATEMENT):
            self.cursor.execute(
                "SELECT source_id, data FROM canonical_records WHERE house = ? AND source_system = ? "
                f"AND entity = ? AND source_id IN ({','.join('?' * len(chunk))})",
                (self.run.house, self.run.connector, self.run.entity, *chunk))
            found.extend(self.cursor.fetchall())
        return found

    def retire_vanished(self, present: Iterable[StoredRecord], parents: set[str], vanished: dict[str, Any],
                        counts: PageCounts) -> None:
        """Apply ``vanished`` to the stored children of fully re-read parents that the vendor no longer lists."""
        here = {r.source_id for r in present if r.entity == self.run.entity}
        # Source ids first: on an ordinary re-read every stored child is still present and nothing is loaded.
        missing = [source_id for source_id in self.children(sorted(parents)) if source_id not in here]
        rows = []
        for source_id, data in self.records_data(missing) if missing else []:
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
            rows.append((content_hash(raw), raw.decode(), deleted, self.run.run_id, self.stamp, self.run.house,
                         self.run.connector, self.run.entity, source_id))
        if rows:
            mark = self.mark
            self.cursor.executemany(
                f"UPDATE canonical_records SET content_hash = {mark}, data = {mark}, deleted = {mark}, "
                f"last_run_id = {mark}, updated_at = {mark}, revision = revision + 1 WHERE house = {mark} "
                f"AND source_system = {mark} AND entity = {mark} AND source_id = {mark}", rows)

    mark = "?"

    def begin_page(self, records: list[StoredRecord], parents: list[str], source_keys: list[str]) -> None:
        """Before the page's writes, given what they will look up (its records, the re-read parents whose
        children may have vanished, its raw record keys). SQLite: nothing — its look-ups are calls into
        the process, made as they come, and its WAL commit is already asynchronous (``_sqlite_pragmas``)."""

    @contextmanager
    def page_end(self) -> Iterator[None]:
        """Around the page's last writes (raw hashes, counts, state). SQLite: nothing."""
        yield

    def count_page(self, counts: PageCounts, pages: int, archive_dir: str | None) -> None:
        """Add the page's (or ``pages`` pages') counts to its stream run (and beat the run's heartbeat)."""
        m = self.mark
        self.cursor.execute(
            f"UPDATE sync_runs SET pages = pages + {m}, read = read + {m}, inserted = inserted + {m}, "
            f"updated = updated + {m}, unchanged = unchanged + {m}, rejected = rejected + {m}, "
            f"deleted = deleted + {m}, heartbeat_at = {m}, archive_uri = COALESCE({m}, archive_uri) WHERE id = {m}",
            (pages, counts.read, counts.inserted, counts.updated, counts.unchanged, counts.rejected, counts.deleted,
             self.stamp, archive_dir, self.run.id))

    def put_state(self, state: str) -> None:
        m, run = self.mark, self.run
        self.cursor.execute(
            f"INSERT INTO sync_state (house, connector, stream, state, run_id, updated_at) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (house, connector, stream) DO UPDATE SET "
            "state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at",
            (run.house, run.connector, run.stream, state, run.run_id, self.stamp))

    def claim_new_sources(self, hashes: dict[str, tuple[str, int]]) -> bool:
        """Whether the page's raw record keys are all new (none stored before); else the page takes the full
        path. SQLite: inserted now, without ON CONFLICT; a key stored already fails its statement, which is
        undone whole while the transaction goes on, and ``put_source_hashes`` then upserts them all."""
        run = self.run
        rows = [(run.house, run.connector, run.stream, key, raw_hash, given)
                for key, (raw_hash, given) in hashes.items()]
        try:
            for chunk in _chunks(rows, _SQLITE_ROWS_PER_STATEMENT):
                self.cursor.execute(
                    "INSERT INTO source_records (house, connector, stream, source_key, raw_hash, records) VALUES "
                    + ",".join(["(?,?,?,?,?,?)"] * len(chunk)), [value for row in chunk for value in row])
        except sqlite3.IntegrityError:
            return False
        self.sources_written = True
        return True

    def put_source_hashes(self, hashes: dict[str, tuple[str, int]]) -> None:
        run = self.run
        rows = [(run.house, run.connector, run.stream, key, raw_hash, given)
                for key, (raw_hash, given) in hashes.items()]
        for chunk in _chunks(rows, _SQLITE_ROWS_PER_STATEMENT):
            self.cursor.execute(
                "INSERT INTO source_records (house, connector, stream, source_key, raw_hash, records) VALUES "
                + ",".join(["(?,?,?,?,?,?)"] * len(chunk))
                + " ON CONFLICT (house, connector, stream, source_key) DO UPDATE SET raw_hash = excluded.raw_hash,"
                  " records = excluded.records WHERE source_records.raw_hash <> excluded.raw_hash"
                  " OR source_records.records <> excluded.records",
                [value for row in chunk for value in row])


class _SourceHashReader:
    """A stream run's raw-hash look-ups on one connection of their own in autocommit: outside any
    transaction (nothing held open between pages; each question sees every page committed before it),
    and no pool checkout, ping, BEGIN or ROLLBACK per page.

    PostgreSQL: the question is sent in pipeline mode and not waited for; its answer is read when the
    caller asks for it, so the server looks the keys up while the caller hashes the page (one round trip
    the caller does not wait through; a helper thread that did the same cost more, in waits for the GIL,
    than the look-up itself). SQLite: answered at once (an in-process call), on a connection of a pool-less
    engine of its own (a file database: another connection reads the committed pages from the WAL), all
    keys in one statement. Used from one thread (the reading one).
    """

    def __init__(self, engine: Engine, run: StreamRun, *, owns_engine: bool = False) -> None:
        self._engine, self._run, self._owns_engine = engine, run, owns_engine
        self._conn: Connection | None = None
        self._cursor: Any = None
        self._unread: Callable[[], dict[str, tuple[str, int]]] | None = None  # asked, its answer not yet read

    def ask(self, keys: list[str]) -> Callable[[], dict[str, tuple[str, int]]]:
        if self._unread is not None:  # its asker failed before reading the answer: read it off the connection
            self._unread()
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._cursor = self._conn.connection.cursor()
        run, cursor = self._run, self._cursor
        if self._conn.dialect.name == "sqlite":
            with _store_errors(self._conn):
                stored = _sqlite_source_hashes(cursor, run, keys)
            return lambda: stored
        pipeline = ExitStack()
        with _store_errors(self._conn):
            try:
                pipeline.enter_context(self._conn.connection.driver_connection.pipeline())  # type: ignore[union-attr]
                cursor.execute(_SOURCE_HASHES, (run.house, run.connector, run.stream, keys))
            except BaseException:
                pipeline.close()
                raise

        def answer() -> dict[str, tuple[str, int]]:
            self._unread = None
            with _store_errors(self._conn), pipeline:  # type: ignore[arg-type]
                return {key: (raw_hash, given) for key, raw_hash, given in cursor.fetchall()}

        self._unread = answer
        return answer

    def close(self) -> None:
        try:
            if self._unread is not None:
                self._unread()
        finally:
            if self._conn is not None:
                self._conn.close()  # back to the pool, its isolation level reset
                self._conn = self._cursor = None
            if self._owns_engine:
                self._engine.dispose()


class _NewKeyTaken(Exception):
    """A row the page writer found absent was stored by another transaction before its COPY (a race the
    sync lock rules out): the page's transaction is rolled back and the page written again by upserts."""


# COPY FORMAT BINARY: the rows go over as the server stores them, no text to escape and parse (the JSON
# ``data`` is most of a row); varchar columns take text's binary form.
_RECORD_COPY_TYPES = ("text", "text", "text", "text", "text", "text", "text", "bool", "text", "text", "text", "text",
                      "timestamptz", "int4")


class _PostgresPageWriter(_PageWriter):
    """PostgreSQL (psycopg 3). The page's rows are looked up by key first (one index probe each, nothing
    locked): a new record is COPied (binary) straight into its table, a changed one goes through a
    temporary table and ``INSERT … SELECT … ON CONFLICT``, an unchanged one is not sent at all; raw record
    hashes likewise. An upsert locks (and writes WAL for) every conflicting row even when its ``WHERE``
    leaves the row alone, and a temporary table is truncated at every commit that touched it: an
    unchanged page cost as much as a new one. A page is five round trips: its look-ups (one pipeline),
    the COPY, its last writes (one pipeline) and the commit. Set-valued parameters are arrays
    (``= ANY(%s)``), one plan whatever the page's size."""

    mark = "%s"

    def __init__(self, conn: Connection, run: StreamRun, stamp: datetime, *, copy_new: bool = True) -> None:
        super().__init__(conn, run, stamp)
        # False once a COPY met a key stored meanwhile: every row then goes through the upsert.
        self.copy_new = copy_new
        # What ``begin_page`` read: stored content hashes by (source system, entity, source id), stored
        # (raw hash, records given) by raw record key, stored children of the re-read parents.
        self._stored: dict[tuple[str, str, str], str] = {}
        self._stored_sources: dict[str, tuple[str, int]] = {}
        self._children: list[str] = []

    def begin_page(self, records: list[StoredRecord], parents: list[str], source_keys: list[str]) -> None:
        """Every look-up of the page in one round trip (a pipeline): the stored hashes of its records and
        of its raw records, and the stored children of its re-read parents. The children are read before
        the page's records are written: the ones the page writes are in the page, so the vanished ones
        (stored children the page does not have) are the same either way."""
        connection = self.cursor.connection
        with connection.pipeline():
            # The page commit does not wait for its WAL flush (an fsync per page was most of an unchanged
            # page's cost). The same bargain as SQLite's synchronous=NORMAL: a killed sync process loses
            # nothing (the server has the commit); a server crash or power loss can lose the last commits
            # (at most ~3 × wal_writer_delay, 0.6 s by default), each whole — records, dead letters,
            # counts and the state that follows them — so the next sync resumes from the state before.
            connection.execute("SET LOCAL synchronous_commit TO OFF")
            keys: dict[tuple[str, str], list[str]] = {}
            new_kinds = self.new_kinds  # nothing stored to find: their records are COPied unlooked
            for record in records:
                kind = (record.source_system, record.entity)
                if kind not in new_kinds:
                    keys.setdefault(kind, []).append(record.source_id)
            hashes = [(system, entity, connection.execute(
                "SELECT source_id, content_hash FROM canonical_records WHERE house = %s AND source_system = %s "
                "AND entity = %s AND source_id = ANY(%s)", (self.run.house, system, entity, source_ids)))
                for (system, entity), source_ids in keys.items()]
            run = self.run
            sources = connection.execute(_SOURCE_HASHES, (run.house, run.connector, run.stream, source_keys)) \
                if source_keys and not self.sources_new else None
            children = connection.execute(_CHILDREN, (run.house, run.connector, run.entity, parents)) \
                if parents else None
        self._stored = {(system, entity, source_id): hash_
                        for system, entity, cursor in hashes for source_id, hash_ in cursor.fetchall()}
        self._stored_sources = {key: (raw_hash, given) for key, raw_hash, given in sources.fetchall()} \
            if sources is not None else {}
        self._children = [row[0] for row in children.fetchall()] if children is not None else []

    @contextmanager
    def page_end(self) -> Iterator[None]:
        """The page's last writes in one round trip (a pipeline); its errors are raised as it ends."""
        try:
            with self.cursor.connection.pipeline():
                yield
        except self.conn.dialect.loaded_dbapi.IntegrityError as exc:
            if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:  # a raw record key inserted meanwhile
                raise _NewKeyTaken from None
            raise

    def upsert_records(self, records: list[StoredRecord]) -> list[tuple[int, bool]]:
        stored = self._stored
        new: list[StoredRecord] = []
        changed: list[StoredRecord] = []
        for record in records:
            known = stored.get((record.source_system, record.entity, record.source_id))
            if known is None:
                new.append(record)
            elif known != record.hash:
                changed.append(record)
        written: list[tuple[int, bool]] = []
        if new and self.copy_new:
            self._copy_new_records(new)
            written += [(1, record.deleted) for record in new]
        elif new:
            changed += new
        if changed:
            written += self._upsert_through_temp_table(changed)
        return written

    def _copy_new_records(self, records: list[StoredRecord]) -> None:
        """COPY records whose keys ``begin_page`` found absent; a key stored meanwhile raises ``_NewKeyTaken``."""
        try:
            with self.cursor.copy(f"COPY canonical_records ({', '.join(_RECORD_COLUMNS)}, revision) FROM STDIN "
                                  "(FORMAT BINARY)") as copy:
                copy.set_types(_RECORD_COPY_TYPES)
                for record in records:
                    copy.write_row((*self.row(record), 1))
        except self.conn.dialect.loaded_dbapi.IntegrityError as exc:
            if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise _NewKeyTaken from None
            raise

    def _upsert_through_temp_table(self, records: list[StoredRecord]) -> list[tuple[int, bool]]:
        cursor = self.cursor
        # ON COMMIT DELETE ROWS: the rows never outlive the page; the table lives as long as the session.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS podium_page_records (house text, source_system text, entity text, "
            "source_id text, id text, content_hash text, data text, deleted boolean, modified text, "
            "parent_key text, first_run_id text, last_run_id text, updated_at timestamptz) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY podium_page_records ({', '.join(_RECORD_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_RECORD_COPY_TYPES[:-1])
            for record in records:
                copy.write_row(self.row(record))
        columns = ", ".join(_RECORD_COLUMNS)
        cursor.execute(
            f"INSERT INTO canonical_records ({columns}, revision) SELECT {columns}, 1 FROM podium_page_records "
            f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {_UPSERT_SET} "
            "WHERE canonical_records.content_hash IS DISTINCT FROM excluded.content_hash "
            "RETURNING revision, deleted")
        return [(revision, deleted) for revision, deleted in cursor.fetchall()]

    def claim_new_sources(self, hashes: dict[str, tuple[str, int]]) -> bool:
        """Yes, or the page fails: ``put_source_hashes`` inserts them at the page's end without ON CONFLICT
        (``sources_new``: nothing looked up), and a key stored already raises ``_NewKeyTaken``: the page is
        written again by the full path."""
        return True

    def children(self, parents: list[str]) -> list[str]:
        return self._children  # of the same parents, read by ``begin_page``

    def records_data(self, source_ids: list[str]) -> list[tuple[str, str]]:
        self.cursor.execute(
            "SELECT source_id, data FROM canonical_records WHERE house = %s AND source_system = %s "
            "AND entity = %s AND source_id = ANY(%s)",
            (self.run.house, self.run.connector, self.run.entity, source_ids))
        return list(self.cursor.fetchall())

    def put_source_hashes(self, hashes: dict[str, tuple[str, int]]) -> None:
        # As the records: new keys inserted (no ON CONFLICT), changed ones upserted, unchanged ones not sent.
        stored = self._stored_sources
        new = [key for key in hashes if key not in stored]
        changed = [key for key in hashes if key in stored and stored[key] != hashes[key]]
        if not self.copy_new:
            new, changed = [], new + changed
        insert = ("INSERT INTO source_records (house, connector, stream, source_key, raw_hash, records) "
                  "SELECT %s, %s, %s, key, raw_hash, given FROM unnest(%s::text[], %s::text[], %s::int[]) "
                  "AS page (key, raw_hash, given)")
        run = self.run
        if new:
            self.cursor.execute(insert, (run.house, run.connector, run.stream, new, [hashes[k][0] for k in new],
                                         [hashes[k][1] for k in new]))
        if changed:
            self.cursor.execute(
                insert + " ON CONFLICT (house, connector, stream, source_key) DO UPDATE "
                "SET raw_hash = excluded.raw_hash, records = excluded.records "
                "WHERE source_records.raw_hash <> excluded.raw_hash OR source_records.records <> excluded.records",
                (run.house, run.connector, run.stream, changed, [hashes[k][0] for k in changed],
                 [hashes[k][1] for k in changed]))
