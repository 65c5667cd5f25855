"""Pages through map + validate, in this process or in worker processes, always back in their order.

The engine reads pages and commits them one by one, in order, each with the state that follows it.
Mapping and validation (the CPU-heavy middle) run in ``workers`` processes in all: the syncing process
itself and ``workers - 1`` spawned ones. Pages are handed out as they are read (the syncing process
maps one itself while the spawned workers start or all have ``PAGES_PER_WORKER`` pages) and
collected strictly in the order they were read, so the single writer commits exactly what the
in-process path commits, page by page, and a killed sync resumes from the last committed page as
before.

- Bounded: at most ``window`` pages (two per process) are read ahead of the page being committed.
- A worker that dies (killed, out of memory) breaks the pool: a fresh pool gets the pages still in
  flight again, in order; a page is never skipped or committed twice. After ``MAX_RESTARTS`` breaks
  the stream fails (nothing past the last committed page is stored, the next sync retries).
- A mapping exception stays what it is in-process: one dead letter for its record.
- Workers are started with ``spawn`` (the parent runs a heartbeat thread and holds database
  connections; ``fork`` would copy both) and lazily, at the second page with records: a stream of
  one page starts none (spawn + imports cost about a second of CPU per worker, more than mapping
  one page). ``workers: 1`` (the default) maps in this process, with no pool at all.

``CommitBehind`` is the writer: it commits the mapped pages in a thread of its own, one after the
other in order, while the reading thread reads, archives and maps the next page (the database
works meanwhile: sqlite3 and psycopg release the GIL while they wait on it).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields
from itertools import starmap
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from podium.errors import ConfigError, PodiumError
from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext
from podium.store.records import DeadLetter, StoredRecord

if TYPE_CHECKING:
    from podium.processing import PageProcessor, PageResult
    from podium.sdk.connector import Page

log = logging.getLogger("podium.pipeline")

WORKERS_ENV = "PODIUM_SYNC_WORKERS"
MAX_WORKERS = 64
PAGES_PER_WORKER = 2  # in flight per worker: one being mapped, one queued (keeps each busy, memory bounded)
MAX_RESTARTS = 2  # pool breaks tolerated per sync before the stream fails
PARENT_CHECK_SECONDS = 0.5


class WorkerCrashError(PodiumError):
    """Worker processes kept dying while mapping pages (the pages after the last committed one wait)."""

    error_class = "internal"


def workers_setting(value: int | str | None = None) -> int:
    """The number of mapping processes: ``value`` (CLI, house config), else ``PODIUM_SYNC_WORKERS``, else 1.

    ``auto`` is the machine's CPU count.
    """
    raw: int | str | None = value if value is not None else os.environ.get(WORKERS_ENV) or None
    if raw is None:
        return 1
    if isinstance(raw, str) and raw.strip().lower() == "auto":
        return max(1, min(os.cpu_count() or 1, MAX_WORKERS))
    try:
        count = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"workers: {raw!r} is not a number of processes (1–{MAX_WORKERS} or auto)") from None
    if not 1 <= count <= MAX_WORKERS:
        raise ConfigError(f"workers: {count} is out of range (1–{MAX_WORKERS} or auto)")
    return count


@dataclass(frozen=True)
class StreamMapping:
    """What a worker process needs to map and validate one stream's pages: plain, picklable values."""

    mappings_dir: str
    system: str
    stream: str
    entity: str
    primary_key: str
    house: str
    timezone: str

    def processor(self) -> PageProcessor:
        from podium.mapping import MappingContext, load_mapping
        from podium.processing import PageProcessor

        mapping = load_mapping(Path(self.mappings_dir), self.system, self.stream)
        ctx = MappingContext(house=self.house, system=self.system, timezone=ZoneInfo(self.timezone))
        return PageProcessor(mapping, ctx, self.entity, self.primary_key)


@dataclass
class MappedPage:
    """A page ready for the writer: its position, the page itself, its archive URI and its result."""

    seq: int
    page: Page
    archive_uri: str | None
    result: PageResult


