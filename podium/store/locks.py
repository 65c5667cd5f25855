"""One sync per house × connector, and telling a live sync from a dead one.

The lock
    PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a stable 64-bit hash of
    ``podium.sync|house|connector``, held on a dedicated connection for the whole sync. The server
    drops it the moment that session ends, so a killed sync never leaves it behind. The candidate
    writes its name into ``sync_locks`` and tries the lock in one transaction (committed only if it
    got the lock), so a sync that loses always finds the holder's name there.

    SQLite: a row in ``sync_locks``, taken with an atomic INSERT (the primary key lets exactly one
    of several racing syncs win) or, when the row's owner is dead, with a conditional UPDATE that
    only succeeds if the row still names that dead owner. We chose a row over an OS file lock
    beside the database because the row names who holds the lock and since when (the "already
    running" answer), uses the same liveness rule as the runs in ``podium status``, and works
    wherever SQLite's own locking works (any process that can open the file), with no second file.

Liveness (of a lock holder and of a run left 'running')
    On the same host the owner is dead when its pid is gone, a zombie, or reused by a process
    started after the run/lock (``psutil``): this is known at once, with no timeout. An owner on
    another host (PostgreSQL shared by several workers) is dead when its heartbeat is older than
    ``STALE_AFTER`` (120 s): the sync beats every ``HEARTBEAT_EVERY`` (10 s) from a background
    thread — also while a long page is being fetched — and with every page it commits.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from podium.store.tables import sync_locks, sync_runs

log = logging.getLogger("podium.store")

HEARTBEAT_EVERY = timedelta(seconds=10)
STALE_AFTER = timedelta(seconds=120)
# psutil derives a process's start time from the boot time, which /proc gives in whole seconds.
_START_TIME_SLACK = 2.0

HOST = socket.gethostname()


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; the store writes UTC only.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _process_alive(pid: int, since: datetime | None) -> bool:
    import psutil  # here: only a lock or run check needs it, not every process importing the store (workers)

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # A pid reused by a process started after the owner began is not the owner.
        return since is None or process.create_time() <= since.timestamp() + _START_TIME_SLACK
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists
        return True


def owner_is_gone(host: str | None, pid: int | None, since: datetime | None, heartbeat_at: datetime | None,
                  now: datetime) -> bool:
    """Whether the process that started a run (or took a lock) at ``since`` is certainly no longer alive."""
    since, heartbeat_at = as_utc(since), as_utc(heartbeat_at)
    if host == HOST and pid is not None:
        return not _process_alive(pid, since)
    last = heartbeat_at or since
    return last is None or now - last > STALE_AFTER


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock of a house × connector, as far as the store knows."""

    run_id: str | None
    owner: str | None  # host:pid
    since: datetime | None

    def describe(self) -> str:
        who = f"run {self.run_id} of {self.owner}" if self.owner else "another sync (not yet recorded)"
        return who + (f" since {self.since.isoformat(timespec='seconds')}" if self.since else "")

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "owner": self.owner,
                "since": self.since.isoformat() if self.since else None}


def lock_holder(engine: Engine, house: str, connector: str) -> LockHolder | None:
    """The recorded holder of a house × connector lock, if any."""
    with engine.connect() as conn:
        row = conn.execute(select(sync_locks).where(_key(house, connector))).first()
    if row is None:
        return None
    return LockHolder(row.run_id, f"{row.owner_host}:{row.owner_pid}", as_utc(row.acquired_at))


def _key(house: str, connector: str) -> Any:
    return and_(sync_locks.c.house == house, sync_locks.c.connector == connector)


