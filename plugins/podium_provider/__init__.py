"""Podium Hub's Airflow provider: connection types per vendor auth kind, the sync task, the DAG factory.

Airflow discovers this package through the ``apache_airflow_provider`` entry point
(``plugins.podium_provider:get_provider_info``). The provider info is static data: Airflow reads
it without importing any hook, so the connection form in the UI costs nothing at parse time.
"""

from __future__ import annotations

from typing import Any

from plugins.podium_provider.connection_types import CONNECTION_TYPES


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's providers manager (validated against provider_info.schema.json)."""
    return {
        "package-name": "podium-hub",
        "name": "Podium Hub",
        "description": "Connection types for the vendor connectors of Podium Hub, the integration hub "
                       "of Flemish arts and culture houses.",
        "integrations": [{"integration-name": "Podium Hub", "tags": ["service"]}],
        "connection-types": [
            {
                "connection-type": kind.conn_type,
                "hook-class-name": f"plugins.podium_provider.hooks.{kind.hook_class}",
                "hook-name": kind.hook_name,
                "ui-field-behaviour": {
                    "hidden-fields": list(kind.hidden_fields),
                    "relabeling": dict(kind.relabeling),
                    "placeholders": dict(kind.placeholders),
                },
                **({"conn-fields": {name: dict(spec) for name, spec in kind.extra_fields.items()}}
                   if kind.extra_fields else {}),
            }
            for kind in CONNECTION_TYPES.values()
        ],
    }
