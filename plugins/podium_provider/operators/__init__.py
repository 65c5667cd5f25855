"""Operators: the sync of one house × connector as an Airflow task."""

from plugins.podium_provider.operators.sync import PodiumSyncOperator

__all__ = ["PodiumSyncOperator"]
