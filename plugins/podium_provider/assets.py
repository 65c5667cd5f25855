"""The canonical entities as Airflow assets, for data-aware scheduling downstream of the syncs.

Sync tasks declare the alias ``podium_canonical_changes`` as their outlet and add an event for an
entity's asset only when that entity changed — a sync that changed nothing triggers nothing.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

ENTITIES = ("event", "contact", "ticket")
CHANGES_ALIAS = AssetAlias("podium_canonical_changes", group="podium")


def canonical_asset(entity: str) -> Asset:
    """``podium://canonical/<entity>``: changed canonical records of that entity, any house."""
    return Asset(uri=f"podium://canonical/{entity}", name=f"podium_canonical_{entity}", group="podium")
