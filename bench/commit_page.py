"""``Store.commit_page`` alone: the same processed pages committed into a fresh store (first load) and again
(unchanged), µs per record of wall, this process's CPU and (PostgreSQL) the server backend's CPU.

The pages are those of a real Ticketmatic full sync (``_common.write_ticketmatic_pages``, the fake vendor,
``run_sync`` at workers=1): its ``commit_page`` calls are captured once into a pickle, then replayed, so two
trees (e.g. ``main`` and a branch) can be compared back to back on identical input::

    python bench/commit_page.py capture --tickets 30000 --out /tmp/calls.pkl
    python bench/commit_page.py replay /tmp/calls.pkl sqlite:////tmp/cb.db
    python bench/commit_page.py replay /tmp/calls.pkl postgresql+psycopg://postgres@127.0.0.1:55432/somedb

``replay`` needs an empty database (a new SQLite file, or a new PostgreSQL database).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FakeTicketmatic, write_ticketmatic_pages


def capture(tickets: int, out: Path) -> None:
    import podium.engine as engine
    from connectors.ticketmatic.connector import TicketmaticConnector
    from podium.archive import Archive
    from podium.config import ConnectorConfig, HouseConfig
    from podium.sdk.connector import SyncContext
    from podium.store import Store

    work = Path(tempfile.mkdtemp(prefix="commit-page-"))
    folder = work / "pages"
    write_ticketmatic_pages(folder, tickets, page_size=100)
    store = Store(f"sqlite:///{work / 'capture.db'}")
    store.migrate()
    house = HouseConfig(key="bench-house", name="Bench", kind="cultuurcentrum", timezone="Europe/Brussels",
                        connectors={"ticketmatic": ConnectorConfig("ticketmatic", True, None, ["orders"], {}, None)},
                        path=work / "bench-house.yaml")

    def connector(house: HouseConfig, name: str) -> Any:
        built = TicketmaticConnector({"account": "bench", "access_key": "k", "secret_key": "s", "page_size": 100},
                                     SyncContext(house=house.key, timezone=house.tz))
        built._client = FakeTicketmatic(folder)  # type: ignore[assignment]
        return built

    engine.build_connector = connector
    calls: list[Any] = []
    commit = Store.commit_page

    def captured(self: Store, run: Any, records: Any, dead: Any, state: Any, **kwargs: Any) -> Any:
        calls.append((list(records), list(dead), state, kwargs))
        return commit(self, run, records, dead, state, **kwargs)

    Store.commit_page = captured  # type: ignore[method-assign]
    engine.run_sync(house, "ticketmatic", store=store, archive=Archive("none://"), full_refresh=False,
                    trigger="bench", workers=1)
    store.dispose()
    shutil.rmtree(work, ignore_errors=True)
    out.write_bytes(pickle.dumps(calls, protocol=5))
    print(f"{len(calls)} pages, {sum(len(c[0]) for c in calls):,} records -> {out}")


def replay(calls_file: Path, url: str) -> None:
    from podium.store import Store

    calls = pickle.loads(calls_file.read_bytes())
    store = Store(url)
    store.migrate()
    records = sum(len(c[0]) for c in calls)

    def server_cpu_s() -> float:
        """The CPU of the pooled connection's backend (the pages are committed on that one connection)."""
        if store.engine.dialect.name != "postgresql":
            return 0.0
        with store.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    print(f"{records:,} records in {len(calls)} pages; load average {os.getloadavg()[0]:.2f}")
    for label in ("first load", "unchanged"):
        run = store.start_stream_run(str(uuid.uuid4()), "bench-house", "ticketmatic", "orders", "ticket", "bench")
        wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu_s()
        for page, dead, state, kwargs in calls:
            store.commit_page(run, page, dead, state, **kwargs)
        wall, cpu, server = time.perf_counter() - wall, time.process_time() - cpu, server_cpu_s() - server
        store.finish_stream_run(run, "succeeded")
        print(f"  {label}: wall {wall / records * 1e6:.1f}, CPU {cpu / records * 1e6:.1f}, server CPU "
              f"{server / records * 1e6:.1f} µs/record; {run.counts}")
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    capturing = commands.add_parser("capture")
    capturing.add_argument("--tickets", type=int, default=30_000)
    capturing.add_argument("--out", type=Path, required=True)
    replaying = commands.add_parser("replay")
    replaying.add_argument("calls", type=Path)
    replaying.add_argument("url")
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.tickets, args.out)
    else:
        replay(args.calls, args.url)


if __name__ == "__main__":
    main()
