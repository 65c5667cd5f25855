"""Where the project's data files live (schemas, mappings, houses, var)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("PODIUM_HOME", Path(__file__).resolve().parent.parent))
SCHEMAS_DIR = REPO_ROOT / "schemas"
MAPPINGS_DIR = REPO_ROOT / "mappings"


def var_dir() -> Path:
    """The embedded-defaults folder for the SQLite store, the raw archive and Airflow's home."""
    path = Path(os.environ.get("PODIUM_VAR_DIR", REPO_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def houses_dir() -> Path:
    """House configs are read from ``PODIUM_HOUSES_DIR`` (default ``./houses``)."""
    return Path(os.environ.get("PODIUM_HOUSES_DIR", "houses"))
