"""Podium Hub sync DAGs for Airflow: one per connector (and per schedule), one mapped task per enabled house.

No logic lives here: the house configs (``PODIUM_HOUSES_DIR``, default ``houses/``) and the
fleet config (``_fleet.yaml`` beside them) decide the DAGs; the installed ``podium-hub`` package's
provider (``plugins.podium_provider``) builds them and the core (``podium.engine.run_sync``) does the
work inside each task.
"""

from __future__ import annotations

from plugins.podium_provider.dags import build_sync_dags

globals().update(build_sync_dags())
