"""Run the sync DAGs for real on this machine (``dag.test()``), and read back what Airflow recorded.

Used by ``scripts/demo_airflow.py`` and the end-to-end tests: every task runs through Airflow's
task runner (connections via the secrets backends, XCom, asset events, callbacks, retries), in
this process, against Airflow's metadata DB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class HouseResult:
    """One mapped task instance after the run: its state, label and returned report (if it succeeded)."""

    dag_id: str
    house: str
    state: str
    label: str | None
    report: dict[str, Any] | None = None
    tries: int = 0


@dataclass
class DagResult:
    dag_id: str
    run_id: str
    state: str
    houses: list[HouseResult] = field(default_factory=list)

    def by_house(self) -> dict[str, HouseResult]:
        return {h.house: h for h in self.houses}


def prepare_airflow_home(home: str | os.PathLike[str], dags_folder: str | os.PathLike[str]) -> None:
    """Point Airflow at ``home`` (SQLite metadata DB there) and ``dags_folder``; call before importing airflow."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(dags_folder).resolve())
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(home / "plugins"))
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")


def migrate_metadata_db() -> None:
    """``airflow db migrate`` in-process (creates the schema on a new DB, upgrades an old one)."""
    from airflow.utils import db

    db.initdb()


def sync_dag_ids(bag: Any) -> list[str]:
    return sorted(d for d in bag.dags if d.startswith("podium_sync_"))


def run_dag(dag: Any) -> DagResult:
    """``dag.test()`` one sync DAG and collect each house's state and report."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    task = dag.get_task("sync")
    houses = list(task._get_specified_expand_input().value["house"])
    run = dag.test()
    result = DagResult(dag_id=dag.dag_id, run_id=run.run_id, state=str(getattr(run.state, "value", run.state)))
    with create_session() as session:
        tis = (session.query(TaskInstance)
               .filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id,
                       TaskInstance.task_id == task.task_id)
               .order_by(TaskInstance.map_index).all())
        for ti in tis:
            house = houses[ti.map_index] if 0 <= ti.map_index < len(houses) else str(ti.map_index)
            row = (session.query(XComModel)
                   .filter(XComModel.dag_id == dag.dag_id, XComModel.run_id == run.run_id,
                           XComModel.task_id == ti.task_id, XComModel.map_index == ti.map_index,
                           XComModel.key == "return_value").one_or_none())
            report = XComModel.deserialize_value(row) if row is not None else None
            result.houses.append(HouseResult(
                dag_id=dag.dag_id, house=house, state=str(getattr(ti.state, "value", ti.state)),
                label=ti.rendered_map_index, report=report, tries=ti.try_number))
    return result


def run_sync_dags(dags_folder: str | os.PathLike[str], dag_ids: list[str] | None = None) -> list[DagResult]:
    """Parse ``dags_folder`` and ``dag.test()`` each sync DAG (all of them unless ``dag_ids``)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return [run_dag(bag.dags[dag_id]) for dag_id in (dag_ids or sync_dag_ids(bag))]


def asset_events(uri_prefix: str = "podium://canonical/") -> list[dict[str, Any]]:
    """Asset events recorded for the canonical assets (uri, extra), oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (session.query(AssetEvent, AssetModel.uri)
                .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.uri.startswith(uri_prefix))
                .order_by(AssetEvent.id).all())
        return [{"uri": uri, "extra": dict(event.extra or {})} for event, uri in rows]


def format_results(results: list[DagResult]) -> str:
    """A small table: one line per house × connector with the counts the report carries."""
    lines = []
    for dag in results:
        lines.append(f"{dag.dag_id}  run={dag.run_id}  state={dag.state}")
        for house in dag.houses:
            report = house.report or {}
            streams = report.get("streams", {})
            counts = " ".join(
                f"{name}:read={s.get('read', 0)},+{s.get('inserted', 0)},~{s.get('updated', 0)},"
                f"={s.get('unchanged', 0)},rej={s.get('rejected', 0)}" for name, s in streams.items())
            flag = f" flag={report['flag']}" if report.get("flag") else ""
            lines.append(f"  {house.house:<28} {house.state:<8} tries={house.tries} {counts}{flag}")
    return "\n".join(lines)
