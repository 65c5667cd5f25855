"""The sync engine: transport → parse → map → validate → store, for one house × connector.

Each page a connector yields is archived raw, mapped with the stream's compiled mapping, validated
against the canonical schema, and committed together with the state that follows it (one
transaction). Invalid records become dead letters with the reason; the sync goes on and counts
them. The same engine runs under ``podium sync`` and inside the Airflow task.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from podium.archive import Archive
from podium.config import HouseConfig
from podium.errors import (
    AuthError,
    BadDataError,
    ConfigError,
    PodiumError,
    RateLimitedError,
    UnsafeXmlError,
    VendorDownError,
    classify,
)
from podium.mapping import MappingContext, load_mapping
from podium.parsing.base import PageContext, decode_page, document_shapes
from podium.pipeline import CommitBehind, MappedPage, PagePipeline, StreamMapping, workers_setting

# PageProcessor and PageResult live in podium.processing (a mapping worker imports that module alone) and
# are named here too, where the engine's callers have always found them.
from podium.processing import PAGE_CONTEXT_KEY, PageProcessor, PageResult  # noqa: F401
from podium.registry import get_connector
from podium.sdk.connector import Connector, Page, StreamSpec, SyncContext
from podium.secrets import redact, resolve_credentials
from podium.store import DeadLetter, Store, StoredRecord
from podium.store.locks import LockHolder
from podium.store.source_hashes import RawSplit, mapping_key, split_unchanged
from podium.store.store import StreamRun, describe_error, is_store_error

log = logging.getLogger("podium.engine")

ERROR_TYPES: dict[str, type[PodiumError]] = {
    "config": ConfigError, "auth": AuthError, "vendor_down": VendorDownError,
    "rate_limited": RateLimitedError, "bad_data": BadDataError,
}


@dataclass
class StreamReport:
    stream: str
    entity: str
    status: str = "running"
    pages: int = 0
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0
    seconds: float = 0.0
    error_class: str | None = None
    error: str | None = None
    expected: int | None = None  # records the vendor says this read holds (its total), when it says


@dataclass
class SyncReport:
    """Counts only: no personal data and no secret ever goes in here (it is shown in the UI/XCom)."""

    house: str
    connector: str
    run_id: str
    streams: list[StreamReport] = field(default_factory=list)
    error_class: str | None = None
    error: str | None = None
    # Set when another sync of the same house × connector held the lock: this one did nothing.
    running_elsewhere: LockHolder | None = None

    @property
    def status(self) -> str:
        if self.running_elsewhere is not None:
            return "already_running"
        if self.error_class or any(s.status == "failed" for s in self.streams):
            return "failed"
        if self.rejected:
            return "succeeded_with_rejections"
        return "succeeded"

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.streams)

    @property
    def changed_entities(self) -> set[str]:
        return {s.entity for s in self.streams if s.inserted or s.updated or s.deleted}

    @property
    def failed_stream(self) -> StreamReport | None:
        return next((s for s in self.streams if s.status == "failed"), None)

    def first_error(self) -> tuple[str | None, str | None, str | None]:
        """(stream, error class, message) of the first failure."""
        if self.error_class:
            return None, self.error_class, self.error
        failed = self.failed_stream
        return (failed.stream, failed.error_class, failed.error) if failed else (None, None, None)

    def as_dict(self) -> dict[str, Any]:
        stream, error_class, error = self.first_error()
        return {
            "house": self.house, "connector": self.connector, "run_id": self.run_id, "status": self.status,
            "error_class": error_class, "error": error, "failed_stream": stream,
            "rejected": self.rejected, "changed_entities": sorted(self.changed_entities),
            "already_running": None if self.running_elsewhere is None else {
                **self.running_elsewhere.as_dict(), "message": self.already_running_message()},
            "streams": {s.stream: {k: v for k, v in asdict(s).items() if k != "stream"} for s in self.streams},
        }

    def already_running_message(self) -> str:
        holder = self.running_elsewhere.describe() if self.running_elsewhere else "another sync"
        return f"{self.house} × {self.connector} is already being synced by {holder}; this sync did nothing"

    def raise_for_failure(self) -> None:
        """Raise the error class's exception, naming house, connector and stream."""
        stream, error_class, error = self.first_error()
        if error_class is None:
            return
        where = f"{self.house} × {self.connector}" + (f" × {stream}" if stream else "")
        raise ERROR_TYPES.get(error_class, PodiumError)(f"{where}: [{error_class}] {error}")


