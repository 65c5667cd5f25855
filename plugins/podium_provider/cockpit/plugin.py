"""Registers the cockpit with Airflow 3: a FastAPI app under ``/podium`` and a "Podium fleet" entry in
the UI's navigation that shows it inside Airflow (an external view with a URL route)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from plugins.podium_provider.cockpit.app import airflow_app

URL_PREFIX = "/podium"


class PodiumCockpitPlugin(AirflowPlugin):
    name = "podium_cockpit"
    fastapi_apps = [{"app": airflow_app(), "url_prefix": URL_PREFIX, "name": "Podium cockpit"}]
    external_views = [{"name": "Podium fleet", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "url_route": "podium", "nav_top_level": True}]
