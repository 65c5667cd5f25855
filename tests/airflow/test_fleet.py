"""Fleet tooling: the generated fleet is the seed's mix, valid, deterministic; the index is fast and right."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from podium.config import load_houses
from podium.fleet import fleet_groups, fleet_index, generate_fleet, load_fleet_settings
from podium.registry import all_connectors


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("fleet")
    return folder, generate_fleet(248, folder, seed=1)


def test_248_houses_have_the_seed_mix_and_2_to_6_connectors(fleet: tuple[Path, list[Path]]) -> None:
    _folder, paths = fleet
    docs = [yaml.safe_load(p.read_text()) for p in paths]
    assert len(docs) == 248
    assert Counter(d["kind"] for d in docs) == {"cultuurcentrum": 68, "gemeenschapscentrum": 111,
                                                "kunstenorganisatie": 69}
    sizes = [len(d["connectors"]) for d in docs]
    assert min(sizes) >= 2 and max(sizes) <= 6
    used = Counter(name for d in docs for name in d["connectors"])
    assert set(used) == {name for name, cls in all_connectors().items() if cls.example_share}
    assert {"cc-hasselt", "cc-turnhout", "cc-strombeek", "ko-stadsschouwburg-brugge"} <= {d["house"] for d in docs}


def test_every_generated_house_passes_full_validation_with_credentials_by_reference(
        fleet: tuple[Path, list[Path]]) -> None:
    folder, _ = fleet
    houses = load_houses(folder)
    assert len(houses) == 248
    for house in houses:
        for connector in house.connectors.values():
            assert connector.credentials is not None and set(connector.credentials) == {"conn_id"}


def test_generation_is_deterministic_per_seed(tmp_path: Path, fleet: tuple[Path, list[Path]]) -> None:
    _folder, paths = fleet
    again = generate_fleet(248, tmp_path / "again", seed=1)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    other = generate_fleet(248, tmp_path / "other", seed=2)
    assert [p.read_bytes() for p in other] != [p.read_bytes() for p in paths]


def test_small_fleets_keep_the_proportions(tmp_path: Path) -> None:
    docs = [yaml.safe_load(p.read_text()) for p in generate_fleet(10, tmp_path)]
    assert Counter(d["kind"] for d in docs) == {"cultuurcentrum": 3, "gemeenschapscentrum": 4,
                                                "kunstenorganisatie": 3}


def test_index_matches_the_validated_configs(fleet: tuple[Path, list[Path]]) -> None:
    folder, _ = fleet
    index = fleet_index(folder)  # its speed is measured by bench/dag_parse.py, not asserted here
    expected: dict[str, list[str]] = {}
    for house in load_houses(folder):
        for name, connector in house.connectors.items():
            if connector.enabled:
                expected.setdefault(name, []).append(house.key)
    assert index == {k: sorted(v) for k, v in sorted(expected.items())}


def test_groups_follow_the_fleet_settings(fleet: tuple[Path, list[Path]]) -> None:
    folder, _ = fleet
    settings = load_fleet_settings(folder)
    for group in fleet_groups(folder):
        assert group.pool == f"podium_{group.connector}"
        assert group.pool_slots == settings["connectors"][group.connector]["pool_slots"]
        if not group.custom_schedule:
            assert group.schedule == settings["connectors"][group.connector]["schedule"]


def test_fleet_settings_default_without_the_file(tmp_path: Path) -> None:
    settings = load_fleet_settings(tmp_path)
    assert settings["retries"] >= 1 and set(all_connectors()) <= set(settings["connectors"])
    for name, cls in all_connectors().items():  # the connector's own declaration is the default
        assert settings["connectors"][name]["schedule"] == cls.default_schedule
        assert settings["connectors"][name]["pool_slots"] == cls.pool_slots
    (tmp_path / "_fleet.yaml").write_text("retries: 5\nconnectors:\n  yesplan: {pool_slots: 2}\n")
    settings = load_fleet_settings(tmp_path)
    assert settings["retries"] == 5
    assert settings["connectors"]["yesplan"] == {**settings["connectors"]["yesplan"], "pool_slots": 2}
    assert settings["connectors"]["yesplan"]["schedule"]


def test_an_invalid_fleet_schedule_is_a_problem_and_house_overrides_still_run(tmp_path: Path) -> None:
    from podium.fleet import fleet_problems, scan_fleet

    generate_fleet(12, tmp_path, seed=3)
    fleet = yaml.safe_load((tmp_path / "_fleet.yaml").read_text())
    fleet.setdefault("connectors", {})["uitdatabank"] = {"schedule": "@hourley"}
    (tmp_path / "_fleet.yaml").write_text(yaml.safe_dump(fleet))
    house = yaml.safe_load((tmp_path / "cc-hasselt.yaml").read_text())
    house["connectors"]["uitdatabank"]["schedule"] = "@daily"
    (tmp_path / "cc-hasselt.yaml").write_text(yaml.safe_dump(house))

    (problem,) = fleet_problems(tmp_path)
    assert problem.file == str(tmp_path / "_fleet.yaml") and problem.key == "connectors.uitdatabank.schedule"
    assert "did you mean @hourly?" in problem.fix
    uitdatabank = [g for g in fleet_groups(tmp_path) if g.connector == "uitdatabank"]
    assert [(g.schedule, g.houses) for g in uitdatabank] == [("@daily", ("cc-hasselt",))]
    assert scan_fleet(tmp_path).problems == ()
