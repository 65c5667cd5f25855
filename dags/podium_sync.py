"""Podium Hub sync DAGs for Airflow: one per connector (and per schedule), one mapped task per enabled house.

No logic lives here: the house configs (``PODIUM_HOUSES_DIR``, default ``houses/``) and the
fleet config (``_fleet.yaml`` beside them) decide the DAGs; ``plugins.podium_provider`` builds them
and the core (``podium.engine.run_sync``) does the work inside each task.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from plugins.podium_provider.dags import build_sync_dags
except ModuleNotFoundError:  # a source checkout that is not pip-installed: the repo root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from plugins.podium_provider.dags import build_sync_dags

globals().update(build_sync_dags())
