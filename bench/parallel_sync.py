"""Single-process vs all-cores Ticketmatic orders sync (pages mapped in worker processes), and ``podium remap``.

Workload: the same as ``bench/throughput.py`` (``_common.write_ticketmatic_pages``: the Ticketmatic
sandbox's seeding, ≥ 200,000 tickets in ~60,000 orders, pages of 100 orders), served by the same
file-backed fake vendor (vendor time subtracted).

For each worker count (1 = today's in-process path, and the machine's CPU count), in a fresh
process and a fresh SQLite store, exactly the engine's loop (``run_sync``/``_sync_stream``): the
connector reads pages, ``PagePipeline.run`` archives each (local gzip) and maps + validates it in
this process or in the workers, and the one writer commits each page with its state, in order.
Then ``run_remap`` replays that archive (no vendor; every record found unchanged) with the same
worker count. Peak RSS is the writer's own and the sum over the workers' high-water marks.

Ends with one line: ``records_per_s_1=… records_per_s_N=… speedup=… us_per_ticket_1=… …``

    python bench/parallel_sync.py [--tickets 200000] [--quick] [--workers N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FakeTicketmatic, peak_rss_mb, run_worker, write_ticketmatic_pages

HOUSE = "bench-house"


def _children_peak_mb() -> float:
    """The sum of the live child processes' own high-water marks (the mapping workers), in MB."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            with open(f"/proc/{child.pid}/status", encoding="ascii") as status:
                total += next((int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")), 0.0)
        except OSError:
            continue
    return total


def sync_worker(folder: Path, workers: int) -> dict[str, Any]:
    """One full sync into a fresh store through the engine's pipeline, then a remap of its archive."""
    from zoneinfo import ZoneInfo

    from connectors.ticketmatic.connector import TicketmaticConnector
    from podium.archive import Archive
    from podium.config import ConnectorConfig, HouseConfig
    from podium.engine import PageProcessor, stream_mapping
    from podium.mapping import MappingContext, load_mapping
    from podium.pipeline import PagePipeline
    from podium.remap import run_remap
    from podium.sdk.connector import Page, SyncContext
    from podium.store import Store

    cls, stream = TicketmaticConnector, "orders"
    spec = cls.stream(stream)
    work = folder / f"run-{workers}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    store = Store(f"sqlite:///{work / 'podium.db'}")
    store.migrate()
    archive = Archive((work / "archive").as_uri())
    tz = ZoneInfo("Europe/Brussels")
    ctx = MappingContext(house=HOUSE, system=cls.name, timezone=tz)
    vendor = FakeTicketmatic(folder)
    config = {"account": "bench", "access_key": "k", "secret_key": "s", "page_size": vendor.page_size}
    connector = cls(config, SyncContext(house=HOUSE, timezone=tz))
    connector._client = vendor  # type: ignore[assignment]

    run_id = str(uuid.uuid4())
    started = time.perf_counter()
    run = store.start_stream_run(run_id, HOUSE, cls.name, stream, spec.entity, "bench")
    mapping = load_mapping(cls.mappings_dir(), cls.name, stream)
    processor = PageProcessor(mapping, ctx, spec.entity, spec.primary_key)

    def archived(seq: int, page: Page) -> str | None:
        return archive.put(HOUSE, cls.name, stream, run_id, seq, page.raw_suffix, page.raw) if page.raw else None

    pages = 0
    workers_peak = 0.0
    with PagePipeline(workers) as pipeline:
        for mapped in pipeline.run(connector.read(stream, None), stream_mapping(cls, stream, ctx), processor,
                                   archived):
            result = mapped.result
            store.commit_page(run, result.records, result.dead, mapped.page.state, read=result.read,
                              archive_uri=mapped.archive_uri, complete_parents=result.complete_parents,
                              vanished=mapping.vanished)
            pages += 1
        workers_peak = _children_peak_mb()
    store.finish_stream_run(run, "succeeded")
    sync_seconds = time.perf_counter() - started - vendor.seconds
    counts = run.counts

    house = HouseConfig(key=HOUSE, name="Bench", kind="cultuurcentrum", timezone="Europe/Brussels",
                        connectors={"ticketmatic": ConnectorConfig("ticketmatic", True, None, None, {}, None)},
                        path=work / f"{HOUSE}.yaml")
    started = time.perf_counter()
    remap = run_remap(house, cls.name, store=store, archive=archive, streams=[stream], workers=workers)
    remap_seconds = time.perf_counter() - started
    remapped = remap.streams[0]
    return {"workers": workers, "seconds": sync_seconds, "pages": pages, "inserted": counts.inserted,
            "deleted": counts.deleted, "rejected": counts.rejected, "stored": store.count_records(HOUSE),
            "remap_seconds": remap_seconds, "remap_status": remap.status, "remap_unchanged": remapped.unchanged,
            "remap_changed": remapped.inserted + remapped.updated, "peak_rss_mb": peak_rss_mb(),
            "workers_peak_rss_mb": workers_peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 tickets")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the all-cores run (default: CPUs)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp dir)")
    parser.add_argument("--_worker", choices=["sync"], help=argparse.SUPPRESS)
    parser.add_argument("--_dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_workers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._worker == "sync":
        print(json.dumps(sync_worker(args._dir, args._workers)))
        return 0

    tickets = 10_000 if args.quick else args.tickets
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="podium-parallel-"))
    results = []
    try:
        index = write_ticketmatic_pages(tmp / "work", tickets)
        print(f"workload: {index['tickets']:,} tickets in {index['orders']:,} orders, {len(index['pages'])} pages, "
              f"{index['bytes'] / 1e6:.1f} MB JSON; {os.cpu_count()} CPUs")
        for workers in sorted({1, max(1, args.workers)}):
            results.append(run_worker(__file__, "sync", ["--_dir", str(tmp / "work"), "--_workers", str(workers)]))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    total = index["tickets"]
    ok = True
    figures: dict[str, Any] = {}
    for r in results:
        n = r["workers"]
        rate = total / r["seconds"]
        remap_rate = total / r["remap_seconds"]
        where = "in process" if n == 1 else f"{n} mapping workers + 1 writer"
        print(f"  sync  workers={n:<2} ({where}): {r['seconds']:7.2f} s  {rate:>9,.0f} tickets/s  "
              f"{1e6 / rate:6.1f} µs/ticket  peak RSS writer {r['peak_rss_mb']:.0f} MB"
              + (f" + workers {r['workers_peak_rss_mb']:.0f} MB" if n > 1 else ""))
        print(f"  remap workers={n:<2}: {r['remap_seconds']:7.2f} s  {remap_rate:>9,.0f} tickets/s  "
              f"{1e6 / remap_rate:6.1f} µs/ticket  ({r['remap_unchanged']:,} unchanged, {r['remap_changed']} changed)")
        if r["inserted"] + r["deleted"] != total or r["rejected"] or r["stored"] != total:
            print(f"!! workers={n}: inserted={r['inserted']} deleted={r['deleted']} rejected={r['rejected']} "
                  f"stored={r['stored']} (expected {total})")
            ok = False
        if r["remap_status"] != "succeeded" or r["remap_changed"]:
            print(f"!! remap workers={n}: {r['remap_status']}, {r['remap_changed']} changed (expected none)")
            ok = False
        figures.update({f"records_per_s_{n}": round(rate), f"us_per_ticket_{n}": round(1e6 / rate, 1),
                        f"remap_records_per_s_{n}": round(remap_rate), f"peak_rss_mb_{n}": round(r["peak_rss_mb"]),
                        f"workers_peak_rss_mb_{n}": round(r["workers_peak_rss_mb"])})
    if len(results) > 1:
        figures["speedup"] = round(results[0]["seconds"] / results[-1]["seconds"], 2)
        print(f"  all cores / single process = {figures['speedup']}×")
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
