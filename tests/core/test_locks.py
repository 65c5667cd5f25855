"""One sync per house × connector, on SQLite and PostgreSQL, with real processes: syncs started
together run once (the others answer "already running"), a killed sync reads 'interrupted' at once,
fresh stores migrate safely when several processes start at the same moment, and a store error
never carries record data into the run, the report or the log.

The vendor sandbox holds a request at a gate, so "while the sync is running" is a fact the test
controls, not a timing guess."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.ticketmatic.sandbox import TicketmaticSandbox
from podium.config import load_house
from podium.engine import PageProcessor, run_sync
from podium.sandbox import Request, Response
from podium.store import Store, dumps

HOUSE = """\
house: cc-lock
name: CC Lock Test
kind: cultuurcentrum
connectors:
  ticketmatic:
    settings: {{account: locktest, base_url: "{url}", page_size: 5}}
    credentials: {{env: {{access_key: PODIUM_CC_LOCK__TM_KEY, secret_key: PODIUM_CC_LOCK__TM_SECRET}}}}
"""
WAIT = 120.0  # seconds before a stuck wait fails the test (a hang guard, not a speed assertion)


class GatedSandbox(TicketmaticSandbox):
    """Ticketmatic that answers the first ``open_requests`` API calls, then holds the next at a gate."""

    def __init__(self, open_requests: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_requests = open_requests
        self.gate, self.holding = threading.Event(), threading.Event()
        self._answered = 0
        self._count_lock = threading.Lock()

    def route(self, request: Request) -> Response:
        if "diagnostics" not in request.path:
            with self._count_lock:
                self._answered += 1
                held = self._answered > self.open_requests
            if held and not self.gate.is_set():
                self.holding.set()
                self.gate.wait(WAIT)
        return super().route(request)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def _env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PODIUM_DB_URL": store_url, "PODIUM_ARCHIVE_URL": (tmp_path / "archive").as_uri(),
            "PODIUM_CC_LOCK__TM_KEY": "sandbox-access-key", "PODIUM_CC_LOCK__TM_SECRET": "sandbox-secret-key"}


def _podium_sync(house: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "podium.cli", "sync", "--house", str(house), "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _sync_runs(store_url: str) -> list[dict[str, Any]]:
    store = Store(store_url)
    try:
        with store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text("select * from sync_runs"))]
    finally:
        store.dispose()


def test_syncs_of_one_house_and_connector_started_together_run_once(store_url: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with GatedSandbox(open_requests=1, events=12, contacts=10, orders=10) as sandbox:
        house = tmp_path / "cc-lock.yaml"
        house.write_text(HOUSE.format(url=sandbox.url))
        Store(store_url).migrate()  # the race under test is the sync's, not the migration's
        env = _env(store_url, tmp_path)
        syncs = [_podium_sync(house, env) for _ in range(4)]
        try:
            assert sandbox.holding.wait(WAIT), "no sync reached the vendor"
            # One sync holds the lock (stopped at the gate, mid-stream); the others must give up by themselves.
            _wait_for(lambda: sum(p.poll() is not None for p in syncs) == 3, "three syncs to answer")
            losers = [p for p in syncs if p.poll() is not None]
            for loser in losers:
                stdout, stderr = loser.communicate()
                assert loser.returncode == 4, stderr[-2000:]
                (report,) = json.loads(stdout)
                assert report["status"] == "already_running" and report["streams"] == {}
                assert report["already_running"]["owner"] and report["already_running"]["since"]
                assert "already being synced by run" in stderr
            sandbox.gate.set()
            (winner,) = [p for p in syncs if p not in losers]
            stdout, stderr = winner.communicate(timeout=WAIT)
            assert winner.returncode == 0, stderr[-2000:]
            (report,) = json.loads(stdout)
            assert report["status"] == "succeeded"
        finally:
            sandbox.gate.set()
            for process in syncs:
                if process.poll() is None:
                    process.kill()
                    process.wait()

        runs = _sync_runs(store_url)
        assert {r["run_id"] for r in runs} == {report["run_id"]}, "only the winner wrote runs"
        assert sorted(r["status"] for r in runs) == ["succeeded"] * 3 and not any(r["error"] for r in runs)
        store = Store(store_url)
        concurrent = list(store.export())
        assert store.dead_letters(status=None) == []
        assert store.sync_lock_holder("cc-lock", "ticketmatic") is None, "the winner released its lock"
        store.dispose()

        monkeypatch.setenv("PODIUM_CC_LOCK__TM_KEY", "sandbox-access-key")
        monkeypatch.setenv("PODIUM_CC_LOCK__TM_SECRET", "sandbox-secret-key")
        reference = Store(f"sqlite:///{tmp_path / 'reference.db'}")
        reference.migrate()
        assert run_sync(load_house(house), "ticketmatic", store=reference).status == "succeeded"
        assert concurrent == list(reference.export()), "the store differs from a single sync's"
        reference.dispose()


def test_a_killed_sync_reads_interrupted_at_once(store_url: str, tmp_path: Path) -> None:
    with GatedSandbox(open_requests=1, events=12, contacts=10, orders=10) as sandbox:
        house = tmp_path / "cc-lock.yaml"
        house.write_text(HOUSE.format(url=sandbox.url))
        env = _env(store_url, tmp_path)
        sync = _podium_sync(house, env)
        try:
            assert sandbox.holding.wait(WAIT), "the sync never reached the vendor"
            _wait_for(lambda: any(r["pages"] for r in _sync_runs(store_url)), "the first page to commit")
            status = subprocess.run([sys.executable, "-m", "podium.cli", "status", "--json"], env=env,
                                    capture_output=True, text=True, timeout=WAIT)
            (row,) = json.loads(status.stdout)
            assert row["status"] == "running" and row["owner"].endswith(f":{sync.pid}")
            sync.send_signal(signal.SIGKILL)
            sync.wait()
        finally:
            sandbox.gate.set()
            if sync.poll() is None:
                sync.kill()
                sync.wait()
        status = subprocess.run([sys.executable, "-m", "podium.cli", "status", "--json"], env=env,
                                capture_output=True, text=True, timeout=WAIT)
        assert status.returncode == 0, status.stderr
        (row,) = json.loads(status.stdout)
        assert row["status"] == "interrupted" and row["error_class"] == "interrupted"
        assert f":{sync.pid} stopped before finishing" in row["error"]
        assert [r["status"] for r in _sync_runs(store_url)] == ["running"], "status only reads; no sync ran"

        # The next sync of the pair takes over the dead sync's lock and resumes.
        again = subprocess.run([sys.executable, "-m", "podium.cli", "sync", "--house", str(house)], env=env,
                               capture_output=True, text=True, timeout=WAIT)
        assert again.returncode == 0, again.stderr[-2000:]
        assert {r["status"] for r in _sync_runs(store_url)} == {"interrupted", "succeeded"}


MIGRATE = """\
import pathlib, sys, time
from podium.store import Store
store = Store(sys.argv[1])
pathlib.Path(sys.argv[2]).touch()
while not pathlib.Path(sys.argv[3]).exists():
    time.sleep(0.001)
