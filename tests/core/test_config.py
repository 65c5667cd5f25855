"""House configs: a few validated lines of YAML; secrets by reference only; clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.boundary import FleetBoundary
from podium.config import load_house, load_houses
from podium.errors import ConfigError
from podium.secrets import resolve_credentials

HASSELT = FleetBoundary().for_house("cc-hasselt", "cc-hasselt.yaml")

GOOD = """\
house: cc-hasselt
name: Cultuurcentrum Hasselt
kind: cultuurcentrum
connectors:
  ticketmatic:
    schedule: "@hourly"
    streams: [events, orders]
    settings: {account: cchasselt, base_url: "http://127.0.0.1:8701"}
    credentials: {conn_id: ticketmatic_cc_hasselt}
"""


def write(tmp_path: Path, text: str, name: str = "cc-hasselt.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_house_loads(tmp_path: Path) -> None:
    house = load_house(write(tmp_path, GOOD))
    tm = house.connector("ticketmatic")
    assert house.key == "cc-hasselt" and house.timezone == "Europe/Brussels"
    assert tm.streams == ["events", "orders"] and tm.credentials == {"conn_id": "ticketmatic_cc_hasselt"}
    assert [h.key for h in load_houses(tmp_path)] == ["cc-hasselt"]


@pytest.mark.parametrize("change, message", [
    (("settings: {account: cchasselt, base_url: \"http://127.0.0.1:8701\"}",
      "settings: {account: cchasselt, secret_key: hunter2hunter2}"),
     "connectors.ticketmatic.settings.secret_key: inline secret refused"),
    (("settings: {account: cchasselt, base_url: \"http://127.0.0.1:8701\"}",
      "settings: {account: cchasselt, password: x}"), "settings.password: inline secret refused"),
    (("  ticketmatic:", "  tiketmatic:"), "unknown connector 'tiketmatic' (did you mean 'ticketmatic'? known: "),
    (("streams: [events, orders]", "streams: [events, sales]"), "unknown stream 'sales' (known: events, contacts, orders)"),
    (("base_url: \"http://127.0.0.1:8701\"", "baseurl: \"http://x\""), "settings.baseurl: unknown setting (did you mean 'base_url'? known: "),
    (("account: cchasselt", "account: 'cc hasselt!'"), "connectors.ticketmatic.settings.account"),
    (("credentials: {conn_id: ticketmatic_cc_hasselt}", "credentials: {access_key: abc, secret_key: def}"),
     "credentials must be {conn_id: ID} or {env: {field: ENV_VAR}}"),
    (("kind: cultuurcentrum", "kind: bioscoop"), "cc-hasselt.yaml: kind: 'bioscoop' is not one of"),
    (("house: cc-hasselt", "house: cc-genk"), "must live in cc-genk.yaml"),
])
def test_refusals_name_the_file_and_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_house(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
    assert "hunter2hunter2" not in str(caught.value)


def test_missing_credentials_and_unknown_env_fields(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="credentials: required"):
        load_house(write(tmp_path, GOOD.replace("    credentials: {conn_id: ticketmatic_cc_hasselt}\n", "")))
    env = "credentials: {env: {access_key: PODIUM_CC_HASSELT__KEY, secret: PODIUM_CC_HASSELT__SECRET}}"
    with pytest.raises(ConfigError, match="no variable named for secret_key"):
        load_house(write(tmp_path, GOOD.replace("credentials: {conn_id: ticketmatic_cc_hasselt}", env)))


def test_broken_yaml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_house(write(tmp_path, "house: [unclosed\n"))


def test_credentials_resolve_from_env_and_from_airflow_style_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {"access_key": "login", "secret_key": "password"}
    scope = {"where": "x", "boundary": HASSELT, "connector": "ticketmatic"}
    env = {"access_key": "PODIUM_CC_HASSELT__TM_KEY", "secret_key": "PODIUM_CC_HASSELT__TM_SECRET"}
    monkeypatch.setenv("PODIUM_CC_HASSELT__TM_KEY", "ak-123456")
    monkeypatch.setenv("PODIUM_CC_HASSELT__TM_SECRET", "sk-abcdef")
    assert resolve_credentials({"env": env}, fields, **scope) == {"access_key": "ak-123456", "secret_key": "sk-abcdef"}
    monkeypatch.setenv("AIRFLOW_CONN_TICKETMATIC_CC_HASSELT", json.dumps({
        "conn_type": "ticketmatic", "login": "ak-json", "password": "sk-json-secret"}))
    assert resolve_credentials({"conn_id": "ticketmatic_cc_hasselt"}, fields, **scope) == {
        "access_key": "ak-json", "secret_key": "sk-json-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_TICKETMATIC_CC_HASSELT__URI", "ticketmatic://ak-uri:sk%2Furi@apps.ticketmatic.com")
    assert resolve_credentials({"conn_id": "ticketmatic_cc_hasselt__uri"}, fields, **scope)["secret_key"] == "sk/uri"
    with pytest.raises(ConfigError, match="ticketmatic_cc_hasselt__nope"):
        resolve_credentials({"conn_id": "ticketmatic_cc_hasselt__nope"}, fields, **scope)
    monkeypatch.delenv("PODIUM_CC_HASSELT__TM_SECRET")
    with pytest.raises(ConfigError, match="PODIUM_CC_HASSELT__TM_SECRET"):
        resolve_credentials({"env": env}, fields, **scope)


def test_secrets_are_masked_in_log_lines(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    monkeypatch.setenv("PODIUM_CC_HASSELT__SOME_SECRET", "s3cr3t-masked-value")
    resolve_credentials({"env": {"token": "PODIUM_CC_HASSELT__SOME_SECRET"}}, {"token": "password"}, where="x",
                        boundary=HASSELT, connector="yesplan")
    caplog.set_level(logging.INFO)
    logging.getLogger("vendor.debug").info("GET /api?api_key=%s failed", "s3cr3t-masked-value")
    assert "s3cr3t-masked-value" not in caplog.text and "api_key=***" in caplog.text


def test_connector_settings_are_checked_against_the_spec_without_echoing_secrets() -> None:
    from connectors.recreatex.connector import RecreatexConnector
    from connectors.ticketmatic.connector import TicketmaticConnector
    from podium.sdk.connector import SyncContext

    with pytest.raises(ConfigError, match="ticketmatic: setting account"):
        TicketmaticConnector({"account": "a b", "access_key": "k", "secret_key": "s"}, SyncContext("h"))
    with pytest.raises(ConfigError, match="'secret_key' is a required property"):
        TicketmaticConnector({"account": "ab", "access_key": "k"}, SyncContext("h"))
    with pytest.raises(ConfigError) as caught:
        RecreatexConnector({"base_url": "http://x", "shop_id": "not-a-guid-but-secret"}, SyncContext("h"))
    assert "not shown" in str(caught.value) and "not-a-guid-but-secret" not in str(caught.value)


def test_every_mistake_of_a_file_is_reported_at_once_with_did_you_mean(tmp_path: Path) -> None:
    text = (GOOD.replace('schedule: "@hourly"', 'schedule: "every 30 minutes"')
            .replace("streams: [events, orders]", "streams: [events, order]")
            .replace("account: cchasselt", "acount: cchasselt")
            .replace("kind: cultuurcentrum", "kind: bioscoop"))
    with pytest.raises(ConfigError) as caught:
        load_house(write(tmp_path, text))
    message = str(caught.value)
    assert "4 problems" in message or "5 problems" in message
    for expected in ("connectors.ticketmatic.schedule: schedule 'every 30 minutes' is not a cron expression",
                     'did you mean "*/30 * * * *"', "unknown stream 'order' (did you mean 'orders'?",
                     "settings.acount: unknown setting (did you mean 'account'?", "kind: 'bioscoop'"):
        assert expected in message
    assert all(line.startswith(str(tmp_path)) for line in message.splitlines())


@pytest.mark.parametrize("schedule, accepted", [
    ("@hourly", True), ("@once", True), ("*/15 * * * *", True), ("15 */2 * * 1-5", True), ("null", True),
    ("every 30 minutes", False), ("@hourley", False), ("61 * * * *", False), ("* * *", False), ("hourly", False),
])
def test_schedules_are_checked_with_a_cron_library(tmp_path: Path, schedule: str, accepted: bool) -> None:
    path = write(tmp_path, GOOD.replace('"@hourly"', schedule if schedule == "null" else f'"{schedule}"'))
    if accepted:
        load_house(path)
        return
    with pytest.raises(ConfigError, match=r"connectors\.ticketmatic\.schedule: ") as caught:
        load_house(path)
    if schedule == "@hourley":
        assert "did you mean @hourly?" in str(caught.value)
