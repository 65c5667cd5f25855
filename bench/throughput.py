"""Records/s of a Ticketmatic orders sync against dlt → duckdb, plus no-change re-syncs and peak RSS.

Workload: the Ticketmatic sandbox's seeding at bench scale (≥ 200,000 tickets in ~60,000 nested
orders), written as ``GET /orders?output=withlookup`` pages of 100 orders (the connector's page size).

(a) Podium, in a fresh process: ``TicketmaticConnector.read("orders", state)`` with its HTTP client
    replaced by a file-backed fake vendor (time spent playing the vendor is subtracted: it is the
    HTTP part), then per page exactly what ``run_sync`` does — archive the raw page (local gzip),
    ``PageProcessor.process`` (pre hook, mapping, linking, jsonschema-rs validation, canonical JSON
    + hash), ``Store.commit_page`` (upsert + counts + state, one SQLite transaction).
    Then (i) an incremental re-sync from the saved state (the vendor's ``lastupdatesince`` filter
    returns no order) and (ii) a no-change full re-read (every page again, every record unchanged).
(b) dlt, in another fresh process: ``@dlt.resource(primary_key="orderid", write_disposition="merge")``
    yielding each page's ``data`` list, ``pipeline.run(..., loader_file_format="jsonl")`` into duckdb.

Records are tickets. Ends with one line:
``records_per_s=… dlt_records_per_s=… ratio_vs_dlt=… resync_ratio=… reread_ratio=… peak_rss_mb=…``

    python bench/throughput.py [--tickets 200000] [--quick] [--page-size 100] [--no-dlt] [--keep DIR]
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


# -- workers (each runs in a fresh process so its peak RSS is its own) ---------------------------------
def podium_worker(folder: Path, archive_on: bool) -> dict[str, Any]:
    """Full sync, incremental re-sync and no-change full re-read into a fresh SQLite store."""
    from zoneinfo import ZoneInfo

    from connectors.ticketmatic.connector import TicketmaticConnector
    from podium.archive import Archive
    from podium.engine import PageProcessor
    from podium.mapping import MappingContext, load_mapping
    from podium.sdk.connector import SyncContext
    from podium.store import Store

    cls, stream = TicketmaticConnector, "orders"
    spec = cls.stream(stream)
    store = Store(f"sqlite:///{folder / 'podium.db'}")
    store.migrate()
    archive = Archive((folder / "archive").as_uri() if archive_on else "none://")
    tz = ZoneInfo("Europe/Brussels")
    ctx = MappingContext(house=HOUSE, system=cls.name, timezone=tz)
    page_size = int(FakeTicketmatic(folder).index["page_size"])
    config = {"account": "bench", "access_key": "k", "secret_key": "s", "page_size": page_size}

    def sync(from_state: bool) -> dict[str, Any]:
        connector = cls(config, SyncContext(house=HOUSE, timezone=tz))
        vendor = FakeTicketmatic(folder)
        connector._client = vendor  # type: ignore[assignment]
        stages = {"read": 0.0, "archive": 0.0, "process": 0.0, "commit": 0.0}
        started = time.perf_counter()
        run_id = str(uuid.uuid4())
        run = store.start_stream_run(run_id, HOUSE, cls.name, stream, spec.entity, "bench")
        mapping = load_mapping(cls.mappings_dir(), cls.name, stream)
        processor = PageProcessor(mapping, ctx, spec.entity, spec.primary_key)
        state = store.get_state(HOUSE, cls.name, stream) if from_state else None
        pages = connector.read(stream, state)
        seq = 0
        while True:
            t0 = time.perf_counter()
            page = next(pages, None)
            t1 = time.perf_counter()
            stages["read"] += t1 - t0
            if page is None:
                break
            uri = archive.put(HOUSE, cls.name, stream, run_id, seq, page.raw_suffix, page.raw) \
                if page.raw is not None else None
            t2 = time.perf_counter()
            result = processor.process(page)
            t3 = time.perf_counter()
            store.commit_page(run, result.records, result.dead, page.state, read=result.read, archive_uri=uri,
                              complete_parents=result.complete_parents, vanished=mapping.vanished)
            t4 = time.perf_counter()
            stages["archive"] += t2 - t1
            stages["process"] += t3 - t2
            stages["commit"] += t4 - t3
            seq += 1
        store.finish_stream_run(run, "succeeded")
        seconds = time.perf_counter() - started - vendor.seconds
        stages["read"] -= vendor.seconds
        counts = run.counts
        return {"seconds": seconds, "pages": seq, "requests": vendor.requests, "vendor_s": vendor.seconds,
                "stages": stages, "read": counts.read, "inserted": counts.inserted, "updated": counts.updated,
                "unchanged": counts.unchanged, "rejected": counts.rejected, "deleted": counts.deleted}

    full = sync(from_state=False)
    incremental = sync(from_state=True)
    reread = sync(from_state=False)
    return {"full": full, "incremental": incremental, "reread": reread, "stored": store.count_records(HOUSE),
            "peak_rss_mb": peak_rss_mb()}


def dlt_worker(folder: Path) -> dict[str, Any]:
    """The usual dlt way: a merge resource yielding page dicts, jsonl loader files, duckdb."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    import orjson

    pages = sorted(folder.glob("page-*.json"))
    fetch = [0.0]

    @dlt.resource(name="orders", primary_key="orderid", write_disposition="merge")
    def orders() -> Any:
        for path in pages:
            t0 = time.perf_counter()
            body = path.read_bytes()  # the HTTP part, subtracted as on the Podium side
            fetch[0] += time.perf_counter() - t0
            yield orjson.loads(body)["data"]

    pipeline = dlt.pipeline(pipeline_name="tm_bench", pipelines_dir=str(folder / "dlt_pipelines"),
                            destination=dlt.destinations.duckdb(str(folder / "dlt.duckdb")),
                            dataset_name="ticketmatic")
    started = time.perf_counter()
    pipeline.run(orders(), loader_file_format="jsonl")
    seconds = time.perf_counter() - started - fetch[0]
    with pipeline.sql_client() as client:
        tickets = (client.execute_sql("SELECT count(*) FROM orders__tickets") or [[0]])[0][0]
        order_rows = (client.execute_sql("SELECT count(*) FROM orders") or [[0]])[0][0]
    return {"seconds": seconds, "tickets": int(tickets), "orders": int(order_rows), "peak_rss_mb": peak_rss_mb()}