# Letters written before the page context existed carry it as keys of the record itself.
_LEGACY_CONTEXT_KEYS = {"@_lookup": "tables", "@_language": "language"}


def _page_of_letter(raw: dict[str, Any]) -> Page:
    """A one-record page for a replayed letter, in the context the letter kept (else the empty one)."""
    kept = raw.get(PAGE_CONTEXT_KEY)
    legacy = {name: raw[key] for key, name in _LEGACY_CONTEXT_KEYS.items() if key in raw}
    if legacy and not isinstance(kept, dict):
        kept = legacy
    record = {k: v for k, v in raw.items() if k != PAGE_CONTEXT_KEY and k not in _LEGACY_CONTEXT_KEYS}
    return Page(records=[record], state={}, context=PageContext.from_json(kept))


def build_connector(house: HouseConfig, name: str) -> Connector:
    """Resolve the house's credential references and construct the connector."""
    cls = get_connector(name)
    config = house.connector(name)
    where = f"{house.path}: connectors.{name}.credentials"
    boundary = house.limits()
    secrets = resolve_credentials(config.credentials, cls.secret_fields(), where=where, boundary=boundary,
                                  connector=name, required=cls.required_secrets())
    return cls({**config.settings, **secrets}, SyncContext(house=house.key, timezone=house.tz, boundary=boundary))


ProgressFn = Callable[[str, StreamReport], None]


def plan_run(house: HouseConfig, connector: str, streams: Iterable[str] | None,
             workers: int | str | None) -> tuple[type[Connector], Any, list[StreamSpec], int]:
    """What a sync or a remap of one house × connector runs: the connector class, the house's config of
    it, the selected streams (argument, else the config's, else all) and the mapping worker count."""
    cls = get_connector(connector)
    config = house.connector(connector)
    selected = list(streams or config.streams or [s.name for s in cls.streams])
    return (cls, config, [cls.stream(name) for name in selected],
            workers_setting(workers if workers is not None else config.workers))


def lock_or_report(store: Store, report: SyncReport, run_id: str) -> Any:
    """The house × connector's sync lock, or None with ``report`` naming the sync that holds it."""
    lease = store.try_lock_sync(report.house, report.connector, run_id)
    if lease is None:
        report.running_elsewhere = (store.sync_lock_holder(report.house, report.connector)
                                    or LockHolder(None, None, None))
        log.warning("%s", report.already_running_message())
    return lease


def run_sync(house: HouseConfig, connector: str, *, store: Store | None = None, archive: Archive | None = None,
             full_refresh: bool = False, streams: Iterable[str] | None = None, trigger: str = "cli",
             progress: ProgressFn | None = None, workers: int | str | None = None) -> SyncReport:
    """Sync one house × connector; never raises for vendor or data trouble — the report says it.

    One sync per house × connector at a time: while another holds the lock, this one does nothing
    and its report has the status ``already_running``, naming the holder. ``workers`` processes map
    the pages in all: this one, which also commits them in order, and ``workers - 1`` spawned ones
    (default: the house's ``workers``, else ``PODIUM_SYNC_WORKERS``, else 1 — everything in this
    process; ``auto``: the CPU count). On PostgreSQL the commits run in a writer thread, page N while
    page N+1 is read and mapped; ``progress`` is called after each page's commit (or after it was held
    back: ``_ProgressOnlyPages``), in order (from that thread when there is one).
    """
    store = store or Store.from_env()
    store.migrate()
    archive = archive or Archive()
    run_id = str(uuid.uuid4())
    report = SyncReport(house=house.key, connector=connector, run_id=run_id)
    try:
        cls, _config, specs, processes = plan_run(house, connector, streams, workers)
    except PodiumError as exc:
        return _cannot_start(report, exc)
    lease = lock_or_report(store, report, run_id)
    if lease is None:
        return report
    with lease:  # beats a heartbeat while the sync runs; released however it ends
        try:
            instance = build_connector(house, connector)
        except PodiumError as exc:
            return _cannot_start(report, exc)
        # Under the lock, a run still 'running' for this pair belongs to a sync that died.
        store.close_interrupted_runs(house.key, connector)
        ctx = MappingContext(house=house.key, system=cls.name, timezone=house.tz)
        try:
            with PagePipeline(processes) as pipeline:
                for spec in specs:
                    stream_report = StreamReport(stream=spec.name, entity=spec.entity)
                    report.streams.append(stream_report)
                    _sync_stream(instance, spec.name, store, archive, ctx, run_id, house, full_refresh, trigger,
                                 stream_report, progress, pipeline)
        finally:
            instance.close()
    return report


