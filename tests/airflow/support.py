"""Helpers shared by the Airflow tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


def write_fleet_settings(folder: Path, **overrides: Any) -> None:
    """Write ``_fleet.yaml`` with test-friendly retries (fast, so ``dag.test()`` does not wait minutes)."""
    import yaml

    doc = {"retries": 1, "retry_delay_minutes": 0.01, "max_retry_delay_minutes": 0.05, **overrides}
    (folder / "_fleet.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


def dagbag() -> Any:
    """A fresh DagBag of ``dags/`` (reads the houses folder as it is now)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))




def mapped_houses(task: Any) -> list[str]:
    """The house keys a mapped ``sync`` task expands over."""
    return list(task._get_specified_expand_input().value["house"])
