"""EXAMPLE downstream Airflow DAGs: a publication route scheduled on ``podium://canonical/event`` and a
mailing route scheduled on ``podium://canonical/contact`` | ``podium://canonical/ticket``; they only log
counts.

Placeholders showing data-aware scheduling on the sync DAGs' asset events (house in each event's
extra). They publish and send nothing.
"""

from __future__ import annotations

from plugins.podium_provider.dags import build_example_mailing_dag, build_example_publication_dag

example_publication = build_example_publication_dag()
example_mailing = build_example_mailing_dag()
