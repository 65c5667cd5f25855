"""A house reaches only what is its own: its credentials, its files and its S3 prefix.

Each refusal is checked twice where it matters: by ``podium check`` (``load_house``) and where the
value is used (credential resolution, the connector opening a path or prefix), for a config that
never went through the check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from podium.boundary import FleetBoundary
from podium.config import ConnectorConfig, HouseConfig, load_house
from podium.engine import build_connector
from podium.errors import ConfigError

HEAD = {"house": "cc-hasselt", "name": "Cultuurcentrum Hasselt", "kind": "cultuurcentrum"}
DB_URL = "postgresql://podium:db-password-77@db.internal/podium"


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A houses folder whose _fleet.yaml sets the data root, S3 rules and a shared allowlist."""
    monkeypatch.delenv("PODIUM_HOUSE_DATA_ROOT", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_CDBXML_CC_HASSELT", '{"password": "hasselt-key-123"}')
    folder = tmp_path / "houses"
    folder.mkdir()
    (tmp_path / "data" / "cc-hasselt").mkdir(parents=True)
    (tmp_path / "data" / "cc-genk").mkdir(parents=True)
    (tmp_path / "data" / "cc-genk" / "feed.xml").write_text("<cdbxml/>")
    (folder / "_fleet.yaml").write_text(yaml.safe_dump({
        "house_data_root": str(tmp_path / "data" / "{house}"),
        "s3_buckets": ["uwp-drops"], "s3_prefix": "{house}/",
        "shared_credentials": {"conn_ids": ["cdbxml_shared_feed"], "env": ["PODIUM_SHARED__CDBXML_KEY"]},
    }))
    return folder


def write_house(folder: Path, connectors: dict[str, object]) -> Path:
    path = folder / "cc-hasselt.yaml"
    path.write_text(yaml.safe_dump({**HEAD, "connectors": connectors}))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_house(path)
    return str(caught.value)


def cdbxml(feed_path: str, credentials: dict[str, object] | None = None) -> dict[str, object]:
    return {"cdbxml": {"settings": {"feed_path": feed_path},
                       "credentials": credentials or {"conn_id": "cdbxml_cc_hasselt"}}}


def unchecked_house(folder: Path, name: str, settings: dict[str, object], credentials: dict[str, object]) -> HouseConfig:
    """A house config that never went through ``podium check``: built directly, not loaded."""
    connector = ConnectorConfig(name=name, enabled=True, schedule=None, streams=None, settings=settings,
                                credentials=credentials)
    return HouseConfig(key="cc-hasselt", name="x", kind="cultuurcentrum", timezone="Europe/Brussels",
                       connectors={name: connector}, path=folder / "cc-hasselt.yaml")


# -- credentials ----------------------------------------------------------------------------------

def test_another_houses_connection_id_is_refused_naming_file_key_and_rule(fleet: Path) -> None:
    path = write_house(fleet, {"ticketmatic": {"settings": {"account": "cchasselt"},
                                               "credentials": {"conn_id": "ticketmatic_cc_genk"}}})
    message = refusal(path)
    assert f"{path}: connectors.ticketmatic.credentials.conn_id: connection id 'ticketmatic_cc_genk'" in message
    assert "rule: use 'ticketmatic_cc_hasselt'" in message and "shared_credentials.conn_ids" in message


def test_a_shorter_house_key_cannot_claim_a_longer_ones_names(fleet: Path) -> None:
    boundary = FleetBoundary().for_house("cc")
    assert boundary.conn_id_refusal("ticketmatic", "ticketmatic_cc_hasselt") is not None
    assert boundary.env_refusal("PODIUM_CC_HASSELT__KEY") is not None
    assert boundary.conn_id_refusal("ticketmatic", "ticketmatic_cc__backup") is None


def test_a_worker_environment_variable_is_refused_at_check_and_at_resolve_time(
        fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", DB_URL)
    path = write_house(fleet, cdbxml("feed.xml", {"env": {"api_key": "DATABASE_URL"}}))
    message = refusal(path)
    assert f"{path}: connectors.cdbxml.credentials.env.api_key: environment variable 'DATABASE_URL'" in message
    assert "starts with 'PODIUM_CC_HASSELT__'" in message

    house = unchecked_house(fleet, "cdbxml", {"base_url": "http://127.0.0.1:1"},
                            {"env": {"api_key": "DATABASE_URL"}})
    with pytest.raises(ConfigError, match="environment variable 'DATABASE_URL' is outside house") as caught:
        build_connector(house, "cdbxml")
    assert "db-password-77" not in str(caught.value)


def test_a_conn_id_outside_the_house_is_refused_before_it_is_read(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CDBXML_CC_GENK", '{"password": "genk-key-123"}')
    house = unchecked_house(fleet, "cdbxml", {"base_url": "http://127.0.0.1:1"}, {"conn_id": "cdbxml_cc_genk"})
    with pytest.raises(ConfigError, match="connection id 'cdbxml_cc_genk' is outside house 'cc-hasselt'"):
        build_connector(house, "cdbxml")


def test_own_and_allowlisted_shared_credentials_pass(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fleet.parent / "data" / "cc-hasselt" / "feed.xml").write_text("<cdbxml/>")
    for credentials in ({"conn_id": "cdbxml_cc_hasselt"}, {"conn_id": "cdbxml_cc_hasselt__backup"},
                        {"conn_id": "cdbxml_shared_feed"}, {"env": {"api_key": "PODIUM_CC_HASSELT__CDBXML_KEY"}},
                        {"env": {"api_key": "PODIUM_SHARED__CDBXML_KEY"}}):
        load_house(write_house(fleet, cdbxml("feed.xml", credentials)))
    monkeypatch.setenv("AIRFLOW_CONN_CDBXML_SHARED_FEED", '{"password": "shared-key-123"}')
    house = load_house(write_house(fleet, {"cdbxml": {"settings": {"base_url": "http://127.0.0.1:1"},
                                                      "credentials": {"conn_id": "cdbxml_shared_feed"}}}))
    assert build_connector(house, "cdbxml").config["api_key"] == "shared-key-123"


# -- local files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("feed_path, rule", [
    ("/etc/passwd", "is outside the house's folder"),
    ("../cc-genk/feed.xml", "climbs out with '..'"),
    ("sub/../../cc-genk/feed.xml", "climbs out with '..'"),
])
def test_local_paths_outside_the_house_root_are_refused(fleet: Path, feed_path: str, rule: str) -> None:
    path = write_house(fleet, cdbxml(feed_path))
    message = refusal(path)
    assert f"{path}: connectors.cdbxml.settings.feed_path: path '{feed_path}'" in message and rule in message
    assert str(fleet.parent / "data" / "cc-hasselt") in message


def test_a_symlink_out_of_the_house_root_is_refused_at_check_and_when_the_connector_reads(fleet: Path) -> None:
    root = fleet.parent / "data" / "cc-hasselt"
    (root / "genk").symlink_to(fleet.parent / "data" / "cc-genk")
    message = refusal(write_house(fleet, cdbxml("genk/feed.xml")))
    assert "path 'genk/feed.xml' is outside the house's folder" in message

    # A folder that passed the check, with a link planted in it later, still reads nothing outside.
    (root / "feed").mkdir()
    (root / "feed" / "a.xml").write_text("<cdbxml/>")
    house = load_house(write_house(fleet, cdbxml("feed")))
    (root / "feed" / "b.xml").symlink_to("/etc/passwd")
    connector = build_connector(house, "cdbxml")
    with pytest.raises(ConfigError, match=r"connectors\.cdbxml\.settings\.feed_path: path .*b\.xml.* outside"):
        list(connector.read("events", None))


def test_the_connector_refuses_a_path_the_check_never_saw(fleet: Path) -> None:
    house = unchecked_house(fleet, "cdbxml", {"feed_path": "/etc/passwd"}, {"conn_id": "cdbxml_cc_hasselt"})
    with pytest.raises(ConfigError, match=r"cc-hasselt\.yaml: connectors\.cdbxml\.settings\.feed_path: path "
                                          r"'/etc/passwd' is outside"):
        build_connector(house, "cdbxml").check()


def test_relative_paths_start_at_the_house_root_and_the_env_root_wins(
        fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fleet.parent / "data" / "cc-hasselt"
    (root / "feed.xml").write_text("<cdbxml/>")
    house = load_house(write_house(fleet, cdbxml("feed.xml")))
    build_connector(house, "cdbxml").check()
    assert house.limits().local_path("feed.xml", key="k") == Path(os.path.realpath(root / "feed.xml"))

    monkeypatch.setenv("PODIUM_HOUSE_DATA_ROOT", str(tmp_path / "elsewhere" / "{house}"))
    assert "is outside the house's folder" in refusal(write_house(fleet, cdbxml(str(root / "feed.xml"))))


def test_a_uwp_folder_outside_the_root_is_refused(fleet: Path) -> None:
    path = write_house(fleet, {"uwp": {"settings": {"folder": "/var/drops/cc-genk"},
                                       "credentials": {"conn_id": "uwp_cc_hasselt"}}})
    assert f"{path}: connectors.uwp.settings.folder: path '/var/drops/cc-genk' is outside" in refusal(path)


# -- S3 -------------------------------------------------------------------------------------------

def uwp(bucket: str, prefix: str) -> dict[str, object]:
    return {"uwp": {"settings": {"bucket": bucket, "prefix": prefix, "endpoint_url": "http://127.0.0.1:1"},
                    "credentials": {"conn_id": "uwp_cc_hasselt"}}}


def test_another_houses_uwp_prefix_and_a_foreign_bucket_are_refused(fleet: Path) -> None:
    path = write_house(fleet, uwp("uwp-drops", "cc-genk/"))
    message = refusal(path)
    assert f"{path}: connectors.uwp.settings.prefix: prefix 'cc-genk/' is outside house 'cc-hasselt'" in message
    assert "starts with 'cc-hasselt/'" in message
    message = refusal(write_house(fleet, uwp("other-bucket", "cc-hasselt/")))
    assert "connectors.uwp.settings.bucket: bucket 'other-bucket' is not allowed" in message
    assert "s3_buckets (uwp-drops)" in message
    assert "outside house" in refusal(write_house(fleet, uwp("uwp-drops", "cc-hasselt/../cc-genk/")))


def test_the_uwp_connector_refuses_a_prefix_the_check_never_saw(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UWP_CC_HASSELT", '{"login": "ak", "password": "sk-123456"}')
    house = unchecked_house(fleet, "uwp", {"bucket": "uwp-drops", "prefix": "cc-genk/"}, {"conn_id": "uwp_cc_hasselt"})
    with pytest.raises(ConfigError, match=r"connectors\.uwp\.settings\.prefix: prefix 'cc-genk/' is outside"):
        build_connector(house, "uwp").check()


def test_the_houses_own_prefix_passes(fleet: Path) -> None:
    load_house(write_house(fleet, uwp("uwp-drops", "cc-hasselt/")))
    load_house(write_house(fleet, uwp("uwp-drops", "cc-hasselt/2026/")))
