"""``podium remap``: replay a house × connector's raw archive through today's mappings into the store.

After a mapping fix, the records the vendor already served are mapped again from the archived pages
(never from the vendor: no connector instance is built, no credential is resolved, no request is
made) and committed page by page exactly as a sync commits them: upserts by content hash, dead
letters seen again or resolved, ``vanished`` applied to the children a re-read parent no longer has.

- Order: runs by the time they started (the store's runs; a run the store no longer knows sorts by
  its day folder), pages by their sequence in the run; later versions of a record win, as they did.
- State is never touched: the cursor stays where the last sync left it (a remap reads no vendor).
- Records the new mapping no longer produces are left as stored, never deleted: the report counts
  them (``not_reproduced``) per entity. Records whose archived pages were pruned (retention) count
  there too. A tombstone needs a vendor's word, not a mapping change.
- The sync lock is taken: a remap never runs beside a sync (or a remap) of the same house × connector.
"""

from __future__ import annotations

import heapq
import logging
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podium.archive import Archive, ArchivedPage
from podium.config import HouseConfig
from podium.engine import (
    PageProcessor,
    ProgressFn,
    StreamReport,
    SyncReport,
    _cannot_start,
    _commit,
    _commits_behind,
    _copy_counts,
    _log_rejections,
    lock_or_report,
    plan_run,
    stream_mapping,
)
from podium.errors import ConfigError, PodiumError, classify
from podium.mapping import MappingContext, load_mapping
from podium.pipeline import CommitBehind, MappedPage, PagePipeline
from podium.sdk.connector import Connector, Page
from podium.secrets import redact
from podium.store import Store
from podium.store.store import describe_error

log = logging.getLogger("podium.remap")


@dataclass
class RemapReport(SyncReport):
    """A sync report, plus the stored records per entity that the remap did not produce again."""

    not_reproduced: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "not_reproduced": dict(self.not_reproduced)}


def run_remap(house: HouseConfig, connector: str, *, store: Store | None = None, archive: Archive | None = None,
              streams: Iterable[str] | None = None, workers: int | str | None = None,
              progress: ProgressFn | None = None) -> RemapReport:
    """Map the archived pages of one house × connector again and store the outcome (see the module doc)."""
    store = store or Store.from_env()
    store.migrate()
    archive = archive or Archive()
    run_id = str(uuid.uuid4())
    report = RemapReport(house=house.key, connector=connector, run_id=run_id)
    try:
        cls, config, specs, processes = plan_run(house, connector, streams, workers)
        if not archive.enabled:
            raise ConfigError("the raw archive is off (PODIUM_ARCHIVE_URL=none://): there is nothing to remap")
    except PodiumError as exc:
        _cannot_start(report, exc)
        return report
    lease = lock_or_report(store, report, run_id)
    if lease is None:
        return report
    with lease:
        store.close_interrupted_runs(house.key, connector)
        ctx = MappingContext(house=house.key, system=cls.name, timezone=house.tz)
        produced: dict[str, DistinctIds] = {}
        try:
            with PagePipeline(processes) as pipeline:
                for spec in specs:
                    stream_report = StreamReport(stream=spec.name, entity=spec.entity)
                    report.streams.append(stream_report)
                    ids = produced.setdefault(spec.entity, DistinctIds())
                    _remap_stream(cls, spec.name, store, archive, ctx, run_id, stream_report, progress, pipeline,
                                  ids, config.settings)
            if not any(s.status == "failed" for s in report.streams):
                report.not_reproduced = _not_reproduced(store, house.key, cls, {s.name for s in specs}, produced)
        finally:
            for ids in produced.values():
                ids.close()
    return report


class DistinctIds:
    """The canonical ids a remap produced, counted once each in bounded memory: a set of up to ``limit``
    ids, then written sorted to a temporary file (a run) and started afresh; the count merges the runs.

    A remap replays every archived page of every run, so the same ids come again and again; at 1M tickets
    the ids in one set were most of the remap's peak RSS (233 MB against 133 at 200k).
    """

    def __init__(self, limit: int = 250_000) -> None:
        self.limit = limit
        self._ids: set[str] = set()
        self._runs: list[Any] = []

    def update(self, ids: Iterable[str]) -> None:
        self._ids.update(ids)
        if len(self._ids) >= self.limit:
            self._spill()

    def _spill(self) -> None:
        run = tempfile.TemporaryFile(prefix="podium-remap-ids-")  # noqa: SIM115 — closed by ``close``
        run.writelines(f"{key}\n".encode() for key in sorted(self._ids))  # no copy of the whole run in memory
        run.seek(0)
        self._runs.append(run)
        self._ids = set()

    def __len__(self) -> int:
        if not self._runs:
            return len(self._ids)
        if self._ids:
            self._spill()
        count, last = 0, None
        for key in heapq.merge(*self._runs):
            if key != last:
                count, last = count + 1, key
        for run in self._runs:
            run.seek(0)
        return count

    def close(self) -> None:
        for run in self._runs:
            run.close()
        self._runs, self._ids = [], set()


