"""A pip-installed third-party connector gets its connection type, DAG, schedule and pool with no core change."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

PLUGIN = '''
from podium.sdk import Connector


class AcmeTixConnector(Connector):
    name = "acmetix"
    title = "AcmeTix (box office)"
    auth_kind = "bearer_token"
    default_schedule = "*/20 * * * *"
    pool_slots = 3
    default_owner = "acme-ops"
    config_spec = {"type": "object", "properties": {
        "token": {"type": "string", "title": "Bearer token", "secret": True, "x-connection-field": "password"}}}
    streams = ()
'''


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``acme-podium`` as pip installs it: a module plus a dist-info whose entry point registers it."""
    from podium import registry

    site = tmp_path / "site-packages"
    (site / "acme_podium").mkdir(parents=True)
    (site / "acme_podium" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "acme_podium-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-podium\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[podium.connectors]\nacmetix = acme_podium:AcmeTixConnector\n")
    monkeypatch.syspath_prepend(str(site))
    registry.refresh()
    yield
    registry.refresh()


def test_third_party_connector_gets_connection_type_dag_schedule_and_pool(
        installed_plugin: None, houses_dir: Path) -> None:
    from plugins.podium_provider import get_provider_info
    from plugins.podium_provider.dags import build_sync_dags
    from plugins.podium_provider.pools import fleet_pools
    from podium.registry import connector_names

    assert "acmetix" in connector_names()
    (houses_dir / "cc-acme.yaml").write_text(
        "house: cc-acme\nname: CC Acme\nkind: cultuurcentrum\n"
        "connectors:\n  acmetix:\n    credentials: {conn_id: acmetix_cc_acme}\n")

    connection = {t["connection-type"]: t for t in get_provider_info()["connection-types"]}["podium_bearer_token"]
    assert connection["ui-field-behaviour"]["relabeling"] == {"password": "Bearer token"}
    assert "login" in connection["ui-field-behaviour"]["hidden-fields"]
    assert "AcmeTix" in connection["hook-name"]

    dags = build_sync_dags(houses_dir)
    dag = dags["podium_sync_acmetix"]
    sync = dag.get_task("sync")
    assert dag.schedule == "*/20 * * * *"
    assert sync.pool == "podium_acmetix" and dag.owner == "acme-ops"
    assert fleet_pools(houses_dir)["podium_acmetix"]["slots"] == 3
    assert "podium_fleet_config_errors" not in dags  # the house is valid: no config mistake reported


def test_without_the_plugin_the_house_is_a_config_mistake_naming_the_connector(houses_dir: Path) -> None:
    """Negative control: the same house with the plugin not installed is reported, not synced."""
    from plugins.podium_provider.dags import build_sync_dags

    (houses_dir / "cc-acme.yaml").write_text(
        "house: cc-acme\nname: CC Acme\nkind: cultuurcentrum\n"
        "connectors:\n  acmetix:\n    credentials: {conn_id: acmetix_cc_acme}\n")
    dags = build_sync_dags(houses_dir)
    assert "podium_sync_acmetix" not in dags and "podium_fleet_config_errors" in dags
