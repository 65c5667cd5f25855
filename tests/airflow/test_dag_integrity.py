"""DAG integrity for the real fleet's size: what the scheduler and the ops team rely on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from podium.fleet import fleet_groups, fleet_index, generate_fleet, load_fleet_settings
from tests.airflow.support import DAGS, REPO, dagbag, mapped_houses

pytestmark = pytest.mark.airflow


@pytest.fixture
def fleet(houses_dir: Path) -> Path:
    generate_fleet(248, houses_dir, seed=1)
    return houses_dir


def test_fleet_parses_without_import_errors_into_few_dags(fleet: Path) -> None:
    bag = dagbag()
    assert bag.import_errors == {}
    groups = fleet_groups(fleet)
    assert set(bag.dags) == {g.dag_id for g in groups} | {"podium_example_publication", "podium_example_mailing"}
    # 248 houses x 2-6 connectors become one DAG per connector, at most one more per connector for houses
    # that override its schedule, and the example downstream DAGs: not hundreds of files or DAGs.
    from podium.registry import connector_names

    assert len(bag.dags) <= 2 * len(connector_names()) + 2
    assert sum(len(g.houses) for g in groups) == sum(len(v) for v in fleet_index(fleet).values()) > 600


def test_every_dag_has_owner_tags_retries_and_a_pool(fleet: Path) -> None:
    bag = dagbag()
    for dag_id, dag in bag.dags.items():
        assert dag.tags and "podium" in dag.tags, dag_id
        assert dag.max_active_runs == 1 and dag.catchup is False, dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", (dag_id, task.task_id)
            assert task.retries >= 1, (dag_id, task.task_id)
            assert task.pool.startswith("podium_"), (dag_id, task.task_id, task.pool)


def test_the_airflow_ui_shows_each_sync_dags_owner_from_the_fleet_file(fleet: Path) -> None:
    """The DAG list's Owner comes from the serialized DAG (what the DAG processor writes to the DB), not
    from the Python object: check it there."""
    from airflow.serialization.serialized_objects import DagSerialization, LazyDeserializedDAG

    bag = dagbag()
    fleet_cfg = load_fleet_settings(fleet)
    for group in fleet_groups(fleet):
        serialized = LazyDeserializedDAG(data=DagSerialization.to_dict(bag.dags[group.dag_id]))
        assert serialized.owner == fleet_cfg["connectors"][group.connector]["owner"] != "airflow", group.dag_id


def test_sync_dag_is_one_task_mapped_over_the_houses_with_the_fleet_schedule_and_vendor_pool(fleet: Path) -> None:
    bag = dagbag()
    fleet_cfg = load_fleet_settings(fleet)  # the connectors' declared defaults under _fleet.yaml
    for group in fleet_groups(fleet):
        dag = bag.dags[group.dag_id]
        assert sorted(t.task_id for t in dag.tasks) == ["owner", "sync"]
        assert not dag.get_task("owner").upstream_list and not dag.get_task("owner").downstream_list
        sync = dag.get_task("sync")
        assert type(sync).__name__.endswith("MappedOperator")
        assert list(mapped_houses(sync)) == list(group.houses)
        assert "podium_label" in sync.map_index_template and "house" in sync.map_index_template
        assert sync.pool == f"podium_{group.connector}"
        assert sync.partial_kwargs["retry_policy"] is not None
        assert sync.partial_kwargs["retry_exponential_backoff"] > 0
        assert sync.partial_kwargs["on_failure_callback"]
        assert [o.name for o in sync.outlets] == ["podium_canonical_changes"]
        expected = fleet_cfg["connectors"][group.connector]["schedule"]
        if group.custom_schedule:
            assert group.schedule != expected and "custom-schedule" in dag.tags
        else:
            assert group.schedule == expected
            assert dag.dag_id == f"podium_sync_{group.connector}"
        assert group.connector in dag.tags
        assert dag.owner == fleet_cfg["connectors"][group.connector]["owner"]


def test_a_house_schedule_override_gets_its_own_dag_sharing_the_vendor_pool(houses_dir: Path) -> None:
    generate_fleet(12, houses_dir, seed=3)
    house = yaml.safe_load((houses_dir / "cc-hasselt.yaml").read_text())
    connector = next(iter(house["connectors"]))
    house["connectors"][connector]["schedule"] = "@daily"
    (houses_dir / "cc-hasselt.yaml").write_text(yaml.safe_dump(house))
    bag = dagbag()
    override = bag.dags[f"podium_sync_{connector}__daily"]
    assert mapped_houses(override.get_task("sync")) == ["cc-hasselt"]
    assert override.get_task("sync").pool == bag.dags[f"podium_sync_{connector}"].get_task("sync").pool
    assert "cc-hasselt" not in mapped_houses(bag.dags[f"podium_sync_{connector}"].get_task("sync"))


def test_disabled_connectors_and_broken_files_do_not_break_the_parse(houses_dir: Path) -> None:
    generate_fleet(6, houses_dir, seed=2)
    (houses_dir / "broken.yaml").write_text("house: [unclosed\n")
    house = yaml.safe_load((houses_dir / "cc-hasselt.yaml").read_text())
    for spec in house["connectors"].values():
        spec["enabled"] = False
    (houses_dir / "cc-hasselt.yaml").write_text(yaml.safe_dump(house))
    bag = dagbag()
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        if dag.dag_id.startswith("podium_sync_"):
            assert "cc-hasselt" not in mapped_houses(dag.get_task("sync"))
    shown = bag.dags["podium_fleet_config_errors"].get_task("report")._get_specified_expand_input().value["problem"]
    assert [p["file"] for p in shown] == [str(houses_dir / "broken.yaml")]


_GUARD = textwrap.dedent("""
    import json, socket, sys, sqlite3
    import airflow, sqlalchemy, sqlalchemy.engine
    from airflow.dag_processing.dagbag import DagBag

    seen = []
    def refuse(what):
        def guard(*args, **kwargs):
            seen.append(what)
            raise RuntimeError("parse-time " + what + " refused")
        return guard

    socket.socket.connect = refuse("socket.connect")
    socket.socket.connect_ex = refuse("socket.connect_ex")
    socket.create_connection = refuse("socket.create_connection")
    socket.getaddrinfo = refuse("socket.getaddrinfo")
    sqlite3.connect = refuse("sqlite3.connect")
    sqlalchemy.create_engine = refuse("sqlalchemy.create_engine")
    sqlalchemy.engine.create_engine = refuse("sqlalchemy.engine.create_engine")
    sqlalchemy.engine.Engine.connect = refuse("Engine.connect")
    sqlalchemy.engine.Engine.raw_connection = refuse("Engine.raw_connection")
    try:
        import psycopg
        psycopg.connect = refuse("psycopg.connect")
    except ImportError:
        pass

    bag = DagBag(dag_folder=sys.argv[1])
    print(json.dumps({"dags": sorted(bag.dags), "errors": {k: str(v)[-300:] for k, v in bag.import_errors.items()},
                      "seen": seen}))
