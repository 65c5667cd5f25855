"""The demo on embedded defaults: every vendor sandbox on its documented loopback port, and the
Airflow-style connections (``AIRFLOW_CONN_<ID>``) that the example houses reference.

Used by ``scripts/demo.sh`` and the Airflow end-to-end tests; production never imports it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from podium.paths import REPO_ROOT
from podium.registry import connector_names, get_connector

EXAMPLE_HOUSES = REPO_ROOT / "houses"


def _example_houses() -> list[dict[str, Any]]:
    houses = []
    for path in sorted(EXAMPLE_HOUSES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not path.name.startswith("_") and isinstance(doc, dict):
            houses.append(doc)
    return houses


def demo_connectors() -> tuple[str, ...]:
    """The connectors the example houses use, in registry order."""
    used = {name for house in _example_houses() for name in house.get("connectors") or {}}
    return tuple(name for name in connector_names() if name in used)


def sandbox_connections() -> dict[str, dict[str, Any]]:
    """Connection id -> Airflow connection (JSON form) holding each example house's sandbox credentials.

    Each connector says what its sandbox accepts (``demo_credentials``) and which connection type its
    auth kind uses (``connection_type``), so the Airflow UI shows the right form for each."""
    connections: dict[str, dict[str, Any]] = {}
    for house in _example_houses():
        for name, spec in (house.get("connectors") or {}).items():
            conn_id = ((spec or {}).get("credentials") or {}).get("conn_id")
            if conn_id:
                cls = get_connector(name)
                connections[conn_id] = {"conn_type": cls.connection_type(), **cls.demo_credentials(house["house"])}
    return connections


def export_connections(environ: dict[str, str] | None = None) -> None:
    """Define the demo connections the way Airflow reads them from the environment."""
    target = os.environ if environ is None else environ
    for conn_id, conn in sandbox_connections().items():
        target[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


@contextmanager
def running_sandboxes(names: tuple[str, ...] | None = None, *, default_ports: bool = True) -> Iterator[dict[str, Any]]:
    """Start the named vendor sandboxes (default: those the example houses use, on their documented
    ports) for the length of the block."""
    started: dict[str, Any] = {}
    try:
        for name in demo_connectors() if names is None else names:
            cls = get_connector(name).sandbox_class()
            sandbox = cls()
            port = getattr(cls, "default_port", 0) if default_ports else 0
            try:
                sandbox.start(port=port)
            except OSError as exc:
                raise RuntimeError(f"{name} sandbox: port {port} is busy ({exc.strerror}); stop whatever "
                                   f"listens there (another demo?) and try again") from None
            get_connector(name).prepare_demo_sandbox(sandbox)
            started[name] = sandbox
        yield started
    finally:
        for sandbox in started.values():
            sandbox.stop()