def _run_worker(kind: str, folder: Path, *extra: str) -> dict[str, Any]:
    return run_worker(__file__, kind, ["--_dir", str(folder), *extra])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 tickets")
    parser.add_argument("--page-size", type=int, default=100, help="orders per page (connector default 100)")
    parser.add_argument("--no-archive", action="store_true", help="leave the raw-page archive out of the sync")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt comparison")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp dir)")
    parser.add_argument("--_worker", choices=["podium", "dlt"], help=argparse.SUPPRESS)
    parser.add_argument("--_dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._worker == "podium":
        print(json.dumps(podium_worker(args._dir, not args.no_archive)))
        return 0
    if args._worker == "dlt":
        print(json.dumps(dlt_worker(args._dir)))
        return 0

    tickets = 10_000 if args.quick else args.tickets
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="podium-bench-"))
    try:
        started = time.perf_counter()
        index = write_ticketmatic_pages(tmp / "work", tickets, page_size=args.page_size)
        print(f"workload: {index['tickets']:,} tickets in {index['orders']:,} orders, {len(index['pages'])} pages "
              f"of {args.page_size} orders, {index['bytes'] / 1e6:.1f} MB JSON "
              f"(generated in {time.perf_counter() - started:.1f} s)")
        podium = _run_worker("podium", tmp / "work", *(["--no-archive"] if args.no_archive else []))
        dlt_result = None if args.no_dlt else _run_worker("dlt", tmp / "work")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return report(index, podium, dlt_result, archived=not args.no_archive)


def report(index: dict[str, Any], podium: dict[str, Any], dlt_result: dict[str, Any] | None, *,
           archived: bool) -> int:
    tickets = index["tickets"]
    full, inc, reread = podium["full"], podium["incremental"], podium["reread"]
    ok = True
    for name, run, want in (("full", full, ("inserted", tickets)), ("reread", reread, ("unchanged", tickets)),
                            ("incremental", inc, ("read", 0))):
        if run[want[0]] != want[1] or run["rejected"]:
            print(f"!! {name} sync: {want[0]}={run[want[0]]} (expected {want[1]}), rejected={run['rejected']}")
            ok = False
    if podium["stored"] != tickets:
        print(f"!! store holds {podium['stored']} records, expected {tickets}")
        ok = False

    def line(name: str, run: dict[str, Any]) -> None:
        stages = "  ".join(f"{k} {v:6.2f}s" for k, v in run["stages"].items())
        rate = tickets / run["seconds"] if run["read"] else 0.0
        print(f"  {name:<22} {run['seconds']:8.3f} s  {run['pages']:4d} pages  "
              + (f"{rate:>9,.0f} tickets/s  " if rate else " " * 23) + stages)

    print(f"podium (archive {'on, included' if archived else 'off'}; vendor/HTTP time subtracted):")
    line("full sync", full)
    line("incremental re-sync", inc)
    line("no-change full re-read", reread)
    records_per_s = tickets / full["seconds"]
    no_archive = tickets / (full["seconds"] - full["stages"]["archive"])
    print(f"  full sync without the archive stage: {no_archive:,.0f} tickets/s")
    print(f"  counts full: inserted={full['inserted']} | re-read: unchanged={reread['unchanged']} "
          f"| incremental: read={inc['read']} ({inc['requests']} request)")
    resync_ratio = inc["seconds"] / full["seconds"]
    reread_ratio = reread["seconds"] / full["seconds"]
    print(f"  incremental re-sync / full = {resync_ratio:.6f}   no-change re-read / full = {reread_ratio:.3f}")
    print(f"  peak RSS {podium['peak_rss_mb']:.0f} MB")
    figures = {"records_per_s": round(records_per_s)}
    if dlt_result is not None:
        dlt_rate = dlt_result["tickets"] / dlt_result["seconds"]
        print(f"dlt → duckdb (merge on orderid, jsonl): {dlt_result['seconds']:.2f} s, {dlt_rate:,.0f} tickets/s "
              f"({dlt_result['tickets']} tickets, {dlt_result['orders']} orders; peak RSS "
              f"{dlt_result['peak_rss_mb']:.0f} MB)")
        if dlt_result["tickets"] != tickets:
            print(f"!! dlt loaded {dlt_result['tickets']} tickets, expected {tickets}")
            ok = False
        print(f"podium / dlt = {records_per_s / dlt_rate:.2f}×   (goal ≥ 5×)")
        figures.update(dlt_records_per_s=round(dlt_rate), ratio_vs_dlt=round(records_per_s / dlt_rate, 2))
    figures.update(resync_ratio=f"{resync_ratio:.6f}", reread_ratio=round(reread_ratio, 3),
                   peak_rss_mb=round(podium["peak_rss_mb"]), records_per_s_no_archive=round(no_archive))
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
