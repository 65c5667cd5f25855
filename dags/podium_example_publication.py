"""EXAMPLE downstream Airflow DAG: scheduled on the asset ``podium://canonical/event``; it only logs counts.

A placeholder showing data-aware scheduling on the sync DAGs' asset events (house in each event's
extra). It publishes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from plugins.podium_provider.dags import build_example_publication_dag
except ModuleNotFoundError:  # a source checkout that is not pip-installed: the repo root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from plugins.podium_provider.dags import build_example_publication_dag

example_publication = build_example_publication_dag()
