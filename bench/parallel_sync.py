"""Single-process vs all-cores Ticketmatic orders sync (pages mapped in worker processes), and ``podium remap``.

Workload: the same as ``bench/throughput.py`` (``_common.write_ticketmatic_pages``: the Ticketmatic
sandbox's seeding, ≥ 200,000 tickets in ~60,000 orders, pages of 100 orders), served by the same
file-backed fake vendor (vendor time subtracted).

For each worker count (1 = today's in-process path, and the machine's CPU count), in a fresh
process and a fresh store (a SQLite file, or with ``--pg`` a new database on that PostgreSQL
server), ``run_sync`` itself with the connector's HTTP client swapped for the fake vendor: the
connector reads pages, ``PagePipeline.run`` archives each (local gzip) and maps + validates it in
this process or in the workers, and the writer thread commits each page with its state, in order,
behind the reading. Then ``run_remap`` replays that archive (no vendor; every record found
unchanged) with the same worker count. Wall time and CPU time (this process's threads and the
ended workers) are printed; peak RSS is the writer's own and the sum over the workers' high-water
marks.

Ends with one line: ``records_per_s_1=… records_per_s_N=… speedup=… us_per_ticket_1=… …``

    python bench/parallel_sync.py [--tickets 200000] [--quick] [--workers N] [--keep DIR]
                                  [--pages DIR (a workload written before)] [--pg SERVER_URL]
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


def _fresh_database(server_url: str) -> tuple[str, str]:
    """A new, empty database on the PostgreSQL server of ``server_url``: (its URL, its name)."""
    import sqlalchemy as sa

    name = f"podium_parallel_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name, name


def _drop_database(server_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def sync_worker(folder: Path, runs: Path, workers: int, server_url: str | None) -> dict[str, Any]:
    """One full sync into a fresh store through ``run_sync`` itself, then a remap of its archive."""
    from zoneinfo import ZoneInfo

    import podium.engine
    from connectors.ticketmatic.connector import TicketmaticConnector
    from podium.archive import Archive
    from podium.config import ConnectorConfig, HouseConfig
    from podium.remap import run_remap
    from podium.sdk.connector import SyncContext
    from podium.store import Store

    cls, stream = TicketmaticConnector, "orders"
    work = runs / f"run-{workers}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    database = None
    if server_url:
        url, database = _fresh_database(server_url)
    else:
        url = f"sqlite:///{work / 'podium.db'}"
    store = Store(url)
    store.migrate()
    archive = Archive((work / "archive").as_uri())
    tz = ZoneInfo("Europe/Brussels")
    vendor = FakeTicketmatic(folder)

    def bench_connector(_house: HouseConfig, _name: str) -> TicketmaticConnector:
        """The connector as ``run_sync`` builds it, its HTTP client replaced by the file-backed vendor."""
        config = {"account": "bench", "access_key": "k", "secret_key": "s", "page_size": vendor.page_size}
        connector = cls(config, SyncContext(house=HOUSE, timezone=tz))
        connector._client = vendor  # type: ignore[assignment]
        return connector

    podium.engine.build_connector = bench_connector  # type: ignore[assignment]
    house = HouseConfig(key=HOUSE, name="Bench", kind="cultuurcentrum", timezone="Europe/Brussels",
                        connectors={"ticketmatic": ConnectorConfig("ticketmatic", True, None, None, {}, None)},
                        path=work / f"{HOUSE}.yaml")
    workers_peak = 0.0

    def watch_workers(_stream: str, _report: Any) -> None:
        nonlocal workers_peak
        workers_peak = max(workers_peak, _children_peak_mb())

    try:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        report = podium.engine.run_sync(house, cls.name, store=store, archive=archive, streams=[stream],
                                        workers=workers, progress=watch_workers if workers > 1 else None)
        sync_seconds = time.perf_counter() - started - vendor.seconds
        sync_cpu = _cpu_seconds() - cpu_started
        if report.status != "succeeded":
            raise SystemExit(f"the sync {report.status}: {report.first_error()}")
        synced = report.streams[0]

        started, cpu_started = time.perf_counter(), _cpu_seconds()
        remap = run_remap(house, cls.name, store=store, archive=archive, streams=[stream], workers=workers)
        remap_seconds = time.perf_counter() - started
        remap_cpu = _cpu_seconds() - cpu_started
        remapped = remap.streams[0]
        return {"workers": workers, "store": store.engine.dialect.name, "seconds": sync_seconds,
                "cpu_seconds": sync_cpu, "pages": synced.pages, "inserted": synced.inserted,
                "deleted": synced.deleted, "rejected": synced.rejected, "stored": store.count_records(HOUSE),
                "remap_seconds": remap_seconds, "remap_cpu_seconds": remap_cpu, "remap_status": remap.status,
                "remap_unchanged": remapped.unchanged, "remap_changed": remapped.inserted + remapped.updated,
                "peak_rss_mb": peak_rss_mb(), "workers_peak_rss_mb": workers_peak}
    finally:
        store.dispose()
        if server_url and database:
            _drop_database(server_url, database)


def _cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its ended children (the mapping workers, once the
    sync has shut its pool down)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 tickets")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the all-cores run (default: CPUs)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp dir)")
    parser.add_argument("--pages", type=Path, help="use the workload already written in this folder (its index.json)")
    parser.add_argument("--pg", metavar="URL", help="sync into a fresh database on this PostgreSQL server "
                        "(e.g. postgresql+psycopg://postgres@127.0.0.1:55432/postgres), not a SQLite file")
    parser.add_argument("--_worker", choices=["sync"], help=argparse.SUPPRESS)
    parser.add_argument("--_dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_runs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._worker == "sync":
        print(json.dumps(sync_worker(args._dir, args._runs, args._workers, args.pg)))
        return 0

    tickets = 10_000 if args.quick else args.tickets
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="podium-parallel-"))
    results = []
    try:
        work = args.pages or tmp / "work"
        index = (json.loads((work / "index.json").read_text()) if args.pages
                 else write_ticketmatic_pages(work, tickets))
        print(f"workload: {index['tickets']:,} tickets in {index['orders']:,} orders, {len(index['pages'])} pages, "
              f"{index['bytes'] / 1e6:.1f} MB JSON; {os.cpu_count()} CPUs")
        for workers in sorted({1, max(1, args.workers)}):
            results.append(run_worker(__file__, "sync", ["--_dir", str(work), "--_runs", str(tmp),
                                                         "--_workers", str(workers),
                                                         *(["--pg", args.pg] if args.pg else [])]))
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
        print(f"  sync  workers={n:<2} ({where}, {r['store']}): {r['seconds']:7.2f} s  {rate:>9,.0f} tickets/s  "
              f"{1e6 / rate:6.1f} µs/ticket  CPU {1e6 * r['cpu_seconds'] / total:6.1f} µs/ticket  "
              f"peak RSS writer {r['peak_rss_mb']:.0f} MB"
              + (f" + workers {r['workers_peak_rss_mb']:.0f} MB" if n > 1 else ""))
        print(f"  remap workers={n:<2}: {r['remap_seconds']:7.2f} s  {remap_rate:>9,.0f} tickets/s  "
              f"{1e6 / remap_rate:6.1f} µs/ticket  CPU {1e6 * r['remap_cpu_seconds'] / total:6.1f} µs/ticket  "
              f"({r['remap_unchanged']:,} unchanged, {r['remap_changed']} changed)")
        if r["inserted"] + r["deleted"] != total or r["rejected"] or r["stored"] != total:
            print(f"!! workers={n}: inserted={r['inserted']} deleted={r['deleted']} rejected={r['rejected']} "
                  f"stored={r['stored']} (expected {total})")
            ok = False
        if r["remap_status"] != "succeeded" or r["remap_changed"]:
            print(f"!! remap workers={n}: {r['remap_status']}, {r['remap_changed']} changed (expected none)")
            ok = False
        figures.update({f"records_per_s_{n}": round(rate), f"us_per_ticket_{n}": round(1e6 / rate, 1),
                        f"cpu_us_per_ticket_{n}": round(1e6 * r["cpu_seconds"] / total, 1),
                        f"remap_records_per_s_{n}": round(remap_rate), f"peak_rss_mb_{n}": round(r["peak_rss_mb"]),
                        f"workers_peak_rss_mb_{n}": round(r["workers_peak_rss_mb"])})
    if len(results) > 1:
        figures["speedup"] = round(results[0]["seconds"] / results[-1]["seconds"], 2)
        print(f"  all cores / single process = {figures['speedup']}×")
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