def ordered_pages(store: Store, archive: Archive, house: str, connector: str, stream: str) -> list[ArchivedPage]:
    """The stream's archived pages in the order they were read: runs by start time, pages by sequence."""
    pages = archive.pages(house, connector, stream)
    started: dict[str, str] = {}
    for run_id in {page.run_id for page in pages}:
        times = [row["started_at"] for row in store.runs(run_id) if row["stream"] == stream and row["started_at"]]
        started[run_id] = min(times).isoformat() if times and isinstance(min(times), datetime) else ""
    # A run the store does not know (its rows gone) sorts first within its day.
    return sorted(pages, key=lambda p: (p.day, started.get(p.run_id, ""), p.run_id, p.seq))


def _remap_stream(cls: type[Connector], stream: str, store: Store, archive: Archive, ctx: MappingContext,
                  run_id: str, report: StreamReport, progress: ProgressFn | None, pipeline: PagePipeline,
                  produced: DistinctIds, settings: Mapping[str, Any]) -> None:
    spec = cls.stream(stream)
    started = time.perf_counter()
    run = store.start_stream_run(run_id, ctx.house, cls.name, stream, spec.entity, "remap")
    try:
        mapping = load_mapping(cls.mappings_dir(), cls.name, stream)
        processor = PageProcessor(mapping, ctx, spec.entity, spec.primary_key)
        archived = ordered_pages(store, archive, ctx.house, cls.name, stream)

        def replayed() -> Iterator[Page]:
            for item in archived:
                page = cls.replay_page(stream, archive.get(item.uri), settings)
                page.label = f"{item.day}/{item.run_id}/{item.seq:05d}"
                yield page

        uris = [item.uri for item in archived]

        def commit(mapped: MappedPage) -> None:
            _commit(store, run, mapped, None, mapping.vanished)  # state None: the cursor stays put
            produced.update(record.id for record in mapped.result.records if record.source_system == cls.name)
            _copy_counts(run.counts, report, mapped.seq + 1)
            _log_rejections(ctx.house, cls.name, stream, mapped)
            if progress is not None:
                progress(stream, report)

        pages = pipeline.run(replayed(), stream_mapping(cls, stream, ctx), processor, lambda seq, _: uris[seq])
        # As a sync: on PostgreSQL a writer thread commits page N while page N+1 is read and mapped.
        with closing(pages), CommitBehind(commit, threaded=_commits_behind(store)) as writer:
            for mapped in pages:
                writer.put(mapped)
        report.status = "succeeded"
        store.finish_stream_run(run, "succeeded")
    except Exception as exc:  # classified and reported like a sync's failure
        report.status = "failed"
        report.error_class = classify(exc)
        report.error = redact(describe_error(exc)) or type(exc).__name__
        store.finish_stream_run(run, "failed", report.error_class, report.error)
        log.error("%s × %s × %s: remap failed: [%s] %s", ctx.house, cls.name, stream, report.error_class,
                  report.error)
    finally:
        report.seconds = round(time.perf_counter() - started, 3)


def _not_reproduced(store: Store, house: str, cls: type[Connector], remapped: set[str],
                    produced: Mapping[str, DistinctIds]) -> dict[str, int]:
    """Per entity, the stored records of this connector that no remapped page produced (counted only
    when every stream of the connector that yields the entity was remapped).

    Every id a page produced was committed by that page (the remap ended without failure), so the stored
    records less the distinct produced ids are the ones not produced: a count by key in the store
    instead of reading and parsing every stored record."""
    counts: dict[str, int] = {}
    for entity, ids in produced.items():
        if any(s.entity == entity and s.name not in remapped for s in cls.streams):
            continue
        counts[entity] = store.count_records(house, entity, source_system=cls.name) - len(ids)
    return counts