def _cannot_start(report: SyncReport, exc: PodiumError) -> SyncReport:
    report.error_class, report.error = exc.error_class, redact(str(exc))
    log.error("%s × %s: cannot start: [%s] %s", report.house, report.connector, report.error_class, report.error)
    return report


def stream_mapping(cls: type[Connector], stream: str, ctx: MappingContext) -> StreamMapping:
    """The stream's mapping as a worker process rebuilds it (the same files, house and time zone)."""
    spec = cls.stream(stream)
    return StreamMapping(mappings_dir=str(cls.mappings_dir()), system=cls.name, stream=stream, entity=spec.entity,
                         primary_key=spec.primary_key, house=ctx.house, timezone=ctx.timezone.key)


def _sync_stream(instance: Connector, stream: str, store: Store, archive: Archive, ctx: MappingContext,
                 run_id: str, house: HouseConfig, full_refresh: bool, trigger: str, report: StreamReport,
                 progress: ProgressFn | None, pipeline: PagePipeline) -> None:
    cls = type(instance)
    spec = cls.stream(stream)
    started = time.perf_counter()
    run = store.start_stream_run(run_id, house.key, cls.name, stream, spec.entity, trigger)
    try:
        mapping = load_mapping(cls.mappings_dir(), cls.name, stream)
        processor = PageProcessor(mapping, ctx, spec.entity, spec.primary_key)
        raw_key = mapping_key(cls, stream, spec.entity, spec.primary_key, ctx)
        state: Mapping[str, Any] | None = None if full_refresh else store.get_state(house.key, cls.name, stream)
        # A mapping with ``unlisted`` reconciles a vendor list that drops records (no change filter): a read
        # that starts on the first page without a cursor serves the whole list, so what it did not serve
        # has left it. A resumed read saw only part of the list and reconciles nothing.
        whole = mapping.unlisted is not None and not (state or {}).get("resume") and not (state or {}).get("cursor")
        if mapping.unlisted is not None and sum(s.entity == spec.entity for s in cls.streams) > 1:
            # The store keeps no stream per record: the reconciliation's scope is the connector's entity.
            raise ConfigError(f"{cls.name}/{stream}: 'unlisted' needs the only {spec.entity} stream of "
                              f"its connector")
        listed: set[str] = set()
        splits: deque[RawSplit] = deque()  # one per page read, in order: the writer takes them in that order
        uncommitted = _UncommittedHashes(store)

        def to_map() -> Iterator[Page]:
            """The pages as read, less the raw records unchanged since they were stored (same raw hash, same
            mapping): those are not mapped again. The listing sees every record the vendor served."""
            for page in instance.read(stream, state):
                if whole:
                    listed.update(_listed(page, spec.primary_key))
                split = split_unchanged(uncommitted, run, page.records, spec.primary_key, raw_key, page.context)
                uncommitted.read(split)
                splits.append(split)
                yield replace(page, records=split.todo) if split.skipped else page

        def archived(seq: int, page: Page) -> str | None:
            if page.raw is None:
                return None
            return archive.put(house.key, cls.name, stream, run_id, seq, page.raw_suffix, page.raw)

        held = _ProgressOnlyPages(store, run)

        def commit(item: tuple[MappedPage, RawSplit]) -> None:
            """The writer thread's part: one transaction per page with its state (a page that writes nothing
            else is held back, see ``_ProgressOnlyPages``), then counts and progress."""
            mapped, split = item
            if mapped.page.total is not None:
                report.expected = mapped.page.total
            if held.hold(mapped, split):
                uncommitted.committed()  # it stores no raw hash
                if held.due():
                    held.flush()
                counted(mapped.seq + 1)
                return
            if held.pages:
                held.flush()
            try:
                _commit(store, run, mapped, mapped.page.state, mapping.vanished, split, spec.primary_key)
            except BaseException:
                held.commit_failed = True
                raise
            uncommitted.committed()
            _log_rejections(house.key, cls.name, stream, mapped)
            counted(mapped.seq + 1)

        def counted(pages: int) -> None:
            """The report shows the pages read so far, the held ones too (read and found unchanged)."""
            _copy_counts(run.counts, report, pages)
            report.read += held.read
            report.unchanged += held.unchanged
            if progress is not None:
                progress(stream, report)

        pages = pipeline.run(to_map(), stream_mapping(cls, stream, ctx), processor, archived)
        # In the order read: one writer, one transaction per page with its state, committing page N while
        # this thread reads and maps page N+1; a failed commit stops the pages still being mapped.
        try:
            with closing(pages), CommitBehind(commit, threaded=_commits_behind(store)) as writer:
                for mapped in pages:
                    writer.put((mapped, splits.popleft()))
        except Exception:
            # The pages held back before a failure to read are committed, as they would have been one by one
            # (not after a failed commit: the store may be what failed).
            if held.pages and not held.commit_failed:
                try:
                    held.flush()
                except Exception as exc:  # the stream's failure is the first one; this one is only logged
                    log.error("%s × %s × %s: the pages read before the failure were not committed: %s", house.key,
                              cls.name, stream, redact(describe_error(exc)) or type(exc).__name__)
            raise
        if held.pages:
            held.flush()
        # Nothing listed at all is more likely a wrong account or a vendor fault than everyone leaving.
        if whole and listed and mapping.unlisted is not None:
            store.retire_unlisted(run, listed, mapping.unlisted)
            _copy_counts(run.counts, report, report.pages)
        report.status = "succeeded"
        store.finish_stream_run(run, "succeeded")
    except Exception as exc:  # every failure is classified and reported, none is lost
        report.status = "failed"
        report.error_class = classify(exc)
        # describe_error: a store error's text carries no record data (its parameters, PostgreSQL's DETAIL).
        report.error = redact(describe_error(exc)) or type(exc).__name__
        store.finish_stream_run(run, "failed", report.error_class, report.error)
        log.error("%s × %s × %s failed: [%s] %s", house.key, cls.name, stream, report.error_class, report.error)
        if report.error_class == "internal" and is_store_error(exc):
            # Where it happened, without the exception's own text (that is the record data).
            log.error("store error traceback:\n%s", "".join(traceback.format_tb(exc.__traceback__)))
        elif report.error_class == "internal":
            log.exception("internal error (a bug in podium or the connector)")
    finally:
        report.seconds = round(time.perf_counter() - started, 3)


