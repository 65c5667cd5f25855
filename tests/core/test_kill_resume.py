"""A sync killed (SIGKILL) at random points and run again ends with exactly the store an
uninterrupted sync gives: no duplicates, nothing skipped. Records and the state that follows them
commit in one transaction, so wherever the process dies, the next run resumes from a consistent point."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.ticketmatic.sandbox import TicketmaticSandbox
from podium.store import Store

HOUSE = """\
house: cc-kill
name: CC Kill Test
kind: cultuurcentrum
connectors:
  ticketmatic:
    settings: {{account: killtest, base_url: "{url}", page_size: 7}}
    credentials: {{env: {{access_key: PODIUM_CC_KILL__TM_KEY, secret_key: PODIUM_CC_KILL__TM_SECRET}}}}
"""


def _env(db_url: str, archive: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PODIUM_DB_URL=db_url, PODIUM_ARCHIVE_URL=archive.as_uri(),
               PODIUM_CC_KILL__TM_KEY="sandbox-access-key", PODIUM_CC_KILL__TM_SECRET="sandbox-secret-key")
    return env


WORKERS_MAP_ALL = 0  # ``workers`` value of the variant whose spawned worker maps every page (none here)
# The same CLI with the syncing process's own mapping switched off (the attribute the tests set in-process).
_CLI_WORKERS_MAP_ALL = ("import sys; from podium.pipeline import PagePipeline; PagePipeline.maps_here = False; "
                        "from podium.cli import main; sys.argv[0] = 'podium'; main()")


def _sync(house: Path, env: dict[str, str], workers: int = 1) -> subprocess.Popen[bytes]:
    command = ["-m", "podium.cli"] if workers != WORKERS_MAP_ALL else ["-c", _CLI_WORKERS_MAP_ALL]
    return subprocess.Popen([sys.executable, *command, "sync", "--house", str(house),
                             "--workers", str(workers or 2)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _pages(engine: sa.Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("select coalesce(sum(pages), 0) from sync_runs")).scalar_one())
    except sa.exc.OperationalError:
        return 0  # no file yet, or locked for a moment
    except sa.exc.ProgrammingError:
        return 0  # not migrated yet (PostgreSQL)


def _statuses(db_url: str) -> set[str]:
    """What `podium status` shows right after a kill, before any other sync starts."""
    store = Store(db_url)
    store.migrate()
    statuses = {row["status"] for row in store.status()}
    store.dispose()
    return statuses


def _snapshot(db_url: str) -> dict[str, Any]:
    store = Store(db_url)
    records = list(store.export())
    with store.engine.connect() as conn:
        states = sorted(tuple(r) for r in conn.execute(sa.text("select stream, state from sync_state")).all())
        dead = sorted(tuple(r) for r in conn.execute(
            sa.text("select stream, source_id, reason from dead_letters")).all())
        interrupted = conn.execute(sa.text("select count(*) from sync_runs where status='interrupted'")).scalar_one()
    store.dispose()
    return {"records": records, "states": states, "dead": dead, "interrupted": interrupted}


def _workers_left(db_url: str) -> list[int]:
    """Mapping worker processes of syncs into ``db_url`` still alive (their parent was killed)."""
    import psutil

    left = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if (any("spawn_main" in part for part in process.info["cmdline"] or [])
                    and process.environ().get("PODIUM_DB_URL") == db_url):
                left.append(process.pid)
        except psutil.Error:
            continue
    return left


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2, WORKERS_MAP_ALL],
                         ids=["in-process", "two-mapping-processes", "a-spawned-worker-maps-every-page"])
def test_sync_killed_at_random_points_resumes_to_the_identical_store(tmp_path: Path, store_url: str,
                                                                     workers: int) -> None:
    """On each store; the reference is always an uninterrupted single-process sync into SQLite (the stores
    must agree too); with ``workers`` the killed syncs map their pages in a worker process as well (pages
    read ahead, committed in order): at 2 the syncing process maps while its worker starts (a sync killed
    within a few pages may never hand one out), so the last variant has the worker map every page."""
    rng = random.Random(20261125)
    with TicketmaticSandbox(events=40, contacts=120, orders=160) as sandbox:
        house = tmp_path / "cc-kill.yaml"
        house.write_text(HOUSE.format(url=sandbox.url))
        reference_db = f"sqlite:///{tmp_path / 'reference.db'}"
        done = subprocess.run([sys.executable, "-m", "podium.cli", "sync", "--house", str(house)],
                              env=_env(reference_db, tmp_path / "ref-archive"), capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        total_pages = _pages(sa.create_engine(reference_db))
        assert total_pages >= 40, f"the workload is too small to kill in the middle ({total_pages} pages)"

        killed_db = store_url
        killed = sa.create_engine(killed_db, poolclass=sa.pool.NullPool)
        env = _env(killed_db, tmp_path / "kill-archive")
        kills = 0
        while kills < 12:
            before = _pages(killed)
            target = before + rng.randint(1, 3)
            process = _sync(house, env, workers)
            deadline = time.monotonic() + 120
            early = rng.random() < 0.15  # sometimes die before the first page (start-up, migration, state read)
            while process.poll() is None and time.monotonic() < deadline:
                if early or _pages(killed) >= target:
                    time.sleep(rng.uniform(0, 0.05) if not early else rng.uniform(0.2, 1.2))
                    break
                time.sleep(0.005)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                assert "running" not in _statuses(killed_db), "a killed sync still reads 'running'"
            else:
                assert process.returncode == 0, process.stderr.read().decode()[-2000:] if process.stderr else ""
                break  # it finished before we could kill it: the remaining work was too small
        assert kills >= 10, f"only {kills} kills landed mid-sync"
        final = _sync(house, env, workers)
        assert final.wait(timeout=300) == 0, final.stderr.read().decode()[-2000:] if final.stderr else ""

        deadline = time.monotonic() + 30  # a killed sync's workers notice within a second
        while _workers_left(killed_db) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _workers_left(killed_db) == [], "a killed sync left its mapping workers running"

        reference, resumed = _snapshot(reference_db), _snapshot(killed_db)
        killed.dispose()
        interrupted = resumed.pop("interrupted")
        reference.pop("interrupted")
        assert len(resumed["records"]) == len(reference["records"]), "duplicates or skipped records"
        assert resumed == reference
        # Every kill after a stream had started leaves a run that the next sync marks 'interrupted'
        # (a kill during start-up or between two streams leaves none).
        assert kills >= interrupted >= 8, f"{interrupted} interrupted runs visible for {kills} kills"
