"""Podium Hub core: canonical model, connector SDK, mapping engine, store and sync engine.

Nothing in this package imports Airflow: the DAGs in ``dags/`` and the adapters in ``plugins/``
call into it, never the other way round.
"""

__version__ = "0.1.0"