# A page that writes nothing but its counts and state is held back at most this long (see _ProgressOnlyPages).
PROGRESS_COMMIT_SECONDS = 1.0


class _ProgressOnlyPages:
    """Pages that would commit nothing but their counts and the state after them — every raw record
    unchanged since it was stored, nothing rejected, no raw hash to keep — held back and committed as one
    transaction: once the first held page is ``PROGRESS_COMMIT_SECONDS`` old (when the next page reaches the
    writer), before the next page that writes anything, and when the stream ends, also when its read fails.

    A no-change re-read then commits about once a second instead of once a page: a page's transaction
    was a tenth of such a page's time on SQLite and most of it on PostgreSQL (its round trips, in a writer
    thread waiting for the GIL). Nothing is lost or skipped: the state never moves past a page before that
    page is read and found unchanged, and a sync killed meanwhile resumes from the last committed state
    and reads the held pages again (unchanged, they cost the same once more). The stream run's row counts
    them when they commit; the sync's report and ``progress`` as they are read.
    """

    def __init__(self, store: Store, run: StreamRun) -> None:
        self.store, self.run = store, run
        self.commit_failed = False  # a commit of this stream raised: nothing more is committed
        self.pages = self.read = self.unchanged = 0  # held back now, their raw and canonical records
        self._state: dict[str, Any] | None = None
        self._archive_uri: str | None = None
        self._since = 0.0

    def hold(self, mapped: MappedPage, split: RawSplit) -> bool:
        """Hold the page back if its commit would write nothing but counts and state."""
        result = mapped.result
        if result.records or result.dead or result.complete_parents or split.hashes:
            return False
        if not self.pages:
            self._since = time.monotonic()
        self.pages += 1
        self.read += result.read + split.skipped
        self.unchanged += split.unchanged
        if mapped.page.state is not None:  # None: the page moves no state
            self._state = mapped.page.state
        self._archive_uri = mapped.archive_uri or self._archive_uri
        return True

    def due(self) -> bool:
        return time.monotonic() - self._since >= PROGRESS_COMMIT_SECONDS

    def flush(self) -> None:
        """Commit the held pages' counts and latest state, one transaction (the run's counts then hold them)."""
        try:
            self.store.commit_page(self.run, [], [], self._state, read=self.read, archive_uri=self._archive_uri,
                                   unchanged=self.unchanged, pages=self.pages)
        except BaseException:
            self.commit_failed = True
            raise
        self.pages = self.read = self.unchanged = 0
        self._state = None


