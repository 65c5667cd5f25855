"""Tickets/s of a Ticketmatic orders sync through the engine (``run_sync``), in one process and on all cores,
on SQLite and PostgreSQL, against dlt → duckdb on the same pages; re-syncs, ``podium remap``, peak RSS and the
cost per ticket as the load grows.

Workload: the Ticketmatic sandbox's seeding at bench scale (200,000 tickets in ~60,000 nested orders by
default; ``--tickets 200000 1000000`` runs each size), written as ``GET /orders?output=withlookup`` pages
of 100 orders (the connector's page size).

(a) Podium, in a fresh process per store × worker count: ``podium.engine.run_sync`` itself, exactly as
    ``podium sync`` runs it (the house config built in code, a fresh SQLite file or a fresh database on a
    PostgreSQL server this script starts on its own port and data folder, the raw archive on local disk),
    with ``workers=1`` (everything in one process) and ``workers=<CPUs>`` (that many processes mapping:
    this one, which also commits, and ``workers - 1`` spawned ones). Only the vendor is replaced:
    ``build_connector`` (patched in that process only) returns
    the real ``TicketmaticConnector`` with its HTTP client set to a file-backed fake vendor
    (``_common.FakeTicketmatic``; the time spent playing the vendor is subtracted: it is the HTTP part).
    Phases: full sync → ``run_remap`` of its archive (no vendor; every record found unchanged) →
    incremental re-sync from the saved state (the vendor's ``lastupdatesince`` returns no order) →
    no-change full re-read (``full_refresh=True``: every page again, every record unchanged).
    CPU: this process's own (the writer) and its reaped children's (the mapping workers); on PostgreSQL also
    the server's (the postmaster and its backends). Peak RSS: the writer's own high-water mark and the sum of
    the workers'.
(b) dlt, in another fresh process, once per size: ``@dlt.resource(primary_key="orderid",
    write_disposition="merge")`` yielding each page's ``data`` list, ``pipeline.run(..., loader_file_format=
    "jsonl")`` into duckdb.

"Where the time goes": in the same ``run_sync`` calls, the time spent inside each stage's calls (connector
read + parse, raw-hash split, archive, map + validate, ``commit_page``), measured by wrapping those calls
with timers in the bench process — nothing of the engine's loop is copied here.

Records are tickets. Ends with one line of ``key=value`` figures for every store, size and worker count.

    python bench/throughput.py [--tickets 200000 [1000000 ...]] [--stores sqlite,postgresql] [--quick]
                               [--workers N [N ...]] [--page-size 100] [--no-archive] [--no-dlt] [--no-remap]
                               [--keep DIR] [--pg-port 55433] [--pg-dir DIR] [--rereads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FakeTicketmatic, peak_rss_mb, run_worker, write_ticketmatic_pages

HOUSE = "bench-house"
STORES = ("sqlite", "postgresql")
STAGES = ("read", "split", "archive", "process", "commit")


# -- measuring helpers (used in the worker process) -----------------------------------------------------
def children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended (the mapping workers, once their pool closes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def server_cpu_s(postmaster: int | None) -> float:
    """CPU seconds of a PostgreSQL server so far: the postmaster, its ended children and its live ones."""
    if postmaster is None:
        return 0.0
    import psutil

    try:
        server = psutil.Process(postmaster)
        times = server.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in server.children():
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except psutil.NoSuchProcess:  # it ended meanwhile: its time is now in children_* above
                continue
        return float(total)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0


def reset_peak_rss() -> None:
    """Start this process's high-water mark (``VmHWM``) afresh from its current RSS, so that each phase's
    peak is its own (Linux: ``/proc/self/clear_refs``; elsewhere the peak stays the process's so far)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


class WorkerPeaks:
    """The mapping workers' own high-water marks (``VmHWM``), sampled after every committed page while
    they live; their sum is the workers' peak RSS. Each run starts a pool of its own (it closes when
    ``run_sync`` returns), so ``reset`` before each run: the sum is over one pool's workers."""

    def __init__(self) -> None:
        self.by_pid: dict[int, float] = {}

    def reset(self) -> None:
        self.by_pid = {}

    def sample(self, *_: Any) -> None:
        import multiprocessing

        for child in multiprocessing.active_children():
            try:
                with open(f"/proc/{child.pid}/status", encoding="ascii") as status:
                    mb = next((int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")), 0.0)
            except OSError:
                continue
            if child.pid is not None:
                self.by_pid[child.pid] = max(mb, self.by_pid.get(child.pid, 0.0))

    @property
    def total_mb(self) -> float:
        return sum(self.by_pid.values())


class StageTimers:
    """Seconds spent inside each stage's calls; ``wrap`` puts a timer around one function."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def reset(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started

        return timed

    def wrap_pages(self, pages: Iterator[Any]) -> Iterator[Any]:
        """A page generator whose every ``next`` (the vendor's answer, decoding, pagination) counts as read."""
        while True:
            started = time.perf_counter()
            try:
                page = next(pages)
            except StopIteration:
                self.seconds["read"] += time.perf_counter() - started
                return
            self.seconds["read"] += time.perf_counter() - started
            yield page


# -- workers (each runs in a fresh process so its peak RSS and CPU are its own) -------------------------
def podium_worker(folder: Path, run_dir: Path, db_url: str, workers: int, archive_on: bool, remap_on: bool,
                  postmaster: int | None, reread_runs: int = 1) -> dict[str, Any]:
    """Full sync, remap, incremental re-sync and no-change full re-read, all through the engine itself."""
    import podium.engine as engine
    from connectors.ticketmatic.connector import TicketmaticConnector
    from podium.archive import Archive
    from podium.config import ConnectorConfig, HouseConfig
    from podium.remap import run_remap
    from podium.sdk.connector import Connector, SyncContext
    from podium.store import Store

    cls, stream = TicketmaticConnector, "orders"
    store = Store(db_url)
    store.migrate()
    archive = Archive((run_dir / "archive").as_uri() if archive_on else "none://")
    bench_house = HouseConfig(key=HOUSE, name="Bench", kind="cultuurcentrum", timezone="Europe/Brussels",
                        connectors={"ticketmatic": ConnectorConfig("ticketmatic", True, None, [stream], {}, None)},
                        path=run_dir / f"{HOUSE}.yaml")
    page_size = FakeTicketmatic(folder).page_size
    vendors: list[FakeTicketmatic] = []
    timers = StageTimers()
    peaks = WorkerPeaks()

    def bench_connector(house: HouseConfig, name: str) -> Connector:
        """The real connector with the file-backed fake vendor as its HTTP client (no credentials to resolve)."""
        connector = cls({"account": "bench", "access_key": "k", "secret_key": "s", "page_size": page_size},
                        SyncContext(house=house.key, timezone=house.tz))
        vendor = FakeTicketmatic(folder)
        vendors.append(vendor)
        connector._client = vendor  # type: ignore[assignment]
        read = connector.read
        connector.read = lambda *a, **k: timers.wrap_pages(read(*a, **k))  # type: ignore[method-assign]
        return connector

    # The vendor and the timers, in this process only; the mapping workers import the engine afresh.
    engine.build_connector = bench_connector
    engine.split_unchanged = timers.wrap("split", engine.split_unchanged)
    Archive.put = timers.wrap("archive", Archive.put)  # type: ignore[method-assign]
    engine.PageProcessor.process = timers.wrap("process", engine.PageProcessor.process)  # type: ignore[method-assign]
    Store.commit_page = timers.wrap("commit", Store.commit_page)  # type: ignore[method-assign]

    def phase(run: Callable[[], Any]) -> dict[str, Any]:
        vendors.clear()
        timers.reset()
        peaks.reset()
        reset_peak_rss()
        wall, cpu, kids, server = time.perf_counter(), time.process_time(), children_cpu_s(), server_cpu_s(postmaster)
        report = run()
        wall = time.perf_counter() - wall
        vendor_s = sum(v.seconds for v in vendors)
        stages = dict(timers.seconds)
        stages["read"] -= vendor_s
        streams = report.streams
        counts = {name: sum(getattr(s, name) for s in streams)
                  for name in ("pages", "read", "inserted", "updated", "unchanged", "rejected", "deleted")}
        return {"seconds": wall - vendor_s, "cpu_s": time.process_time() - cpu, "workers_cpu_s": children_cpu_s() - kids,
                "server_cpu_s": server_cpu_s(postmaster) - server, "vendor_s": vendor_s,
                "requests": sum(v.requests for v in vendors), "status": report.status, "stages": stages, **counts,
                "not_reproduced": sum(getattr(report, "not_reproduced", {}).values()),
                "workers_peak_rss_mb": peaks.total_mb, "peak_rss_mb": peak_rss_mb()}

    def sync(full_refresh: bool) -> Any:
        return engine.run_sync(bench_house, "ticketmatic", store=store, archive=archive, full_refresh=full_refresh,
                               trigger="bench", progress=peaks.sample, workers=workers)

    result: dict[str, Any] = {"workers": workers, "full": phase(lambda: sync(full_refresh=False))}
    if remap_on and archive_on:
        result["remap"] = phase(lambda: run_remap(bench_house, "ticketmatic", store=store, archive=archive,
                                                  workers=workers, progress=peaks.sample))
    result["incremental"] = phase(lambda: sync(full_refresh=False))
    # The best of ``rereads`` no-change re-reads (the same work each time): a shared machine's load
    # comes and goes within seconds, and the smallest wall is the one nearest the work itself.
    rereads = [phase(lambda: sync(full_refresh=True)) for _ in range(max(1, reread_runs))]
    result["reread"] = min(rereads, key=lambda p: p["seconds"])
    result["reread"]["all_seconds"] = [round(p["seconds"], 3) for p in rereads]
    result["stored"] = store.count_records(HOUSE)
    store.dispose()
    phases = [phase for phase in result.values() if isinstance(phase, dict)]
    result["peak_rss_mb"] = max(phase["peak_rss_mb"] for phase in phases)
    result["workers_peak_rss_mb"] = max(phase["workers_peak_rss_mb"] for phase in phases)
    return result


def dlt_worker(folder: Path) -> dict[str, Any]:
    """The usual dlt way: a merge resource yielding page dicts, jsonl loader files, duckdb."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    import orjson

    pages = sorted(folder.glob("page-*.json"))
    fetch = [0.0]
    work = Path(tempfile.mkdtemp(prefix="dlt-", dir=folder))

    @dlt.resource(name="orders", primary_key="orderid", write_disposition="merge")
    def orders() -> Any:
        for path in pages:
            t0 = time.perf_counter()
            body = path.read_bytes()  # the HTTP part, subtracted as on the Podium side
            fetch[0] += time.perf_counter() - t0
            yield orjson.loads(body)["data"]

    try:
        pipeline = dlt.pipeline(pipeline_name="tm_bench", pipelines_dir=str(work / "pipelines"),
                                destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")),
                                dataset_name="ticketmatic")
        started, cpu_started, kids = time.perf_counter(), time.process_time(), children_cpu_s()
        pipeline.run(orders(), loader_file_format="jsonl")
        seconds = time.perf_counter() - started - fetch[0]
        cpu = time.process_time() - cpu_started + children_cpu_s() - kids
        with pipeline.sql_client() as client:
            tickets = (client.execute_sql("SELECT count(*) FROM orders__tickets") or [[0]])[0][0]
            order_rows = (client.execute_sql("SELECT count(*) FROM orders") or [[0]])[0][0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "cpu_s": cpu, "tickets": int(tickets), "orders": int(order_rows),
            "peak_rss_mb": peak_rss_mb()}


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

    @property
    def postmaster(self) -> int:
        """The server's main process (first line of ``postmaster.pid``): its CPU and its children's are the server's."""
        return int((self.data / "postmaster.pid").read_text(encoding="ascii").split()[0])

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

    def drop_database(self, url: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[-1]}"')


# -- the parent: workload, runs, report -----------------------------------------------------------------
def workload(folder: Path, tickets: int, page_size: int) -> tuple[dict[str, Any], str]:
    """The pages for ``tickets`` (generated, or reused from a kept folder: the generator is deterministic)."""
    index_file = folder / "index.json"
    if index_file.exists():
        index: dict[str, Any] = json.loads(index_file.read_text(encoding="utf-8"))
        if index.get("page_size") == page_size and index.get("tickets", 0) >= tickets:
            return index, "reused"
    started = time.perf_counter()
    index = write_ticketmatic_pages(folder, tickets, page_size=page_size)
    return index, f"generated in {time.perf_counter() - started:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, nargs="+", default=[200_000], help="one run per size")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 tickets")
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                        help="one run per count of mapping processes, the syncing one included (default: 1 and "
                             "the CPU count); 1 maps in the syncing process only")
    parser.add_argument("--page-size", type=int, default=100, help="orders per page (connector default 100)")
    parser.add_argument("--no-archive", action="store_true", help="leave the raw-page archive out (and the remap)")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt comparison")
    parser.add_argument("--no-remap", action="store_true", help="skip the `podium remap` of the archive")
    parser.add_argument("--rereads", type=int, default=1,
                        help="no-change re-reads per run; the fastest counts (a shared machine's noise)")
    parser.add_argument("--keep", type=Path,
                        help="keep the generated pages in this folder and reuse them next time (stores are removed)")
    parser.add_argument("--pg-port", type=int, default=55433, help="port of the bench's own PostgreSQL")
    parser.add_argument("--pg-dir", type=Path, default=Path("/tmp/podium-bench-pg"), help="its data folder")
    parser.add_argument("--_worker", choices=["podium", "dlt"], help=argparse.SUPPRESS)
    parser.add_argument("--_dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_run_dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_db", help=argparse.SUPPRESS)
    parser.add_argument("--_workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--_postmaster", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._worker == "podium":
        print(json.dumps(podium_worker(args._dir, args._run_dir, args._db, args._workers, not args.no_archive,
                                       not args.no_remap, args._postmaster, args.rereads)))
        return 0
    if args._worker == "dlt":
        print(json.dumps(dlt_worker(args._dir)))
        return 0

    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown store(s) {sorted(unknown)}; known: {', '.join(STORES)}")
    sizes = [10_000] if args.quick else args.tickets
    worker_counts = sorted({max(1, n) for n in args.workers})
    tmp = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    pages_root = args.keep or tmp
    postgres = BenchPostgres(args.pg_port, args.pg_dir) if "postgresql" in stores else None
    ok, results = True, []
    print(f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        if postgres:
            postgres.start()
        for size in sizes:
            work = pages_root / f"work-{size}"
            index, how = workload(work, size, args.page_size)
            print(f"\nworkload: {index['tickets']:,} tickets in {index['orders']:,} orders, {len(index['pages'])} "
                  f"pages of {args.page_size} orders, {index['bytes'] / 1e6:.1f} MB JSON ({how})", flush=True)
            dlt_result = None if args.no_dlt else run_worker(__file__, "dlt", ["--_dir", str(work)])
            for store in stores:
                runs = []
                for workers in worker_counts:
                    run_dir = Path(tempfile.mkdtemp(prefix=f"{store}-{workers}-", dir=tmp))
                    url = (f"sqlite:///{run_dir / 'podium.db'}" if store == "sqlite"
                           else postgres.fresh_database())  # type: ignore[union-attr]
                    extra = [*(["--no-archive"] if args.no_archive else []), *(["--no-remap"] if args.no_remap else []),
                             "--rereads", str(args.rereads),
                             *(["--_postmaster", str(postgres.postmaster)] if store == "postgresql" and postgres else [])]
                    try:
                        runs.append(run_worker(__file__, "podium", ["--_dir", str(work), "--_run_dir", str(run_dir),
                                                                    "--_db", url, "--_workers", str(workers), *extra]))
                    finally:
                        shutil.rmtree(run_dir, ignore_errors=True)
                        if store == "postgresql" and postgres:
                            postgres.drop_database(url)
                good, figures = report(index, store, runs, dlt_result, archived=not args.no_archive)
                ok = ok and good
                results.append((index["tickets"], store, figures))
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if postgres:
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary(results, worker_counts)
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


def check(tickets: int, run: dict[str, Any]) -> list[str]:
    """What a run must show: every ticket stored, none rejected, re-syncs and remap changing nothing."""
    problems = []
    expected = {"full": ("inserted", tickets), "reread": ("unchanged", tickets), "incremental": ("read", 0),
                "remap": ("unchanged", tickets)}
    for name, (count, want) in expected.items():
        phase = run.get(name)
        if phase is None:
            continue
        if phase[count] != want or phase["rejected"] or phase["status"] != "succeeded":
            problems.append(f"workers={run['workers']} {name}: {count}={phase[count]} (expected {want}), "
                            f"rejected={phase['rejected']}, status {phase['status']}")
        if name == "remap" and (phase["inserted"] or phase["updated"] or phase["deleted"] or phase["not_reproduced"]):
            problems.append(f"workers={run['workers']} remap changed records (expected none)")
    if run["stored"] != tickets:
        problems.append(f"workers={run['workers']}: the store holds {run['stored']} records, expected {tickets}")
    return problems


def report(index: dict[str, Any], store: str, runs: list[dict[str, Any]], dlt_result: dict[str, Any] | None, *,
           archived: bool) -> tuple[bool, dict[str, Any]]:
    tickets = index["tickets"]
    problems = [problem for run in runs for problem in check(tickets, run)]
    if dlt_result is not None and dlt_result["tickets"] != tickets:
        problems.append(f"dlt loaded {dlt_result['tickets']} tickets, expected {tickets}")
    dlt_rate = dlt_result["tickets"] / dlt_result["seconds"] if dlt_result else None
    per_ticket = 1e6 / tickets

    print(f"\npodium on {store}, {tickets:,} tickets — run_sync (archive {'on' if archived else 'off'}; "
          "vendor/HTTP time subtracted; CPU and wall in µs/ticket):")
    heads = [f"workers={r['workers']}" + (" (in process)" if r["workers"] == 1 else " (incl. writer)") for r in runs]
    print(f"  {'':<34}" + "".join(f"{h:>22}" for h in heads))

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        print(f"  {label:<34}" + "".join(f"{cell(r):>22}" for r in runs))

    def rate(phase: dict[str, Any]) -> float:
        return tickets / phase["seconds"]

    row("full sync, tickets/s", lambda r: f"{rate(r['full']):,.0f}")
    row("full sync, µs/ticket (wall)", lambda r: f"{r['full']['seconds'] * per_ticket:.1f}")
    if dlt_rate:
        row("podium / dlt (goal ≥ 5×)", lambda r: f"{rate(r['full']) / dlt_rate:.2f}×")
    row("CPU µs/ticket: writer", lambda r: f"{r['full']['cpu_s'] * per_ticket:.1f}")
    row("CPU µs/ticket: mapping workers", lambda r: f"{r['full']['workers_cpu_s'] * per_ticket:.1f}"
        if r["workers"] > 1 else "-")
    if store == "postgresql":
        row("CPU µs/ticket: PostgreSQL server", lambda r: f"{r['full']['server_cpu_s'] * per_ticket:.1f}")
    row("peak RSS MB: writer / workers (sum)", lambda r: f"{r['peak_rss_mb']:.0f}"
        + (f" / {r['workers_peak_rss_mb']:.0f}" if r["workers"] > 1 else ""))
    phases = [name for name in ("full", "remap", "incremental", "reread") if all(name in r for r in runs)]
    row(f"  writer's by phase ({'/'.join(p[:4] for p in phases)})",
        lambda r: "/".join(f"{r[name]['peak_rss_mb']:.0f}" for name in phases))
    if all("remap" in r for r in runs):
        row("podium remap of the archive, tickets/s", lambda r: f"{rate(r['remap']):,.0f}")
    row("incremental re-sync, s (ratio)", lambda r: f"{r['incremental']['seconds']:.3f} "
        f"({r['incremental']['seconds'] / r['full']['seconds']:.6f})")
    row("no-change re-read, s (ratio)", lambda r: f"{r['reread']['seconds']:.2f} "
        f"({r['reread']['seconds'] / r['full']['seconds']:.3f})")
    if len(runs[0]["reread"].get("all_seconds", [])) > 1:
        row("  each re-read, s", lambda r: " ".join(f"{x:.2f}" for x in r["reread"]["all_seconds"]))
    if dlt_result is not None and dlt_rate:
        print(f"  dlt → duckdb (merge on orderid, jsonl): {dlt_result['seconds']:.2f} s, {dlt_rate:,.0f} tickets/s, "
              f"CPU {dlt_result['cpu_s'] * per_ticket:.1f} µs/ticket, peak RSS {dlt_result['peak_rss_mb']:.0f} MB")

    print("  where the time goes (full sync, µs/ticket inside each stage's calls in the writer process;"
          " stages that overlap in time add up to more than the wall):")
    names = {"read": "read + parse (connector)", "split": "raw-hash split (unchanged?)", "archive": "raw archive",
             "process": "map + validate (in process)", "commit": "commit_page (store)"}
    for stage in STAGES:
        row(f"  {names[stage]}", lambda r, s=stage: f"{r['full']['stages'][s] * per_ticket:.1f}")  # type: ignore[misc]
    row("  the rest (set-up, waits)",
        lambda r: f"{(r['full']['seconds'] - sum(r['full']['stages'].values())) * per_ticket:.1f}")
    # The no-change re-read is a fraction of a full sync: its stages per page (ms), where the ratio goes.
    pages = max(1, runs[0]["reread"]["pages"])
    print(f"  the no-change re-read, ms per page ({pages} pages; wall | writer CPU"
          + (" | server CPU" if store == "postgresql" else "") + "):")
    row("  wall | CPU", lambda r: f"{r['reread']['seconds'] * 1e3 / pages:.2f} | {r['reread']['cpu_s'] * 1e3 / pages:.2f}"
        + (f" | {r['reread']['server_cpu_s'] * 1e3 / pages:.2f}" if store == "postgresql" else ""))
    for stage in STAGES:
        if stage != "process":
            row(f"  {names[stage]}", lambda r, s=stage: f"{r['reread']['stages'][s] * 1e3 / pages:.2f}")  # type: ignore[misc]

    figures: dict[str, Any] = {}
    for r in runs:
        n, full = r["workers"], r["full"]
        figures.update({f"records_per_s_{n}": round(rate(full)), f"us_per_ticket_{n}": round(full["seconds"] * per_ticket, 1),
                        f"cpu_us_per_ticket_{n}": round((full["cpu_s"] + full["workers_cpu_s"]) * per_ticket, 1)})
        if dlt_rate:
            figures[f"ratio_vs_dlt_{n}"] = round(rate(full) / dlt_rate, 2)
        if store == "postgresql":
            figures[f"server_cpu_us_per_ticket_{n}"] = round(full["server_cpu_s"] * per_ticket, 1)
        figures.update({f"commit_us_per_ticket_{n}": round(full["stages"]["commit"] * per_ticket, 1),
                        f"resync_ratio_{n}": f"{r['incremental']['seconds'] / full['seconds']:.6f}",
                        f"reread_ratio_{n}": round(r["reread"]["seconds"] / full["seconds"], 3),
                        f"reread_s_{n}": round(r["reread"]["seconds"], 3),
                        f"reread_cpu_s_{n}": round(r["reread"]["cpu_s"], 3),
                        f"peak_rss_mb_{n}": round(r["peak_rss_mb"])})
        if n > 1:
            figures[f"workers_peak_rss_mb_{n}"] = round(r["workers_peak_rss_mb"])
        if "remap" in r:
            figures[f"remap_records_per_s_{n}"] = round(rate(r["remap"]))
    if dlt_rate:
        figures["dlt_records_per_s"] = round(dlt_rate)
    if len(runs) > 1 and runs[0]["workers"] == 1:
        figures["speedup"] = round(runs[0]["full"]["seconds"] / runs[-1]["full"]["seconds"], 2)
        print(f"  all cores / one process = {figures['speedup']}×")
    for problem in problems:
        print(f"!! {problem}")
    print(f"  {store}_{tickets}: " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return not problems, figures


def summary(results: list[tuple[int, str, dict[str, Any]]], worker_counts: list[int]) -> None:
    """µs per ticket by store, worker count and size: a flat cost is the same figure at every size."""
    if not results:
        return
    print("\ncost per ticket by size (full sync, µs/ticket wall | CPU of writer + workers):")
    for store in dict.fromkeys(store for _, store, _ in results):
        for n in worker_counts:
            rows = [(tickets, f[f"us_per_ticket_{n}"], f[f"cpu_us_per_ticket_{n}"])
                    for tickets, s, f in results if s == store]
            cells = "  ".join(f"{tickets:>9,}: {wall:6.1f} | {cpu:6.1f}" for tickets, wall, cpu in rows)
            growth = (f"   largest / smallest = {rows[-1][1] / rows[0][1]:.2f} | {rows[-1][2] / rows[0][2]:.2f}"
                      if len(rows) > 1 else "")
            print(f"  {store:<11} workers={n:<3} {cells}{growth}")
    print(" ".join(f"{store}_{tickets}_{k}={v}" for tickets, store, figures in results for k, v in figures.items()))


if __name__ == "__main__":
    sys.exit(main())
