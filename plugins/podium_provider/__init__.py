"""Podium Hub's Airflow provider, laid out as providers are: ``hooks/`` (connection types per auth kind),
``operators/`` (``PodiumSyncOperator``), ``notifications/`` (the ops notifier), and the DAG factory.

Airflow discovers this package through the ``apache_airflow_provider`` entry point
(``plugins.podium_provider:get_provider_info``). The connection types come from the installed
connectors' declared auth kinds (``podium.registry``), so a pip-installed third-party connector gets
its connection form with no change here; no vendor is named in this package.
"""

from __future__ import annotations

from typing import Any

INTEGRATION = "Podium Hub"
HOOKS_MODULE = "plugins.podium_provider.hooks.podium"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's providers manager (validated against provider_info.schema.json)."""
    from plugins.podium_provider.connection_types import connection_types

    return {
        "package-name": "podium-hub",
        "name": "Podium Hub",
        "description": "Connection types, sync operator and notifier for the connectors of Podium Hub, the "
                       "integration hub of Flemish arts and culture houses.",
        "integrations": [{"integration-name": INTEGRATION, "tags": ["service"]}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": [HOOKS_MODULE]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": ["plugins.podium_provider.operators.sync"]}],
        "notifications": ["plugins.podium_provider.notifications.podium.PodiumFailureNotifier"],
        "connection-types": [
            {
                "connection-type": kind.conn_type,
                "hook-class-name": f"{HOOKS_MODULE}.{kind.hook_class}",
                "hook-name": kind.hook_name,
                "ui-field-behaviour": {
                    "hidden-fields": list(kind.hidden_fields),
                    "relabeling": dict(kind.relabeling),
                    "placeholders": dict(kind.placeholders),
                },
                **({"conn-fields": {name: dict(spec) for name, spec in kind.extra_fields.items()}}
                   if kind.extra_fields else {}),
            }
            for kind in connection_types().values()
        ],
    }
