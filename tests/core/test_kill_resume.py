"""A sync killed (SIGKILL) at random points and run again ends with exactly the store an
uninterrupted sync gives: no duplicates, nothing skipped. Records and the state that follows them
commit in one transaction, so wherever the process dies, the next run resumes from a consistent point."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

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


def _env(db: Path, archive: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PODIUM_DB_URL=f"sqlite:///{db}", PODIUM_ARCHIVE_URL=archive.as_uri(),
               PODIUM_CC_KILL__TM_KEY="sandbox-access-key", PODIUM_CC_KILL__TM_SECRET="sandbox-secret-key")
    return env


def _sync(house: Path, env: dict[str, str], workers: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "podium.cli", "sync", "--house", str(house),
                             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _pages(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("select coalesce(sum(pages), 0) from sync_runs").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not migrated yet


def _statuses(db: Path) -> set[str]:
    """What `podium status` shows right after a kill, before any other sync starts."""
    store = Store(f"sqlite:///{db}")
    store.migrate()
    statuses = {row["status"] for row in store.status()}
    store.dispose()
    return statuses


def _snapshot(db: Path) -> dict[str, Any]:
    store = Store(f"sqlite:///{db}")
    records = list(store.export())
    with store.engine.connect() as conn:
        import sqlalchemy as sa

        states = sorted(conn.execute(sa.text("select stream, state from sync_state")).all())
        dead = sorted(conn.execute(sa.text("select stream, source_id, reason from dead_letters")).all())
    store.dispose()
    return {"records": records, "states": states, "dead": dead}


def _workers_left(db: Path) -> list[int]:
    """Mapping worker processes of syncs into ``db`` still alive (their parent was killed)."""
    import psutil

    left = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if (any("spawn_main" in part for part in process.info["cmdline"] or [])
                    and process.environ().get("PODIUM_DB_URL") == f"sqlite:///{db}"):
                left.append(process.pid)
        except psutil.Error:
            continue
    return left


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "two-mapping-workers"])
def test_sync_killed_at_random_points_resumes_to_the_identical_store(tmp_path: Path, workers: int) -> None:
    """The reference is always the uninterrupted single-process sync; with ``workers`` the killed syncs
    map their pages in worker processes (pages read ahead, committed in order)."""
    rng = random.Random(20261125)
    with TicketmaticSandbox(events=40, contacts=120, orders=160) as sandbox:
        house = tmp_path / "cc-kill.yaml"
        house.write_text(HOUSE.format(url=sandbox.url))
        reference_db = tmp_path / "reference.db"
        done = subprocess.run([sys.executable, "-m", "podium.cli", "sync", "--house", str(house)],
                              env=_env(reference_db, tmp_path / "ref-archive"), capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        total_pages = _pages(reference_db)
        assert total_pages >= 40, f"the workload is too small to kill in the middle ({total_pages} pages)"

        killed_db = tmp_path / "killed.db"
        env = _env(killed_db, tmp_path / "kill-archive")
        kills = 0
        while kills < 12:
            before = _pages(killed_db)
            target = before + rng.randint(1, 3)
            process = _sync(house, env, workers)
            deadline = time.monotonic() + 120
            early = rng.random() < 0.15  # sometimes die before the first page (start-up, migration, state read)
            while process.poll() is None and time.monotonic() < deadline:
                if early or _pages(killed_db) >= target:
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
        assert len(resumed["records"]) == len(reference["records"]), "duplicates or skipped records"
        assert resumed == reference
        with sqlite3.connect(killed_db) as conn:
            interrupted = conn.execute("select count(*) from sync_runs where status='interrupted'").fetchone()[0]
        # Every kill after a stream had started leaves a run that the next sync marks 'interrupted'
        # (a kill during start-up or between two streams leaves none).
        assert kills >= interrupted >= 8, f"{interrupted} interrupted runs visible for {kills} kills"
