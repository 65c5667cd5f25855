"""Airflow-side adapters of Podium Hub (the core in ``podium/`` never imports Airflow)."""