class SyncLease:
    """A held house × connector lock. ``with lease:`` beats the heartbeat and releases at the end."""

    def __init__(self, engine: Engine, house: str, connector: str, run_id: str,
                 connection: Connection | None = None, pg_key: int | None = None) -> None:
        self.engine, self.house, self.connector, self.run_id = engine, house, connector, run_id
        self._connection, self._pg_key = connection, pg_key
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Show life: the lock row and this sync's running runs get a fresh heartbeat."""
        stamp = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(update(sync_locks).where(and_(_key(self.house, self.connector),
                                                       sync_locks.c.run_id == self.run_id))
                         .values(heartbeat_at=stamp))
            conn.execute(update(sync_runs).where(and_(sync_runs.c.run_id == self.run_id,
                                                      sync_runs.c.status == "running"))
                         .values(heartbeat_at=stamp))

    def _beat_forever(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY.total_seconds()):
            try:
                self.beat()
            except Exception as exc:  # a missed beat is not worth failing the sync for
                log.warning("%s × %s: heartbeat failed: %s", self.house, self.connector, type(exc).__name__)

    def __enter__(self) -> SyncLease:
        self._thread = threading.Thread(target=self._beat_forever, daemon=True,
                                        name=f"podium-heartbeat-{self.house}-{self.connector}")
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.release()
        except Exception as error:  # the sync's own outcome matters more; a dead owner's row is taken over
            log.error("%s × %s: could not release the sync lock: %s", self.house, self.connector,
                      type(error).__name__)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            if self._connection is not None:  # unlock first: a rival then finds either us or itself
                try:
                    self._connection.execute(select(func.pg_advisory_unlock(self._pg_key)))
                    self._connection.commit()
                except Exception:
                    self._connection.invalidate()  # closing the session releases the lock too
                finally:
                    self._connection.close()
                    self._connection = None
        finally:
            with self.engine.begin() as conn:
                conn.execute(delete(sync_locks).where(and_(_key(self.house, self.connector),
                                                           sync_locks.c.run_id == self.run_id)))


def try_lock(engine: Engine, house: str, connector: str, run_id: str) -> SyncLease | None:
    """Take the lock of a house × connector for one sync, or None when another live sync holds it."""
    stamp = datetime.now(UTC)
    row = {"house": house, "connector": connector, "run_id": run_id, "owner_host": HOST,
           "owner_pid": os.getpid(), "acquired_at": stamp, "heartbeat_at": stamp}
    if engine.dialect.name == "postgresql":
        return _try_advisory_lock(engine, house, connector, run_id, row)
    for _ in range(3):  # the holder may release between our insert and our read: look again
        try:
            with engine.begin() as conn:
                conn.execute(insert(sync_locks).values(**row))
            return SyncLease(engine, house, connector, run_id)
        except IntegrityError:
            pass
        with engine.connect() as conn:
            held = conn.execute(select(sync_locks).where(_key(house, connector))).first()
        if held is None:
            continue
        if not owner_is_gone(held.owner_host, held.owner_pid, held.acquired_at, held.heartbeat_at,
                             datetime.now(UTC)):
            return None
        with engine.begin() as conn:  # take over from the dead owner, unless someone else just did
            taken = conn.execute(update(sync_locks).where(and_(_key(house, connector),
                                                               sync_locks.c.run_id == held.run_id))
                                 .values(**row)).rowcount
        if taken == 1:
            log.warning("%s × %s: took over the lock of run %s (%s:%s), whose process is gone",
                        house, connector, held.run_id, held.owner_host, held.owner_pid)
            return SyncLease(engine, house, connector, run_id)
        return None
    return None


def _try_advisory_lock(engine: Engine, house: str, connector: str, run_id: str,
                       row: dict[str, Any]) -> SyncLease | None:
    key = advisory_key(f"podium.sync|{house}|{connector}")
    connection = engine.connect()
    try:
        # Name ourselves first, then try the lock, in one transaction: a rival's upsert waits on our row
        # until we commit (holder) or roll back (not holder), so a loser always reads the real holder.
        transaction = connection.begin()
        upsert = pg_insert(sync_locks).values(**row)
        connection.execute(upsert.on_conflict_do_update(
            index_elements=[sync_locks.c.house, sync_locks.c.connector],
            set_={name: upsert.excluded[name] for name in row if name not in ("house", "connector")}))
        # Session-level: held after this transaction ends, until unlocked or the session dies.
        locked = connection.execute(select(func.pg_try_advisory_lock(key))).scalar_one()
        if not locked:
            transaction.rollback()
            connection.close()
            return None
        transaction.commit()
    except BaseException:
        connection.invalidate()
        connection.close()
        raise
    return SyncLease(engine, house, connector, run_id, connection, key)