@dataclass
class _InFlight:
    seq: int
    page: Page
    archive_uri: str | None
    future: Future[Packed] | None = None
    result: PageResult | None = None  # mapped here: a page with nothing to map never starts the pool


# -- the worker side ---------------------------------------------------------------------------------
# A page's result crosses back as plain tuples (pickling them takes about half the time of dataclasses),
# each read off its record by one C call: a third of the worker's cost of a getattr loop per field.
_RECORD_FIELDS = attrgetter(*(f.name for f in fields(StoredRecord)))
_LETTER_FIELDS = attrgetter(*(f.name for f in fields(DeadLetter)))
_processors: dict[StreamMapping, PageProcessor] = {}


def _start_worker(secrets: list[str], parent: int, ready: Any = None) -> None:
    """A fresh worker knows the secrets the parent resolved (a dead letter's reason is redacted alike)
    and ends when the parent does; once its imports are done it counts itself in ``ready`` (the parent
    maps pages itself until a worker is ready)."""
    import podium.processing  # noqa: F401  (what mapping a page needs, imported before saying ready)
    from podium.secrets import register_secret

    for value in secrets:
        register_secret(value)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="podium-parent-watch").start()
    if ready is not None:
        with ready.get_lock():
            ready.value += 1


def _exit_with(parent: int) -> None:
    """A killed sync (SIGKILL: no clean-up runs) must not leave its workers waiting forever: each worker
    holds its own end of the work queue, so it would never see the queue close."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _processor(stream: StreamMapping) -> PageProcessor:
    processor = _processors.get(stream)
    if processor is None:
        processor = _processors[stream] = stream.processor()
    return processor


def _prepare(stream: StreamMapping) -> None:
    """Starts a worker process (the pool spawns one per call it is given) and loads the stream's mapping."""
    _processor(stream)


Packed = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int, list[str]]


def _map_page(stream: StreamMapping, records: list[dict[str, Any]], errors: list[tuple[str, Any]],
              context: dict[str, Any] | None) -> Packed:
    # The parts, not a Page: podium.sdk would import the connectors' HTTP stack into the worker.
    result = _processor(stream).process_records(
        records, errors, PageContext.from_json(context) if context is not None else EMPTY_PAGE_CONTEXT)
    return (list(map(_RECORD_FIELDS, result.records)), list(map(_LETTER_FIELDS, result.dead)), result.read,
            result.complete_parents)


def _done(item: _InFlight) -> bool:
    return item.result is not None or (item.future is not None and item.future.done())


def _unpack(packed: Packed) -> PageResult:
    from podium.processing import PageResult

    records, dead, read, complete = packed
    return PageResult(list(starmap(StoredRecord, records)), list(starmap(DeadLetter, dead)), read, complete)


# -- the parent side ---------------------------------------------------------------------------------
ArchiveFn = Callable[[int, "Page"], "str | None"]


