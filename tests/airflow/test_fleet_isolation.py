"""One house's mistake never stops the fleet: a broken house is left out of its DAG and shown to ops."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from podium.fleet import fleet_groups, generate_fleet
from tests.airflow.support import dagbag, mapped_houses

pytestmark = pytest.mark.airflow

ERRORS_DAG = "podium_fleet_config_errors"


def _edit(folder: Path, key: str, edit: dict[str, object]) -> None:
    path = folder / f"{key}.yaml"
    house = yaml.safe_load(path.read_text())
    connector = next(iter(house["connectors"]))
    house["connectors"][connector].update(edit)
    path.write_text(yaml.safe_dump(house, sort_keys=False))


def _sync_houses(bag: object) -> set[str]:
    return {house for dag_id, dag in bag.dags.items() if dag_id.startswith("podium_sync_")  # type: ignore[attr-defined]
            for house in mapped_houses(dag.get_task("sync"))}


def test_one_house_with_an_invalid_schedule_does_not_take_the_fleet_down(houses_dir: Path) -> None:
    generate_fleet(12, houses_dir, seed=3)
    healthy = {h for g in fleet_groups(houses_dir) for h in g.houses} - {"cc-hasselt"}
    _edit(houses_dir, "cc-hasselt", {"schedule": "every 30 minutes"})

    bag = dagbag()

    assert bag.import_errors == {}
    assert healthy <= _sync_houses(bag)
    errors = bag.dags[ERRORS_DAG]
    report = errors.get_task("report")
    problems = report._get_specified_expand_input().value["problem"]
    assert [p["file"] for p in problems] == [str(houses_dir / "cc-hasselt.yaml")]
    assert "schedule" in problems[0]["key"] and "*/30 * * * *" in problems[0]["fix"]
    assert report.partial_kwargs["on_failure_callback"]


def test_a_connector_typo_is_shown_not_scheduled_on_a_missing_pool(houses_dir: Path) -> None:
    from plugins.podium_provider.pools import fleet_pools

    generate_fleet(6, houses_dir, seed=2)
    house = yaml.safe_load((houses_dir / "cc-hasselt.yaml").read_text())
    house["connectors"]["tiketmatic"] = house["connectors"].pop(next(iter(house["connectors"])))
    (houses_dir / "cc-hasselt.yaml").write_text(yaml.safe_dump(house))

    bag = dagbag()

    pools = fleet_pools(houses_dir)
    assert not any("tiketmatic" in dag_id for dag_id in bag.dags)
    for dag in bag.dags.values():
        for task in dag.tasks:
            assert task.pool in pools, (dag.dag_id, task.pool)
    problems = bag.dags[ERRORS_DAG].get_task("report")._get_specified_expand_input().value["problem"]
    assert any(p["key"] == "connectors.tiketmatic" and "ticketmatic" in p["fix"] for p in problems)


def test_a_broken_group_fails_alone(houses_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.podium_provider import dags

    generate_fleet(12, houses_dir, seed=3)
    real = dags.build_sync_dag

    def flaky(group, houses_dir=None):  # type: ignore[no-untyped-def]
        if group.connector == "uitdatabank":
            raise ValueError("boom")
        return real(group, houses_dir)

    monkeypatch.setattr(dags, "build_sync_dag", flaky)
    built = dags.build_sync_dags()
    assert "podium_sync_uitdatabank" not in built and any(k.startswith("podium_sync_") for k in built)
    assert dags.ERRORS_DAG_ID in built


def test_a_broken_house_fails_its_report_task_and_alerts_with_file_key_and_fix(
        houses_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from plugins.podium_provider.dags import build_sync_dags

    generate_fleet(4, houses_dir, seed=2)
    (houses_dir / "gc-broken.yaml").write_text("house: [unclosed\n")
    alerts = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("PODIUM_ALERTS_FILE", str(alerts))
    report = build_sync_dags()[ERRORS_DAG].get_task("report")
    (problem,) = report._get_specified_expand_input().value["problem"]

    with pytest.raises(Exception) as caught:
        report.python_callable(problem=problem)
    report.partial_kwargs["on_failure_callback"].notify({"exception": caught.value, "ti": None})

    (alert,) = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert alert["house"] == "gc-broken" and alert["error_class"] == "config"
    assert str(houses_dir / "gc-broken.yaml") in alert["message"] and "line 2" in alert["message"]
    assert "fix: correct the YAML" in alert["message"]


def test_a_third_party_connector_gets_a_dag_and_a_pool_with_default_slots(
        houses_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import podium.registry
    from plugins.podium_provider import pools
    from podium.fleet import DEFAULT_POOL_SLOTS

    installed = [*podium.registry.connector_names(), "acme"]
    monkeypatch.setattr(podium.registry, "connector_names", lambda: sorted(installed))
    monkeypatch.setattr(podium.registry, "is_installed", lambda name: name in installed)
    monkeypatch.setattr(pools, "connector_names", lambda: sorted(installed))
    generate_fleet(3, houses_dir, seed=2)
    house = yaml.safe_load((houses_dir / "cc-hasselt.yaml").read_text())
    house["connectors"]["acme"] = {"settings": {}}
    (houses_dir / "cc-hasselt.yaml").write_text(yaml.safe_dump(house))

    (group,) = [g for g in fleet_groups(houses_dir) if g.connector == "acme"]
    available = pools.fleet_pools(houses_dir)
    assert group.houses == ("cc-hasselt",) and group.pool == "podium_acme"
    assert available["podium_acme"]["slots"] == DEFAULT_POOL_SLOTS
    assert all(f"podium_{name}" in available for name in installed)
