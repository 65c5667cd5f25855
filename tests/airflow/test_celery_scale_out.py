"""Scale-out proven: the fleet's sync DAGs through Airflow's CeleryExecutor, a real Redis broker and
two Celery workers, on PostgreSQL, the shape ``docker/docker-compose.yaml`` describes, on loopback.

``scripts/airflow.sh start --celery 2 --no-sandboxes`` starts Redis, the API server, scheduler, DAG
processor, triggerer and two workers (concurrency 1 each) in one process group; the vendor
sandboxes run in this test on port 0 and the house files point at them; credentials come from
``AIRFLOW_CONN_*`` variables every component inherits. The test triggers the sync DAGs through
Airflow's REST API as an operator would, waits for the runs, reads the task instances (their
``hostname`` is the worker's name: ``plugins.podium_provider.worker_name``) and the Podium store,
then ``scripts/airflow.sh stop`` must leave no process of the group behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from podium.store import Store
from tests.airflow.support import write_fleet_settings
from tests.conftest import _drop_pg_database, _fresh_pg_database

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "airflow.sh"
TM_SECRET = "sandbox-secret-key"
WORKERS = ("worker1", "worker2")
# Six Ticketmatic houses (two of them with Yesplan too): with one task at a time per worker, more
# houses than one worker can hold, so both must take tasks.
TM_HOUSES = {"cc-hasselt": "cchasselt", "cc-genk": "ccgenk", "gc-jette": "gcjette",
             "gc-de-kring": "gcdekring", "ko-vooruit": "kovooruit", "ko-desingel": "kodesingel"}
YP_HOUSES = ("cc-hasselt", "ko-desingel")
DAG_IDS = ("podium_sync_ticketmatic", "podium_sync_yesplan")
# The machine running the tests is slow and shared: generous bounds, none of them asserted as speed.
START_TIMEOUT_S = 600
READY_TIMEOUT_S = 300
RUN_TIMEOUT_S = 900
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, every_s: float = 2.0) -> T:
    """Call ``probe`` until it returns something other than None; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout_s:.0f} s")
        time.sleep(every_s)


