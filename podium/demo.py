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

from podium.registry import get_connector

DEMO_CONNECTORS = ("ticketmatic", "yesplan", "recreatex", "cdbxml", "uwp", "uitdatabank")


def sandbox_connections() -> dict[str, dict[str, Any]]:
    """Connection id -> Airflow connection (JSON form) holding each demo house's sandbox credentials.

    ``conn_type`` names the provider's connection type per auth kind (plugins/podium_provider), so the
    Airflow UI shows the right form for each."""
    recreatex = get_connector("recreatex").sandbox_class()
    uwp = get_connector("uwp").sandbox_class()
    return {
        "ticketmatic_cc_hasselt": {"conn_type": "podium_hmac", "login": "sandbox-access-key",
                                   "password": "sandbox-secret-key"},
        "ticketmatic_de_singel": {"conn_type": "podium_hmac", "login": "sandbox-access-key",
                                  "password": "sandbox-secret-key"},
        "yesplan_cc_hasselt": {"conn_type": "podium_api_key", "password": "yesplan-sandbox-key"},
        "uitdatabank_cc_hasselt": {"conn_type": "podium_oauth2", "login": "cc-hasselt-demo", "password": "sandbox-secret"},
        "uitdatabank_de_singel": {"conn_type": "podium_oauth2", "login": "de-singel-demo", "password": "sandbox-secret"},
        "recreatex_gc_de_kring": {"conn_type": "podium_soap_shop", "password": recreatex.shop_id_for("gc-de-kring")},
        "cdbxml_gc_de_kring": {"conn_type": "podium_api_key", "password": "uitdatabank-sandbox-key"},
        "uwp_de_singel": {"conn_type": "podium_s3", "login": uwp.access_key_id, "password": uwp.secret_access_key},
    }


def export_connections(environ: dict[str, str] | None = None) -> None:
    """Define the demo connections the way Airflow reads them from the environment."""
    target = os.environ if environ is None else environ
    for conn_id, conn in sandbox_connections().items():
        target[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


@contextmanager
def running_sandboxes(names: tuple[str, ...] = DEMO_CONNECTORS, *, default_ports: bool = True) -> Iterator[dict[str, Any]]:
    """Start the named vendor sandboxes (on their documented ports) for the length of the block."""
    started: dict[str, Any] = {}
    try:
        for name in names:
            cls = get_connector(name).sandbox_class()
            sandbox = cls()
            port = getattr(cls, "default_port", 0) if default_ports else 0
            try:
                sandbox.start(port=port)
            except OSError as exc:
                raise RuntimeError(f"{name} sandbox: port {port} is busy ({exc.strerror}); stop whatever "
                                   f"listens there (another demo?) and try again") from None
            if name == "uwp":
                sandbox.seed_drop("uwp-drops", "de-singel/")
            started[name] = sandbox
        yield started
    finally:
        for sandbox in started.values():
            sandbox.stop()