store.migrate()
"""


def test_four_processes_migrating_a_fresh_store_at_once_all_succeed(store_url: str, tmp_path: Path) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(4)]
    processes = [subprocess.Popen([sys.executable, "-c", MIGRATE, store_url, str(mark), str(go)],
                                  stderr=subprocess.PIPE, text=True) for mark in ready]
    try:
        _wait_for(lambda: all(mark.exists() for mark in ready), "the migrating processes to start")
        go.touch()  # all four start their migration at the same moment
        for process in processes:
            _, stderr = process.communicate(timeout=WAIT)
            assert process.returncode == 0, stderr[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parents[2] / "podium/store/migrations"))
    store = Store(store_url)
    with store.engine.connect() as conn:
        versions = conn.execute(sa.text("select version_num from alembic_version")).scalars().all()
    assert versions == [ScriptDirectory.from_config(config).get_current_head()]
    assert store.status() == [] and store.count_records() == 0
    store.dispose()


EMAIL, NAME = "an.desmet@voorbeeld.be", "An Desmet-Vermeulen"


def test_a_store_error_keeps_record_data_out_of_the_run_the_report_and_the_log(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    original = PageProcessor.process

    def with_a_record_the_store_refuses(self: PageProcessor, page: Any) -> Any:
        result = original(self, page)
        if result.records:  # NOT NULL violated; the record's data (with personal data) is a parameter
            result.records[-1].data = dumps({"email": EMAIL, "name": NAME})
            result.records[-1].source_id = None  # type: ignore[assignment]
        return result

    monkeypatch.setattr(PageProcessor, "process", with_a_record_the_store_refuses)
    monkeypatch.setenv("PODIUM_CC_LOCK__TM_KEY", "sandbox-access-key")
    monkeypatch.setenv("PODIUM_CC_LOCK__TM_SECRET", "sandbox-secret-key")
    with TicketmaticSandbox(events=6, contacts=6, orders=6) as sandbox:
        house = tmp_path / "cc-lock.yaml"
        house.write_text(HOUSE.format(url=sandbox.url))
        with caplog.at_level(logging.DEBUG):
            report = run_sync(load_house(house), "ticketmatic", store=store, streams=["contacts"])
    assert report.status == "failed" and report.first_error()[1] == "internal"
    (run,) = store.runs(report.run_id)
    assert run["status"] == "failed" and "store error (" in run["error"]
    assert "source_id" in run["error"], "the error still says what went wrong"
    for where, text in (("sync_runs.error", run["error"]), ("report", json.dumps(report.as_dict())),
                        ("log", caplog.text), ("status", json.dumps(store.status()))):
        for personal in (EMAIL, NAME, "voorbeeld"):
            assert personal not in text, f"{personal!r} leaked into the {where}"