def _write_houses(folder: Path, tm_url: str, yp_url: str) -> None:
    for house, account in TM_HOUSES.items():
        connectors: dict[str, Any] = {"ticketmatic": {
            "settings": {"account": account, "base_url": tm_url, "requests_per_second": 500},
            "credentials": {"conn_id": f"ticketmatic_{house.replace('-', '_')}"}}}
        if house in YP_HOUSES:
            connectors["yesplan"] = {
                "settings": {"base_url": f"{yp_url}/{account}", "requests_per_second": 500},
                "credentials": {"conn_id": f"yesplan_{house.replace('-', '_')}"}}
        doc = {"house": house, "name": house.replace("-", " ").title(),
               "kind": "cultuurcentrum" if house.startswith("cc-") else "gemeenschapscentrum"
               if house.startswith("gc-") else "kunstenorganisatie",
               "connectors": connectors}
        (folder / f"{house}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    # Manual DAGs: unpausing must not add a scheduled run beside the one the test triggers.
    write_fleet_settings(folder, connectors={"ticketmatic": {"schedule": None}, "yesplan": {"schedule": None}})


def _connections(tm_access_key: str, yp_api_key: str) -> dict[str, str]:
    env = {}
    for house in TM_HOUSES:
        conn = {"conn_type": "podium_hmac", "login": tm_access_key, "password": TM_SECRET}
        env[f"AIRFLOW_CONN_TICKETMATIC_{house.replace('-', '_').upper()}"] = json.dumps(conn)
    for house in YP_HOUSES:
        conn = {"conn_type": "podium_api_key", "password": yp_api_key}
        env[f"AIRFLOW_CONN_YESPLAN_{house.replace('-', '_').upper()}"] = json.dumps(conn)
    return env


def _operator_env(overrides: dict[str, str]) -> dict[str, str]:
    """The shell an operator starts Airflow from: none of this test session's own Airflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(overrides)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)  # this checkout's plugins/ and podium/, also in every Airflow component
    return env


def _script(command: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *command], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def _log_tails(log_dir: Path, lines: int = 25) -> str:
    parts = []
    for path in sorted(log_dir.glob("*.log")):
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"--- {path.name}\n" + "\n".join(tail))
    return "\n".join(parts)


def _trouble(logs: Path, dag_id: str, run_id: str, tis: list[dict[str, Any]]) -> str:
    """The task logs' tails of the run's house syncs that did not succeed (kept for the failure message:
    the temporary AIRFLOW_HOME does not outlive the test session)."""
    parts = []
    for ti in tis:
        if ti["task_id"] == "sync" and ti["state"] != "success":
            folder = logs / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=sync" / f"map_index={ti['map_index']}"
            for path in sorted(folder.glob("attempt=*.log")):
                tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
                parts.append(f"--- {ti['rendered_map_index']} {path.name} ({ti['hostname']})\n" + "\n".join(tail))
    return "\n".join(parts)


def _workers_online(redis_port: int) -> set[str] | None:
    """The names of the Celery workers that answer a ping through the broker (None until both do)."""
    from celery import Celery

    app = Celery(broker=f"redis://127.0.0.1:{redis_port}/0")
    try:
        answers = app.control.ping(timeout=2.0)
    except Exception:  # the broker is not up yet
        return None
    finally:
        app.close()
    names = {name.split("@", 1)[0] for answer in answers for name in answer}
    return names if names >= set(WORKERS) else None


class AirflowApi:
    """Airflow 3's public REST API as an operator's script uses it: a token, then ``/api/v2``."""

    def __init__(self, url: str, password: str) -> None:
        token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=60)
        token.raise_for_status()
        self.client = httpx.Client(base_url=f"{url}/api/v2", timeout=60,
                                   headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def dag_parsed(self, dag_id: str) -> bool | None:
        return True if self.client.get(f"/dags/{dag_id}").status_code == 200 else None

    def trigger(self, dag_id: str) -> str:
        self.client.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        response = self.client.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def finished_state(self, dag_id: str, run_id: str) -> str | None:
        state = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return str(state) if state in ("success", "failed") else None

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"])


@pytest.fixture(scope="module")
def scale_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from connectors.ticketmatic.sandbox import TicketmaticSandbox
    from connectors.yesplan.sandbox import YesplanSandbox
    from tests.conftest import _pg_url

    base_pg = _pg_url()
    if not base_pg:
        pytest.skip("PostgreSQL not started (PODIUM_TEST_PG_URL): the CeleryExecutor needs it")
    root = tmp_path_factory.mktemp("celery")
    home = root / "airflow"
    houses = root / "houses"
    houses.mkdir()
    tm, yp = TicketmaticSandbox(), YesplanSandbox()
    tm.start()
    yp.start()
    airflow_db, airflow_db_name = _fresh_pg_database(base_pg)
    podium_db, podium_db_name = _fresh_pg_database(base_pg)
    port, redis_port = _free_port(), _free_port()
    _write_houses(houses, tm.url, yp.url)
    env = _operator_env({
        "AIRFLOW_HOME": str(home),
        "PODIUM_AIRFLOW_PORT": str(port),
        "PODIUM_REDIS_PORT": str(redis_port),
        "PODIUM_AIRFLOW_DB_URL": airflow_db,
        "PODIUM_AIRFLOW_START_TIMEOUT": str(START_TIMEOUT_S - 60),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "PODIUM_DB_URL": podium_db,
        "PODIUM_HOUSES_DIR": str(houses),
        "PODIUM_VAR_DIR": str(root / "var"),
        "PODIUM_ARCHIVE_URL": (root / "archive").as_uri(),
        "PODIUM_ALERTS_FILE": str(root / "alerts.jsonl"),
        **_connections(tm.access_key, yp.api_key),
    })
    result: dict[str, Any] = {"tm": tm, "podium_db": podium_db, "runs": {}}
    log_dir = home / "logs-podium"
    try:
        began = time.monotonic()
        started = _script(["start", "--celery", str(len(WORKERS)), "--no-sandboxes"], env, START_TIMEOUT_S)
        assert started.returncode == 0, f"{started.stdout}\n{started.stderr}\n{_log_tails(log_dir)}"
        result["pgid"] = (home / "podium-airflow.pgid").read_text().strip()
        result["start_output"] = started.stdout
        online = _wait_for("both Celery workers answering through Redis",
                           lambda: _workers_online(redis_port), READY_TIMEOUT_S)
        result["startup_s"] = time.monotonic() - began
        result["workers_online"] = online
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        api = AirflowApi(f"http://127.0.0.1:{port}", password)
        for dag_id in DAG_IDS:
            _wait_for(f"DAG {dag_id} parsed", partial(api.dag_parsed, dag_id), READY_TIMEOUT_S)
        began = time.monotonic()
        run_ids = {dag_id: api.trigger(dag_id) for dag_id in DAG_IDS}
        for dag_id, run_id in run_ids.items():
            state = _wait_for(f"{dag_id} run {run_id} finished", partial(api.finished_state, dag_id, run_id),
                              RUN_TIMEOUT_S, every_s=5)
            tis = api.task_instances(dag_id, run_id)
            result["runs"][dag_id] = {"state": state, "task_instances": tis,
                                      "trouble": _trouble(home / "logs", dag_id, run_id, tis)}
        result["run_s"] = time.monotonic() - began
        # For the record (`pytest -s`), not asserted: the machine's speed is bench/'s business.
        hosts = Counter(ti["hostname"] for run in result["runs"].values() for ti in run["task_instances"]
                        if ti["task_id"] == "sync")
        print(f"\ncelery scale-out: start-up {result['startup_s']:.0f} s (script until both workers answer), "
              f"runs {result['run_s']:.0f} s for {len(TM_HOUSES) + len(YP_HOUSES)} house syncs, "
              f"syncs per worker {dict(sorted(hosts.items()))}")
    except BaseException as exc:
        raise AssertionError(f"Celery fleet did not run: {exc}\n{_log_tails(log_dir)}") from exc
    finally:
        stopped = _script(["stop"], env, 120)
        result["stop"] = stopped
        tm.stop()
        yp.stop()
        _drop_pg_database(base_pg, airflow_db_name)
    try:
        yield result
    finally:
        _drop_pg_database(base_pg, podium_db_name)


def _syncs(scale_out: dict[str, Any], dag_id: str) -> dict[str, dict[str, Any]]:
    """The run's ``sync`` task instances by house (the map index label is the house key)."""
    tis = [ti for ti in scale_out["runs"][dag_id]["task_instances"] if ti["task_id"] == "sync"]
    return {str(ti["rendered_map_index"]).split(" ")[0]: ti for ti in tis}


def test_every_house_of_every_sync_dag_succeeded_on_celery(scale_out: dict[str, Any]) -> None:
    for dag_id in DAG_IDS:
        run = scale_out["runs"][dag_id]
        assert run["state"] == "success", f"{dag_id}: {run['state']}\n{run['trouble']}"
    tm = _syncs(scale_out, "podium_sync_ticketmatic")
    yp = _syncs(scale_out, "podium_sync_yesplan")
    assert sorted(tm) == sorted(TM_HOUSES) and sorted(yp) == sorted(YP_HOUSES)
    for house, ti in [*tm.items(), *yp.items()]:
        assert ti["state"] == "success", (house, ti)
        assert ti["hostname"] in WORKERS, (house, ti["hostname"])  # run by a Celery worker, not in-process


def test_both_celery_workers_ran_house_syncs(scale_out: dict[str, Any]) -> None:
    assert scale_out["workers_online"] >= set(WORKERS)
    by_worker: dict[str, list[str]] = {}
    for dag_id in DAG_IDS:
        for house, ti in _syncs(scale_out, dag_id).items():
            by_worker.setdefault(ti["hostname"], []).append(f"{dag_id}:{house}")
    assert set(by_worker) == set(WORKERS), by_worker


def test_the_store_holds_each_houses_records(scale_out: dict[str, Any]) -> None:
    store = Store(scale_out["podium_db"])
    try:
        for house, account in TM_HOUSES.items():
            events = len(scale_out["tm"].data(account)["events"])
            assert events > 0
            if house in YP_HOUSES:  # Yesplan's events are the house's too
                assert store.count_records(house, "event") > events, house
            else:
                assert store.count_records(house, "event") == events, house
            assert store.count_records(house, "contact") > 0, house
            assert store.count_records(house, "ticket") > 0, house
    finally:
        store.dispose()


def test_stop_leaves_no_process_of_the_group(scale_out: dict[str, Any]) -> None:
    stopped = scale_out["stop"]
    assert stopped.returncode == 0, stopped.stderr
    assert "no process of group" in stopped.stdout
    # Live processes of the group; a zombie (stat Z) that init has not reaped yet holds nothing.
    table = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat=,args="], capture_output=True, text=True, check=True)
    left = [line for line in table.stdout.splitlines()
            if line.split()[1] == scale_out["pgid"] and not line.split()[2].startswith("Z")]
    assert left == [], left