class _UncommittedHashes:
    """``split_unchanged``'s view of the store while pages it split are still waiting for their commit.

    A page's raw hashes are stored when the page commits, which is after the next pages have been
    split (the writer commits behind the reading thread; worker processes map pages read ahead). A raw
    record whose key is on such a page must not be judged by the hash stored before it: the vendor may
    have served it changed on that page and as it was before on this one, and skipping it would keep
    the earlier page's version. It is mapped instead — what a page-by-page sync would have stored, and
    counted alike (mapped again unchanged, its records count as unchanged).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pages: deque[list[str]] = deque()  # the keys each uncommitted page may store a hash of
        self._keys: dict[str, int] = {}  # key -> the uncommitted pages it is on
        self._lock = threading.Lock()  # the reading thread adds pages, the writer thread removes them

    def read(self, split: RawSplit) -> None:
        """A page was split: the hashes of its records to map are stored when it commits."""
        keys = list(split.hashes)
        with self._lock:
            self._pages.append(keys)
            for key in keys:
                self._keys[key] = self._keys.get(key, 0) + 1

    def committed(self) -> None:
        """The oldest uncommitted page committed: the store now answers for its keys."""
        with self._lock:
            for key in self._pages.popleft():
                if self._keys[key] > 1:
                    self._keys[key] -= 1
                else:
                    del self._keys[key]

    def ask_source_hashes(self, run: StreamRun, keys: Sequence[str]) -> Callable[[], dict[str, tuple[str, int]]]:
        # The keys still waiting are taken before the store is asked: a page that commits in between
        # is then either still excluded or already visible to the question.
        with self._lock:
            waiting = [key for key in keys if key in self._keys] if self._keys else []
        answer = self.store.ask_source_hashes(run, keys)
        if not waiting:
            return answer

        def without_waiting() -> dict[str, tuple[str, int]]:
            stored = answer()
            for key in waiting:
                stored.pop(key, None)
            return stored

        return without_waiting


def _commits_behind(store: Store) -> bool:
    """Whether a writer thread commits the pages while the reading thread prepares the next ones.

    PostgreSQL: yes — a page's commit is mostly waiting for the server (on another core), which the
    thread hides. SQLite: no — its commit is this process's own CPU, so a writer thread only contends
    for the GIL (measured: commits 2–3.5× longer in the thread, no clear gain), and committing in the
    reading thread keeps the stored position exactly at the last page read (a killed sync re-reads
    nothing it had read). An in-memory SQLite database could not be shared by a thread anyway."""
    return store.engine.url.get_backend_name() != "sqlite"


def _listed(page: Page, primary_key: str) -> Iterable[str]:
    """The vendor ids a page served: its records and the parts that could not be decoded (still listed)."""
    for raw in [*page.records, *(raw for _, raw in page.errors)]:
        value = raw.get(primary_key) if isinstance(raw, dict) else None
        if value is not None:
            yield str(value)


def _commit(store: Store, run: StreamRun, mapped: MappedPage, state: dict[str, Any] | None,
            vanished: dict[str, Any] | None, split: RawSplit | None = None, primary_key: str = "id") -> None:
    """One page, its state, its dead letters and (``split``) the raw hashes of what it mapped: one transaction."""
    result = mapped.result
    skipped = split.skipped if split is not None else 0
    store.commit_page(run, result.records, result.dead, state, read=result.read + skipped,
                      archive_uri=mapped.archive_uri, complete_parents=result.complete_parents, vanished=vanished,
                      source_hashes=split.to_store(result.dead, primary_key) if split is not None else None,
                      unchanged=split.unchanged if split is not None else 0)


def _log_rejections(house: str, connector: str, stream: str, mapped: MappedPage) -> None:
    if mapped.result.dead:
        log.warning("%s × %s × %s: page %s: %d record(s) rejected to dead letters",
                    house, connector, stream, mapped.page.label or mapped.seq, len(mapped.result.dead))


def _copy_counts(counts: Any, report: StreamReport, pages: int) -> None:
    report.pages = pages
    for name in ("read", "inserted", "updated", "unchanged", "rejected", "deleted"):
        setattr(report, name, getattr(counts, name))


def map_document(connector: str, stream: str, data: bytes, house: str = "demo",
                 timezone: str = "Europe/Brussels") -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    """``podium map``: decode a document as the vendor serves it, in any shape the stream declares (a list
    page, a single record), map and validate (no store, no I/O).

    A document that is not what the stream reads (another format, a SOAP fault, a broken page, no
    records at all) raises ``BadDataError`` with a one-line reason naming the shapes the stream accepts.
    """
    from zoneinfo import ZoneInfo

    from podium.parsing.base import RecordError

    cls = get_connector(connector)
    spec = cls.stream(stream)
    mapping = load_mapping(cls.mappings_dir(), cls.name, stream)
    ctx = MappingContext(house=house, system=cls.name, timezone=ZoneInfo(timezone))
    records, errors = [], []
    wrong = _wrong_format(spec.decoder.suffix, data)
    if wrong:
        raise BadDataError(wrong)
    try:
        items, context = decode_page(spec.decoder, data)
        for item in items:
            if isinstance(item, RecordError):
                errors.append((item.reason, item.raw))
            else:
                records.append(item)
    except RecursionError:
        raise BadDataError("the document is nested too deeply to read") from None
    except UnsafeXmlError:
        raise
    except BadDataError as exc:
        raise BadDataError(f"{exc}; {connector}/{stream} accepts {_shapes(spec.decoder)}") from None
    if not records and not errors:
        raise BadDataError(_why_empty(spec.decoder.suffix, data, f"{connector}/{stream}"))
    page = Page(records=records, state={}, errors=errors, context=context)
    result = PageProcessor(mapping, ctx, spec.entity, spec.primary_key).process(page)
    return [_loads(r.data) for r in result.records], result.dead


_FORMAT_NAMES = {"json": "JSON", "xml": "XML", "csv": "CSV"}


def _shapes(decoder: Any) -> str:
    return " or ".join(f"a {shape}" for shape in document_shapes(decoder))


def _looks_like(data: bytes) -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"{", b"[")):
        return "json"
    return "csv" if b"," in head.split(b"\n", 1)[0] or b";" in head.split(b"\n", 1)[0] else ""


def _wrong_format(expected: str, data: bytes) -> str | None:
    """Why ``data`` is plainly not the stream's format (XML given to a JSON stream, ...), else None."""
    found = _looks_like(data)
    if not found or found == expected or expected not in _FORMAT_NAMES:
        return None
    if expected == "csv" and found == "json":  # a CSV row may start with "[" or "{"
        return None
    return (f"wrong format: the document looks like {_FORMAT_NAMES[found]}, "
            f"this stream reads {_FORMAT_NAMES[expected]}")