class PagePipeline:
    """Maps a stream's pages and hands them back in order; one per sync (its pool serves every stream).

    ``workers`` is the number of processes mapping in all: this one and ``workers - 1`` spawned ones.
    This process maps a page itself while the workers are starting or all busy, so on N cores N
    processes map and none waits for another's start.
    """

    # Whether this process maps pages with records itself (see the class docstring). Tests switch it off
    # to have the spawned workers map every such page (a crash in a worker, results crossing back, a
    # worker killed with its sync).
    maps_here: ClassVar[bool] = True

    def __init__(self, workers: int = 1, *, window: int | None = None) -> None:
        self.workers = workers
        self.spawned = max(1, workers - 1)  # this process is the N-th mapping one
        self.window = window or max(2, PAGES_PER_WORKER * workers)
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Any = None  # a shared counter: the spawned workers that have finished their start
        self.restarts = 0
        self.mapped_here = self.handed_out = 0  # pages with records mapped in this process / by the workers

    def __enter__(self) -> PagePipeline:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self.handed_out:
            log.debug("pages mapped in the syncing process: %d, by %d spawned worker(s): %d",
                      self.mapped_here, self.spawned, self.handed_out)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def workers_ready(self) -> int:
        """How many spawned workers have started (imports done) and can take a page now or soon."""
        return 0 if self._ready is None else int(self._ready.value)

    def run(self, pages: Iterable[Page], stream: StreamMapping, processor: PageProcessor,
            archive: ArchiveFn) -> Generator[MappedPage, None, None]:
        """The pages mapped, in the order ``pages`` yields them; ``archive(seq, page)`` runs as each is read."""
        if self.workers <= 1:
            for seq, page in enumerate(pages):
                uri = archive(seq, page)
                yield MappedPage(seq, page, uri, processor.process(page))
            return
        pending: deque[_InFlight] = deque()
        read = iter(pages)
        with_records = 0  # pages read with something to map: the pool starts at the second one
        try:
            for seq in itertools.count():
                try:
                    served = next(read, None)
                    uri = archive(seq, served) if served is not None else None
                except Exception:
                    # The read (or the archive) failed: the pages read before it are committed first, as
                    # in process, so the next sync resumes after them.
                    while pending:
                        yield self._collect(pending, stream)
                    raise
                if served is None:
                    break
                pending.append(_InFlight(seq, served, uri))
                if served.records or served.errors:
                    with_records += 1
                    if self._to_workers(pending, stream, with_records):
                        self.handed_out += 1
                        self._hand_out(pending, stream)
                    else:
                        self.mapped_here += 1
                        pending[-1].result = processor.process(served)
                else:  # e.g. an incremental re-sync's one empty page: spawning workers would cost seconds
                    pending[-1].result = processor.process(served)
                # Pages mapped (here or by a worker) go to the writer at once, the oldest first: their
                # commit is not delayed behind pages still mapping, and fewer wait in memory.
                while pending and (len(pending) >= self.window or _done(pending[0])):
                    yield self._collect(pending, stream)
            while pending:
                yield self._collect(pending, stream)
        finally:
            for item in pending:  # the stream stopped early (failure, kill): drop what is still queued
                if item.future is not None:
                    item.future.cancel()

    def _to_workers(self, pending: deque[_InFlight], stream: StreamMapping, with_records: int) -> bool:
        """Whether the newest page goes to the spawned workers (else this process maps it now).

        A sync of one page with records never starts them (spawn + imports cost about a second of CPU
        per worker); from the second such page they start, and this process maps the pages that arrive
        while they start or while each ready worker already has ``PAGES_PER_WORKER`` pages (one being
        mapped, one queued so that it never idles between pages)."""
        if not self.maps_here:
            return True
        if self._pool is None:
            if with_records < 2:
                return False
            pool = self._pool_now()
            for _ in range(self.spawned):  # the pool spawns a process per call it is given: start them all
                pool.submit(_prepare, stream)
        busy = sum(1 for item in pending if item.future is not None and not item.future.done())
        return busy < self.workers_ready() * PAGES_PER_WORKER

    def _pool_now(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from podium.secrets import registered_secrets

            context = multiprocessing.get_context("spawn")
            self._ready = context.Value("i", 0)
            self._pool = ProcessPoolExecutor(self.spawned, mp_context=context, initializer=_start_worker,
                                             initargs=(registered_secrets(), os.getpid(), self._ready))
        return self._pool

    def _submit(self, stream: StreamMapping, page: Page) -> Future[Packed]:
        # The raw records cross as pickle (~0.9 µs/ticket here, ~2.4 to load in the worker, bench
        # orders). Their orjson bytes would save ~0.5 µs here and nothing there, but orjson writes a
        # tuple, a datetime, a UUID or an enum as a plain JSON value and NaN as null: the worker would
        # map other values than this process does.
        context = page.context.to_json() if page.context else None
        return self._pool_now().submit(_map_page, stream, page.records, page.errors, context)

    def _hand_out(self, pending: deque[_InFlight], stream: StreamMapping) -> None:
        """Give the newest page to the workers (a pool found broken here is restarted like in ``_collect``)."""
        try:
            pending[-1].future = self._submit(stream, pending[-1].page)
        except BrokenProcessPool:
            self._restart(pending, stream)

    def _collect(self, pending: deque[_InFlight], stream: StreamMapping) -> MappedPage:
        """The oldest page's result; when the pool broke, a fresh pool maps every page still in flight."""
        head = pending[0]
        while head.result is None:
            try:
                if head.future is None:
                    raise BrokenProcessPool("the page was never handed out")
                head.result = _unpack(head.future.result())
            except BrokenProcessPool:
                self._restart(pending, stream)
        pending.popleft()
        return MappedPage(head.seq, head.page, head.archive_uri, head.result)

    def _restart(self, pending: deque[_InFlight], stream: StreamMapping) -> None:
        self.restarts += 1
        label = pending[0].page.label or pending[0].seq
        if self.restarts > MAX_RESTARTS:
            self._pool = None  # broken: a later stream of this sync would start a fresh one
            raise WorkerCrashError(f"a mapping worker process died {self.restarts} times (last at page {label}); "
                                   "nothing after the last committed page was stored")
        log.warning("a mapping worker process died at page %s of %s; mapping the %d page(s) in flight again",
                    label, stream.stream, len(pending))
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for item in pending:
            if item.result is None:
                item.future = self._submit(stream, item.page)


# -- the writer --------------------------------------------------------------------------------------
Item = TypeVar("Item")

COMMIT_BEHIND_DEPTH = 2  # pages handed to the writer and not yet committed (the one committing included)


class CommitBehind(Generic[Item]):
    """Commits pages in a writer thread, strictly in the order handed over, while the caller prepares
    the next ones.

    - At most ``depth`` pages are handed over and not yet committed: ``put`` waits for room.
    - The first ``commit`` that raises stops the writer: no later page is committed, the pages still
      queued are dropped, and ``put`` (or leaving the ``with`` block) raises that error in the
      caller's thread — the store holds exactly the pages before the failed one, each with its state.
    - Leaving the ``with`` block on the caller's own error (a read failure) first commits the pages
      handed over before it, as committing page by page in the reading thread did; when a commit
      failed meanwhile, that earlier error is raised (the caller's is its context).
    - ``threaded=False`` commits in ``put`` itself, in the caller's thread (a store whose connections
      cannot be shared between threads, e.g. an in-memory SQLite database).
    """

    def __init__(self, commit: Callable[[Item], None], *, depth: int = COMMIT_BEHIND_DEPTH,
                 threaded: bool = True) -> None:
        self._commit, self._depth = commit, max(1, depth)
        self._queue: deque[Item] = deque()  # the head is the page committing now
        self._changed = threading.Condition()
        self._closing = False
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._write, name="podium-page-writer", daemon=True)
            self._thread.start()

    def __enter__(self) -> CommitBehind[Item]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close()
        if self._failure is not None and self._failure is not exc:
            raise self._failure

    def put(self, item: Item) -> None:
        """Hand a page to the writer (after the pages handed before it); raises the writer's failure."""
        if self._thread is None:
            self._commit(item)
            return
        with self._changed:
            while self._failure is None and len(self._queue) >= self._depth:
                self._changed.wait()
            if self._failure is not None:
                raise self._failure
            self._queue.append(item)
            self._changed.notify_all()

    def _close(self) -> None:
        """Let the writer commit what it was handed, then end it."""
        if self._thread is None:
            return
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        self._thread = None

    def _write(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closing:
                    self._changed.wait()
                if not self._queue:
                    return
                item = self._queue[0]
            try:
                self._commit(item)
            except BaseException as exc:  # handed to the caller's thread, which raises it
                with self._changed:
                    self._failure = exc
                    self._queue.clear()
                    self._changed.notify_all()
                return
            with self._changed:
                self._queue.popleft()
                self._changed.notify_all()
