"""Where the project's data files live (schemas, mappings, houses, var).

``schemas/`` and ``mappings/`` keep the product's top-level layout and ship in the wheel as data-only
packages beside ``podium/``; they are found where Python imports them from — the source checkout or
site-packages alike — so an installed wheel needs no ``PODIUM_HOME`` and no editable install.
``PODIUM_HOME`` still wins when set (a deployment that keeps its own copy).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("PODIUM_HOME", Path(__file__).resolve().parent.parent))


def _data_dir(name: str, marker: str) -> Path:
    """The ``name`` data folder: ``$PODIUM_HOME/<name>`` if set, else the importable folder holding ``marker``."""
    if os.environ.get("PODIUM_HOME"):
        return REPO_ROOT / name
    beside = Path(__file__).resolve().parent.parent / name
    if beside.is_dir():
        return beside  # the same distribution's copy (checkout or site-packages): never another one's
    spec = importlib.util.find_spec(name)
    for location in (spec.submodule_search_locations or []) if spec else []:
        if any(Path(location).glob(marker)):
            return Path(location)
    return beside


SCHEMAS_DIR = _data_dir("schemas", "*.json")
MAPPINGS_DIR = _data_dir("mappings", "*/*.yaml")


def var_dir() -> Path:
    """The embedded-defaults folder for the SQLite store, the raw archive and Airflow's home."""
    path = Path(os.environ.get("PODIUM_VAR_DIR", REPO_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def houses_dir() -> Path:
    """House configs are read from ``PODIUM_HOUSES_DIR`` (default ``./houses``)."""
    return Path(os.environ.get("PODIUM_HOUSES_DIR", "houses"))
