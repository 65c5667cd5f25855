"""Connector discovery through the ``podium.connectors`` entry-point group.

Built-in connectors register exactly as third-party plugins do (pyproject ``[project.entry-points]``),
so a vendor's pip-installable plugin shows up in ``podium connectors`` with no change to the core.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from podium.errors import ConfigError
from podium.sdk.connector import Connector

GROUP = "podium.connectors"


@cache
def _entry_points() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def connector_names() -> list[str]:
    """Every registered connector name, sorted."""
    return sorted(_entry_points())


def get_connector(name: str) -> type[Connector]:
    """The connector class registered as ``name``; an unknown name lists the known ones."""
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