def _why_empty(suffix: str, data: bytes, what: str) -> str:
    """One line on a document that yields no record: a SOAP fault's code and text, or what it holds."""
    if suffix == "xml":
        from podium.parsing import element_to_dict, safe_iterparse

        try:
            for fault in safe_iterparse(data, ("Fault",)):
                body = element_to_dict(fault)
                code = body.get("faultcode") or body.get("Code") or ""
                text = body.get("faultstring") or body.get("Reason") or ""
                return redact(" ".join(f"SOAP fault: {code} {text}".split()))[:300]
        except PodiumError:
            pass
    return f"no {what} record in the document (empty, or not what this stream reads)"


def _loads(data: bytes) -> dict[str, Any]:
    import orjson

    return orjson.loads(data)  # type: ignore[no-any-return]


@dataclass
class ReplayOutcome:
    """What a dead-letter replay did: counts, why some letters cannot be replayed, which pairs were busy."""

    replayed: int = 0
    still_rejected: int = 0
    not_replayable: int = 0
    # letter id -> why it cannot be mapped again (said to the operator, with what to do instead)
    why_not_replayable: dict[int, str] = field(default_factory=dict)
    # house × connector pairs skipped because a sync of them holds the lock
    busy: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"replayed": self.replayed, "still_rejected": self.still_rejected,
                "not_replayable": self.not_replayable}


