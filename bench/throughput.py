"""Records/s of a Ticketmatic orders sync on SQLite and PostgreSQL against dlt → duckdb, plus no-change
re-syncs, peak RSS, and the cost per ticket as the load grows.

Workload: the Ticketmatic sandbox's seeding at bench scale (200,000 tickets in ~60,000 nested orders by
default; ``--tickets 200000 1000000`` runs each size), written as ``GET /orders?output=withlookup`` pages
of 100 orders (the connector's page size).

(a) Podium, in a fresh process per store: ``TicketmaticConnector.read("orders", state)`` with its HTTP
    client replaced by a file-backed fake vendor (time spent playing the vendor is subtracted: it is
    the HTTP part), then per page exactly what ``run_sync`` does — archive the raw page (local gzip),
    split off the raw records whose raw hash is unchanged (``split_unchanged``), ``PageProcessor.process``
    (pre hook, mapping, linking, jsonschema-rs validation, canonical JSON + hash), ``Store.commit_page``
    (one upsert statement + counts + state + dead letters + raw hashes, one transaction).
    Then (i) an incremental re-sync from the saved state (the vendor's ``lastupdatesince`` filter
    returns no order) and (ii) a no-change full re-read (every page again, every record unchanged).
    Stores: a fresh SQLite file (WAL), and a fresh database on a PostgreSQL server this script starts
    on its own port and data folder (default 55433, /tmp/podium-bench-pg; stopped and removed after).
(b) dlt, in another fresh process: ``@dlt.resource(primary_key="orderid", write_disposition="merge")``
    yielding each page's ``data`` list, ``pipeline.run(..., loader_file_format="jsonl")`` into duckdb.

Records are tickets. Ends with one line of ``key=value`` figures per store and size.

    python bench/throughput.py [--tickets 200000 [1000000 ...]] [--stores sqlite,postgresql] [--quick]
                               [--page-size 100] [--no-archive] [--no-dlt] [--keep DIR] [--pg-port 55433]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FakeTicketmatic, peak_rss_mb, run_worker, write_ticketmatic_pages

HOUSE = "bench-house"
STORES = ("sqlite", "postgresql")


# -- workers (each runs in a fresh process so its peak RSS is its own) ---------------------------------
def podium_worker(folder: Path, db_url: str, archive_on: bool) -> dict[str, Any]:
    """Full sync, incremental re-sync and no-change full re-read into a fresh store."""
    from zoneinfo import ZoneInfo

    from connectors.ticketmatic.connector import TicketmaticConnector
    from podium.archive import Archive
    from podium.engine import PageProcessor
    from podium.mapping import MappingContext, load_mapping
    from podium.sdk.connector import SyncContext
    from podium.store import Store
    from podium.store.source_hashes import mapping_key, split_unchanged

    cls, stream = TicketmaticConnector, "orders"
    spec = cls.stream(stream)
    store = Store(db_url)
    store.migrate()
    archive = Archive((folder / f"archive-{uuid.uuid4().hex[:6]}").as_uri() if archive_on else "none://")
    tz = ZoneInfo("Europe/Brussels")
    ctx = MappingContext(house=HOUSE, system=cls.name, timezone=tz)
    page_size = int(FakeTicketmatic(folder).index["page_size"])
    config = {"account": "bench", "access_key": "k", "secret_key": "s", "page_size": page_size}

    def sync(from_state: bool) -> dict[str, Any]:
        connector = cls(config, SyncContext(house=HOUSE, timezone=tz))
        vendor = FakeTicketmatic(folder)
        connector._client = vendor  # type: ignore[assignment]
        stages = {"read": 0.0, "archive": 0.0, "process": 0.0, "commit": 0.0}
        started, cpu_started = time.perf_counter(), time.process_time()
        run_id = str(uuid.uuid4())
        run = store.start_stream_run(run_id, HOUSE, cls.name, stream, spec.entity, "bench")
        mapping = load_mapping(cls.mappings_dir(), cls.name, stream)
        processor = PageProcessor(mapping, ctx, spec.entity, spec.primary_key)
        raw_key = mapping_key(cls, stream, spec.entity, spec.primary_key, ctx)
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
            split = split_unchanged(store, run, page.records, spec.primary_key, raw_key, page.context)
            result = processor.process(replace(page, records=split.todo) if split.skipped else page)
            t3 = time.perf_counter()
            store.commit_page(run, result.records, result.dead, page.state, read=result.read + split.skipped,
                              archive_uri=uri, complete_parents=result.complete_parents, vanished=mapping.vanished,
                              source_hashes=split.to_store(result.dead, spec.primary_key), unchanged=split.unchanged)
            t4 = time.perf_counter()
            stages["archive"] += t2 - t1
            stages["process"] += t3 - t2
            stages["commit"] += t4 - t3
            seq += 1
        store.finish_stream_run(run, "succeeded")
        seconds = time.perf_counter() - started - vendor.seconds
        cpu = time.process_time() - cpu_started
        stages["read"] -= vendor.seconds
        counts = run.counts
        return {"seconds": seconds, "cpu_s": cpu, "pages": seq, "requests": vendor.requests,
                "vendor_s": vendor.seconds, "stages": stages, "read": counts.read, "inserted": counts.inserted,
                "updated": counts.updated, "unchanged": counts.unchanged, "rejected": counts.rejected,
                "deleted": counts.deleted}

    full = sync(from_state=False)
    incremental = sync(from_state=True)
    reread = sync(from_state=False)
    stored = store.count_records(HOUSE)
    store.dispose()
    return {"full": full, "incremental": incremental, "reread": reread, "stored": stored,
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
    started, cpu_started = time.perf_counter(), time.process_time()
    pipeline.run(orders(), loader_file_format="jsonl")
    seconds = time.perf_counter() - started - fetch[0]
    cpu = time.process_time() - cpu_started
    with pipeline.sql_client() as client:
        tickets = (client.execute_sql("SELECT count(*) FROM orders__tickets") or [[0]])[0][0]
        order_rows = (client.execute_sql("SELECT count(*) FROM orders") or [[0]])[0][0]
    return {"seconds": seconds, "cpu_s": cpu, "tickets": int(tickets), "orders": int(order_rows),
            "peak_rss_mb": peak_rss_mb()}


def _run_worker(kind: str, folder: Path, *extra: str) -> dict[str, Any]:
    return run_worker(__file__, kind, ["--_dir", str(folder), *extra])


# -- a PostgreSQL server of the bench's own -------------------------------------------------------------
class BenchPostgres:
    """A throw-away PostgreSQL server on loopback, on its own port and data folder (as
    ``scripts/postgres.sh`` starts the test server, never that one): default settings (fsync on,
    synchronous commit), as a production server runs."""

    def __init__(self, port: int, data: Path) -> None:
        self.port, self.data = port, data
        self.bin = next((d for d in sorted(Path("/usr/lib/postgresql").glob("*/bin")) if (d / "initdb").exists()),
                        None)
        if self.bin is None:
            raise SystemExit("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); use --stores sqlite")

    def _run(self, command: str) -> None:
        as_postgres = ["su", "postgres", "-s", "/bin/sh", "-c", command] if os.getuid() == 0 else ["sh", "-c", command]
        subprocess.run(as_postgres, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        if os.getuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self._run(f"{self.bin}/initdb -D {self.data} -U postgres -A trust -E UTF8 --locale=C.UTF-8")
        self._run(f"{self.bin}/pg_ctl -D {self.data} -l {self.data}/server.log -w "
                  f"-o '-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data}' start")

    def stop(self) -> None:
        self._run(f"{self.bin}/pg_ctl -D {self.data} -m fast -w stop")
        shutil.rmtree(self.data, ignore_errors=True)

    def fresh_database(self) -> str:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, nargs="+", default=[200_000], help="one run per size")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 tickets")
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--page-size", type=int, default=100, help="orders per page (connector default 100)")
    parser.add_argument("--no-archive", action="store_true", help="leave the raw-page archive out of the sync")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt comparison")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp dir)")
    parser.add_argument("--pg-port", type=int, default=55433, help="port of the bench's own PostgreSQL")
    parser.add_argument("--pg-dir", type=Path, default=Path("/tmp/podium-bench-pg"), help="its data folder")
    parser.add_argument("--_worker", choices=["podium", "dlt"], help=argparse.SUPPRESS)
    parser.add_argument("--_dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._worker == "podium":
        print(json.dumps(podium_worker(args._dir, args._db, not args.no_archive)))
        return 0
    if args._worker == "dlt":
        print(json.dumps(dlt_worker(args._dir)))
        return 0

    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown store(s) {sorted(unknown)}; known: {', '.join(STORES)}")
    sizes = [10_000] if args.quick else args.tickets
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="podium-bench-"))
    postgres = BenchPostgres(args.pg_port, args.pg_dir) if "postgresql" in stores else None
    ok, results = True, []
    try:
        if postgres:
            postgres.start()
        for size in sizes:
            work = tmp / f"work-{size}"
            started = time.perf_counter()
            index = write_ticketmatic_pages(work, size, page_size=args.page_size)
            print(f"\nworkload: {index['tickets']:,} tickets in {index['orders']:,} orders, {len(index['pages'])} "
                  f"pages of {args.page_size} orders, {index['bytes'] / 1e6:.1f} MB JSON "
                  f"(generated in {time.perf_counter() - started:.1f} s)", flush=True)
            dlt_result = None if args.no_dlt else _run_worker("dlt", work)
            for store in stores:
                url = f"sqlite:///{work / 'podium.db'}" if store == "sqlite" else postgres.fresh_database()  # type: ignore[union-attr]
                podium = _run_worker("podium", work, "--_db", url, *(["--no-archive"] if args.no_archive else []))
                good, figures = report(index, store, podium, dlt_result, archived=not args.no_archive)
                ok = ok and good
                results.append((index["tickets"], store, figures))
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if postgres:
            postgres.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summary(results)
    return 0 if ok else 1


def report(index: dict[str, Any], store: str, podium: dict[str, Any], dlt_result: dict[str, Any] | None, *,
           archived: bool) -> tuple[bool, dict[str, Any]]:
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
        print(f"  {name:<22} {run['seconds']:8.3f} s (cpu {run['cpu_s']:7.2f} s) {run['pages']:5d} pages  "
              + (f"{rate:>9,.0f} tickets/s  " if rate else " " * 23) + stages)

    print(f"podium on {store} (archive {'on, included' if archived else 'off'}; vendor/HTTP time subtracted):")
    line("full sync", full)
    line("incremental re-sync", inc)
    line("no-change full re-read", reread)
    records_per_s = tickets / full["seconds"]
    us_per_ticket = full["seconds"] / tickets * 1e6
    commit_us = full["stages"]["commit"] / tickets * 1e6
    print(f"  {us_per_ticket:.1f} µs/ticket (of which commit_page {commit_us:.1f}); "
          f"process CPU {full['cpu_s'] / tickets * 1e6:.1f} µs/ticket")
    resync_ratio = inc["seconds"] / full["seconds"]
    reread_ratio = reread["seconds"] / full["seconds"]
    print(f"  incremental re-sync / full = {resync_ratio:.6f}   no-change re-read / full = {reread_ratio:.3f}   "
          f"peak RSS {podium['peak_rss_mb']:.0f} MB")
    figures: dict[str, Any] = {"records_per_s": round(records_per_s), "us_per_ticket": round(us_per_ticket, 1),
                               "commit_us_per_ticket": round(commit_us, 1)}
    if dlt_result is not None:
        dlt_rate = dlt_result["tickets"] / dlt_result["seconds"]
        print(f"  dlt → duckdb (merge on orderid, jsonl): {dlt_result['seconds']:.2f} s (cpu "
              f"{dlt_result['cpu_s']:.2f} s), {dlt_rate:,.0f} tickets/s, peak RSS {dlt_result['peak_rss_mb']:.0f} MB"
              f"  → podium / dlt = {records_per_s / dlt_rate:.2f}×  (goal ≥ 5×)")
        if dlt_result["tickets"] != tickets:
            print(f"!! dlt loaded {dlt_result['tickets']} tickets, expected {tickets}")
            ok = False
        figures.update(dlt_records_per_s=round(dlt_rate), ratio_vs_dlt=round(records_per_s / dlt_rate, 2),
                       cpu_ratio_vs_dlt=round(dlt_result["cpu_s"] / full["cpu_s"], 2))
    figures.update(resync_ratio=f"{resync_ratio:.6f}", reread_ratio=round(reread_ratio, 3),
                   peak_rss_mb=round(podium["peak_rss_mb"]))
    print(f"  {store}_{tickets}: " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return ok, figures


def summary(results: list[tuple[int, str, dict[str, Any]]]) -> None:
    """µs per ticket by store and size: a flat cost is the same figure at every size."""
    if not results:
        return
    print("\nµs per ticket (full sync, wall clock) by size:")
    by_store: dict[str, list[tuple[int, float]]] = {}
    for tickets, store, figures in results:
        by_store.setdefault(store, []).append((tickets, figures["us_per_ticket"]))
    for store, rows in by_store.items():
        cells = "  ".join(f"{tickets:>9,}: {us:6.1f}" for tickets, us in rows)
        growth = f"   largest / smallest = {rows[-1][1] / rows[0][1]:.2f}" if len(rows) > 1 else ""
        print(f"  {store:<11} {cells}{growth}")
    print(" ".join(f"{store}_{tickets}_{k}={v}" for tickets, store, figures in results for k, v in figures.items()))


if __name__ == "__main__":
    sys.exit(main())
