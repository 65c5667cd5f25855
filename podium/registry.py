"""Connector discovery through the ``podium.connectors`` entry-point group.

Built-in connectors register exactly as third-party plugins do (pyproject ``[project.entry-points]``),
so a vendor's pip-installable plugin shows up in ``podium connectors`` — and gets its Airflow
connection type, DAG, schedule and pool — with no change to the core.

The built-ins are also found by convention (``connectors/<name>/connector.py``) so that Airflow's DAG
parse, which names only connectors the houses use, need not scan every installed distribution's
entry points (a fifth of a second per parse); ``tests/test_architecture.py`` checks both agree.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from podium.errors import ConfigError
from podium.sdk.connector import Connector

GROUP = "podium.connectors"
BUILTIN_PACKAGE = "connectors"


@cache
def _entry_points() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


@cache
def builtin_names() -> tuple[str, ...]:
    """The connectors shipped in this distribution's ``connectors`` package, found by folder (no import)."""
    spec = importlib.util.find_spec(BUILTIN_PACKAGE)
    folders = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    return tuple(sorted(child.name for folder in folders for child in folder.iterdir()
                        if (child / "connector.py").is_file()))


def connector_names() -> list[str]:
    """Every registered connector name (built-in and third-party), sorted."""
    return sorted({*builtin_names(), *_entry_points()})


def is_installed(name: str) -> bool:
    """True when a connector called ``name`` is installed; built-ins answer without the entry-point scan."""
    return name in builtin_names() or name in _entry_points()


def _builtin_class(name: str) -> type[Connector]:
    module = importlib.import_module(f"{BUILTIN_PACKAGE}.{name}.connector")
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, Connector) and cls.__module__ == module.__name__ and getattr(cls, "name", None) == name:
            return cls
    raise ConfigError(f"connectors/{name}/connector.py defines no Connector subclass named '{name}'")


def get_connector(name: str) -> type[Connector]:
    """The connector class registered as ``name``; an unknown name lists the known ones."""
    try:
        if name in builtin_names():
            return _builtin_class(name)
    except ConfigError:
        raise
    except Exception as exc:  # a broken connector must not take the others down
        raise ConfigError(f"connector '{name}' failed to load: {type(exc).__name__}: {exc}") from None
    ep = _entry_points().get(name)
    if ep is None:
        raise ConfigError(f"unknown connector '{name}' (known: {', '.join(connector_names()) or 'none'})")
    try:
        cls = ep.load()  # type: ignore[attr-defined]
    except Exception as exc:  # a broken plugin must not take the others down
        raise ConfigError(f"connector '{name}' failed to load: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"entry point '{name}' does not name a Connector subclass")
    return cls


def all_connectors() -> dict[str, type[Connector]]:
    """Every loadable connector class by name (a plugin that fails to load is logged and left out)."""
    import logging

    found = {}
    for name in connector_names():
        try:
            found[name] = get_connector(name)
        except ConfigError as exc:
            logging.getLogger("podium.registry").error("%s", exc)
    return found


def refresh() -> None:
    """Forget what discovery found (after installing a plugin into a running process, and in tests)."""
    _entry_points.cache_clear()
    builtin_names.cache_clear()