def _why_not_replayable(letter: Mapping[str, Any], raw: Any) -> str | None:
    """Why a letter cannot be mapped again, or None when it can."""
    if letter["reason"].startswith("decode:") or letter["raw"] is None:
        where = f" (the page as received: {letter['archive_uri']})" if letter.get("archive_uri") else ""
        return ("the vendor's bytes could not be read as a record, so there is nothing to map again"
                f"{where}; once the vendor fixes the data, the next sync reads it")
    if not isinstance(raw, dict):
        return "the kept raw record is not an object; a full refresh (podium sync --full-refresh) reads it again"
    return None


def replay_dead_letters(store: Store, *, house: str | None = None, connector: str | None = None,
                        stream: str | None = None, houses: Mapping[str, HouseConfig] | None = None) -> ReplayOutcome:
    """Map the open dead letters again with today's mappings; store the ones that now pass.

    Each house × connector is replayed under its sync lock, so a replay never writes beside a sync
    of the same pair (a busy pair is skipped and named)."""
    from zoneinfo import ZoneInfo

    import orjson

    outcome = ReplayOutcome()
    letters = store.dead_letters(house=house, connector=connector, stream=stream, status="open")
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for letter in letters:
        groups.setdefault((letter["house"], letter["connector"], letter["stream"]), []).append(letter)
    for (house_key, name, stream_name), items in groups.items():
        run_id = str(uuid.uuid4())
        lease = store.try_lock_sync(house_key, name, run_id)
        if lease is None:
            outcome.busy.append(f"{house_key} × {name}")
            continue
        with lease:
            cls = get_connector(name)
            spec = cls.stream(stream_name)
            tz = houses[house_key].tz if houses and house_key in houses else ZoneInfo("Europe/Brussels")
            ctx = MappingContext(house=house_key, system=cls.name, timezone=tz)
            processor = PageProcessor(load_mapping(cls.mappings_dir(), cls.name, stream_name), ctx, spec.entity,
                                      spec.primary_key)
            run = store.start_stream_run(run_id, house_key, name, stream_name, spec.entity, "replay")
            replayed: list[int] = []
            records: list[StoredRecord] = []
            for letter in items:
                raw = orjson.loads(letter["raw"]) if letter["raw"] else None
                why = _why_not_replayable(letter, raw)
                if why is not None or not isinstance(raw, dict):
                    outcome.not_replayable += 1
                    outcome.why_not_replayable[letter["id"]] = why or "not an object"
                    continue
                result = processor.process(_page_of_letter(raw))
                if result.dead:
                    outcome.still_rejected += 1
                else:
                    records.extend(result.records)
                    replayed.append(letter["id"])
                    outcome.replayed += 1
            store.commit_page(run, records, [], None, read=len(replayed))
            store.mark_dead_letters(replayed, "replayed")
            store.finish_stream_run(run, "succeeded")
    return outcome
