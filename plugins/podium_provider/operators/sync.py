"""``PodiumSyncOperator``: one house × connector synced by the core engine, inside an Airflow task.

Mapped over a sync group's houses by the DAG factory (``PodiumSyncOperator.partial(...).expand(house=…)``);
the body is ``plugins.podium_provider.sync.run_house_sync`` (credentials from Airflow Connections,
counts-only report as XCom, asset events for changed entities, skip when the house is already syncing).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from plugins.podium_provider.assets import CHANGES_ALIAS

# The grid shows the house key, or the label the sync sets (e.g. "cc-x ⚠ 2 rejected", "(already running)").
MAP_INDEX_TEMPLATE = "{{ podium_label | default(task.house) }}"


class PodiumSyncOperator(BaseOperator):
    """Sync ``connector`` for house ``house`` (config read from ``houses_dir``, default ``PODIUM_HOUSES_DIR``)."""

    template_fields: Sequence[str] = ()
    ui_color = "#d9ead3"

    def __init__(self, *, connector: str, house: str, houses_dir: str | os.PathLike[str] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("map_index_template", MAP_INDEX_TEMPLATE)
        kwargs.setdefault("outlets", [CHANGES_ALIAS])
        super().__init__(**kwargs)
        self.connector = connector
        self.house = house
        self.houses_dir = os.fspath(houses_dir) if houses_dir is not None else None

    def execute(self, context: Any) -> dict[str, Any]:
        from plugins.podium_provider.sync import run_house_sync

        # The live context: labels the sync sets on it re-render the map index after the run.
        return run_house_sync(self.connector, self.house, context, houses_dir=self.houses_dir)
