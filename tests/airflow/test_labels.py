"""Map-index labels: every sync task instance shows its house key, before it ran and while it waits to
retry; the worker's richer label still wins once a try ran.

Airflow 3.3.2 renders ``map_index_template`` only in the worker: without ``plugins/podium_provider/labels.py``
the grid shows ``0``, ``1``… for task instances that have not started, and for one up for retry (the
retry report carries no label and the API writes ``NULL``). The first test starts a queued run with
the scheduler's own code (``SchedulerJobRunner._start_queued_dagruns``, which calls the listeners);
the second runs a sync DAG with ``dag.test()``, which creates its run already running and so calls no
``on_dag_run_running`` listener: the test calls that hook right after the run is created, as the
scheduler does when it starts a run.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.airflow.support import DAGS, write_fleet_settings

pytestmark = [pytest.mark.airflow]

TM_SECRET = "sandbox-secret-key"
DAG_ID = "podium_sync_ticketmatic"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_house(folder: Path, key: str, base_url: str) -> None:
    doc = {"house": key, "name": key.replace("-", " ").title(), "kind": "kunstenorganisatie",
           "connectors": {"ticketmatic": {
               "settings": {"account": key.replace("-", ""), "base_url": base_url, "requests_per_second": 500},
               "credentials": {"conn_id": f"ticketmatic_{key.replace('-', '_')}"}, "streams": ["events"]}}}
    (folder / f"{key}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


@contextmanager
def _labels_plugin_loaded() -> Iterator[Any]:
    """The plugin as Airflow loads it: its listener registered, its ``on_load`` run (undone after)."""
    from airflow.listeners.listener import get_listener_manager

    from plugins.podium_provider import labels

    manager = get_listener_manager()
    registered_here = not manager.pm.is_registered(labels.LISTENER)  # else Airflow loaded the plugin itself
    if registered_here:
        manager.add_listener(labels.LISTENER)
        labels.PodiumLabelsPlugin.on_load()
    try:
        yield labels
    finally:
        if registered_here:
            labels.uninstall_retry_label_guard()
            manager.pm.unregister(labels.LISTENER)


@pytest.fixture
def labels_plugin() -> Iterator[Any]:
    with _labels_plugin_loaded() as labels:
        yield labels


def _labels(run_id: str) -> dict[int, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id,
                                                 TaskInstance.task_id == "sync").all()
        return {ti.map_index: str(ti.rendered_map_index) for ti in tis}  # what the UI reads


def _sync_dags_to_db(session: Any) -> Any:
    """What the dag processor does: parse ``dags/``, store the serialized DAGs, unpause ours."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.models.dagbag import DBDagBag

    manager = DagBundlesManager()
    manager.sync_bundles_to_db(session=session)
    session.commit()
    bundle = next(b for b in manager.get_all_dag_bundles() if Path(b.path).resolve() == DAGS.resolve())
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, bundle.name, bundle.version)
    session.query(DagModel).filter(DagModel.dag_id == DAG_ID).update({"is_paused": False})
    session.commit()
    return DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)


def test_the_scheduler_starting_a_run_labels_every_pending_task_instance_by_house(
        airflow_db: Path, houses_dir: Path, labels_plugin: Any) -> None:
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    houses = ["cc-brugge", "gc-jette", "ko-leuven"]
    for key in houses:
        _write_house(houses_dir, key, "http://127.0.0.1:9")
    write_fleet_settings(houses_dir)
    # A minute ago: the scheduler starts runs whose run_after <= the database's now(), which SQLite keeps to
    # the second; a run_after with microseconds in the same second would wait for the next loop.
    now = datetime.now(tz=UTC) - timedelta(minutes=1)
    with create_session() as session:
        dag = _sync_dags_to_db(session)
        run = dag.create_dagrun(
            run_id=f"manual__labels_{now.isoformat()}", logical_date=now, data_interval=(now, now),
            run_after=now, run_type=DagRunType.MANUAL, triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.QUEUED, session=session)
        run_id = run.run_id
    assert _labels(run_id) == {0: "0", 1: "1", 2: "2"}  # queued: what the grid shows without the plugin

    from airflow.utils.sqlalchemy import prohibit_commit

    with create_session() as session, prohibit_commit(session) as guard:  # as the scheduler loop runs it
        SchedulerJobRunner(job=Job())._start_queued_dagruns(session=session)
        guard.commit()
    with create_session() as session:
        assert session.query(DagRun.state).filter(DagRun.run_id == run_id).scalar() == DagRunState.RUNNING
    assert _labels(run_id) == dict(enumerate(houses))
    # The run's start also related the sync tasks' alias to the canonical assets the example DAGs declare,
    # so two houses finishing at once never both insert that relation (Airflow 3.3 fails one of them).
    from airflow.models.asset import AssetAliasModel

    with create_session() as session:
        alias = session.query(AssetAliasModel).filter(AssetAliasModel.name == "podium_canonical_changes").one()
        assert {asset.uri for asset in alias.assets} == {f"podium://canonical/{e}" for e in ("event", "contact", "ticket")}


