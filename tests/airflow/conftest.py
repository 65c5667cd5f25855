"""Airflow test configuration: a private AIRFLOW_HOME, no examples, ``dags/`` as the DAGs folder,
and the metadata DB (SQLite) created once per session.

Airflow reads its configuration when it is first imported, so the environment is set here, at
import time of this conftest (pytest imports it before any test module of this folder).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
_HOME = Path(tempfile.mkdtemp(prefix="podium-airflow-test-"))

os.environ.update({
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(_HOME / "airflow-plugins"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "True",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
})
os.environ.setdefault("PODIUM_HOUSES_DIR", str(_HOME / "houses"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create Airflow's metadata DB once for the session (the SQLite file under the test AIRFLOW_HOME)."""
    from airflow.utils import db

    db.initdb()
    return _HOME


@pytest.fixture
def houses_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty houses folder that ``PODIUM_HOUSES_DIR`` points at (a test writes its houses there)."""
    folder = tmp_path / "houses"
    folder.mkdir()
    monkeypatch.setenv("PODIUM_HOUSES_DIR", str(folder))
    return folder


@pytest.fixture
def fresh_dagbag(airflow_db: Path) -> Iterator[Any]:
    """A DagBag of ``dags/`` parsed now (with the current ``PODIUM_HOUSES_DIR``)."""
    from tests.airflow.support import dagbag

    yield dagbag()