""")


def test_parsing_dags_opens_no_network_connection_and_no_database(fleet: Path, tmp_path: Path) -> None:
    script = tmp_path / "guarded_parse.py"
    script.write_text(_GUARD)
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    # A Postgres URL that would hang/refuse if anything tried it: parsing must never get there.
    env["PODIUM_DB_URL"] = "postgresql+psycopg://podium:x@10.255.255.1:5432/podium"
    result = subprocess.run([sys.executable, str(script), str(DAGS)], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert report["seen"] == []
    assert "podium_sync_uitdatabank" in report["dags"] and len(report["dags"]) >= 7


def test_every_connector_declares_a_valid_default_schedule_and_pool() -> None:
    from podium.fleet import load_fleet_settings, schedule_problem
    from podium.registry import all_connectors

    fleet = load_fleet_settings(REPO / "houses")
    for name, cls in all_connectors().items():
        assert schedule_problem(cls.default_schedule) is None, name
        assert cls.pool_slots >= 1, name
        assert fleet["connectors"][name]["schedule"], name


def test_the_parse_guard_catches_a_dag_file_that_touches_a_database(tmp_path: Path) -> None:
    """Negative control: the guard above would see a DAG file opening a database at parse time."""
    bad = tmp_path / "dags"
    bad.mkdir()
    (bad / "bad_dag.py").write_text(
        "# airflow dag that reads a database at parse time\n"
        "import sqlite3\n"
        "sqlite3.connect(':memory:')\n")
    script = tmp_path / "guarded_parse.py"
    script.write_text(_GUARD)
    result = subprocess.run([sys.executable, str(script), str(bad)], capture_output=True, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=120, check=False)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["seen"] == ["sqlite3.connect"]