@pytest.fixture(scope="module")
def retried_run(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``dag.test()`` of three houses (healthy, a broken record, vendor down with one retry), recording
    every task instance's label each time a task is about to run."""
    import airflow.models.dagrun as dagrun_module
    import airflow.sdk.definitions.dag as sdk_dag

    from connectors.ticketmatic.sandbox import TicketmaticSandbox
    from tests.airflow.support import dagbag

    root = tmp_path_factory.mktemp("labels")
    houses_dir = root / "houses"
    houses_dir.mkdir()
    tm = TicketmaticSandbox()
    tm.start()
    broken = tm.data("korejects")["events"][0]
    broken.update({"name": None, "translations": {}, "startts": None})
    _write_house(houses_dir, "gc-jette", tm.url)
    _write_house(houses_dir, "ko-down", f"http://127.0.0.1:{_closed_port()}")
    _write_house(houses_dir, "ko-rejects", tm.url)
    write_fleet_settings(houses_dir)

    create_run = dagrun_module.get_or_create_dagrun

    def create_and_start(*args: Any, **kwargs: Any) -> Any:
        run = create_run(*args, **kwargs)
        run.notify_dagrun_state_changed(msg="started")  # as SchedulerJobRunner._start_queued_dagruns does
        kwargs["session"].commit()
        return run

    seen: list[dict[str, Any]] = []
    run_task = sdk_dag._run_task

    def recording_run_task(*, ti: Any, task: Any, run_triggerer: bool = False) -> Any:
        seen.append({"map_index": ti.map_index, "try": ti.try_number, "labels": _labels(ti.run_id)})
        return run_task(ti=ti, task=task, run_triggerer=run_triggerer)

    with pytest.MonkeyPatch.context() as mp, _labels_plugin_loaded():
        mp.setenv("PODIUM_HOUSES_DIR", str(houses_dir))
        for key in ("gc_jette", "ko_down", "ko_rejects"):
            mp.setenv(f"AIRFLOW_CONN_TICKETMATIC_{key.upper()}", json.dumps(
                {"conn_type": "podium_hmac", "login": tm.access_key, "password": TM_SECRET}))
        mp.setenv("PODIUM_DB_URL", f"sqlite:///{root / 'podium.db'}")
        mp.setenv("PODIUM_VAR_DIR", str(root / "var"))
        mp.setenv("PODIUM_ARCHIVE_URL", (root / "archive").as_uri())
        mp.setenv("PODIUM_ALERTS_FILE", str(root / "alerts.jsonl"))
        mp.setattr(dagrun_module, "get_or_create_dagrun", create_and_start)
        mp.setattr(sdk_dag, "_run_task", recording_run_task)
        try:
            run = dagbag().dags[DAG_ID].test()
        finally:
            tm.stop()
    yield {"run_id": run.run_id, "seen": seen, "houses": ["gc-jette", "ko-down", "ko-rejects"]}


@pytest.mark.slow
def test_pending_task_instances_show_their_house_before_any_task_ran(retried_run: dict[str, Any]) -> None:
    first = retried_run["seen"][0]
    assert first["try"] == 1
    assert first["labels"] == dict(enumerate(retried_run["houses"]))


@pytest.mark.slow
def test_a_task_instance_up_for_retry_keeps_its_house(retried_run: dict[str, Any]) -> None:
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    down = retried_run["houses"].index("ko-down")
    second_try = [s for s in retried_run["seen"] if s["map_index"] == down and s["try"] == 2]
    assert second_try, retried_run["seen"]  # ko-down failed and was retried
    # Waiting for its retry: still the house (with why its last try failed), not "1".
    assert second_try[0]["labels"][down] in ("ko-down", "ko-down ✘ vendor_down")
    with create_session() as session:
        history = session.query(TaskInstanceHistory.try_number, TaskInstanceHistory.rendered_map_index).filter(
            TaskInstanceHistory.dag_id == DAG_ID, TaskInstanceHistory.run_id == retried_run["run_id"],
            TaskInstanceHistory.map_index == down).all()
    assert [(t, label) for t, label in history] in ([(1, "ko-down")], [(1, "ko-down ✘ vendor_down")])  # in the UI


@pytest.mark.slow
def test_the_workers_label_still_wins_after_a_run(retried_run: dict[str, Any]) -> None:
    final = _labels(retried_run["run_id"])
    assert final[0] == "gc-jette" and final[1] == "ko-down ✘ vendor_down"  # the worker's label says why
    assert final[2].startswith("ko-rejects ⚠ ") and final[2].endswith(" rejected")


def test_only_podium_sync_tasks_mapped_over_literal_houses_are_labelled(airflow_db: Path,
                                                                        houses_dir: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    from plugins.podium_provider.labels import sync_houses
    from tests.airflow.support import dagbag

    for key in ("cc-brugge", "gc-jette"):
        _write_house(houses_dir, key, "http://127.0.0.1:9")
    (houses_dir / "ko-broken.yaml").write_text("house: ko-broken\nconnectors: {nope: {}}\n")  # config errors DAG
    bag = dagbag()
    assert {"podium_sync_ticketmatic", "podium_fleet_config_errors"} <= set(bag.dags)
    for dag in bag.dags.values():
        serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        found = sync_houses(serialized)
        if dag.dag_id.startswith("podium_sync_"):
            assert list(found) == ["sync"] and found["sync"] == list(
                dag.get_task("sync")._get_specified_expand_input().value["house"])
        else:
            assert found == {}


def test_the_plugin_is_registered_for_airflow() -> None:
    import tomllib

    from plugins.podium_provider.labels import LISTENER, PodiumLabelsPlugin

    pyproject = tomllib.loads((DAGS.parent / "pyproject.toml").read_text(encoding="utf-8"))
    plugins = pyproject["project"]["entry-points"]["airflow.plugins"]
    assert plugins["podium_labels"] == "plugins.podium_provider.labels:PodiumLabelsPlugin"
    assert PodiumLabelsPlugin.name == "podium_labels" and PodiumLabelsPlugin.listeners == [LISTENER]
