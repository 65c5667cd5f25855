"""The provider (connection types), the credential resolver, the ops notifier and the task body's
flagging/announcing logic — fast, without running a DAG."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from plugins.podium_provider import get_provider_info
from plugins.podium_provider.connection_types import CONNECTION_TYPES, connection_types
from podium.errors import AuthError, ConfigError, VendorDownError

pytestmark = pytest.mark.airflow


def test_provider_info_is_valid_and_registered_under_the_entry_point() -> None:
    import importlib.metadata

    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "podium-hub"
    names = {ep.value for ep in importlib.metadata.entry_points(group="apache_airflow_provider")}
    assert "plugins.podium_provider:get_provider_info" in names


def test_every_vendor_has_a_connection_type_whose_hook_matches() -> None:
    from importlib import import_module

    from podium.registry import all_connectors

    kinds = connection_types()
    listed = {entry["connection-type"]: entry for entry in get_provider_info()["connection-types"]}
    for vendor, cls in all_connectors().items():
        kind = kinds[cls.connection_type()]
        hook = getattr(import_module("plugins.podium_provider.hooks"), kind.hook_class)
        assert hook.conn_type == kind.conn_type and kind.hook_name.startswith(hook.hook_name)
        # The UI names the connectors that use the form (from their titles, not a list in the provider).
        assert str(cls.title).split(" (")[0] in listed[kind.conn_type]["hook-name"], vendor
        # Every secret field sits in an attribute the connection type shows (login/password).
        for attribute in cls.secret_fields().values():
            assert attribute in ("login", "password") and attribute not in kind.hidden_fields, (vendor, attribute)


def test_provider_lists_its_hooks_operators_and_notifier_and_they_import() -> None:
    from importlib import import_module

    info = get_provider_info()
    for section in ("hooks", "operators"):
        for module in (m for entry in info[section] for m in entry["python-modules"]):
            import_module(module)
    assert "plugins.podium_provider.operators.sync" in info["operators"][0]["python-modules"]
    for path in info["notifications"]:
        module, _, name = path.rpartition(".")
        assert callable(getattr(import_module(module), name))


def test_airflow_lists_the_connection_types(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hooks = manager.hooks
    for conn_type in CONNECTION_TYPES:
        assert conn_type in hooks, conn_type


def test_resolver_reads_airflow_connections_with_their_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.podium_provider.hooks import connection_fields

    monkeypatch.setenv("AIRFLOW_CONN_TM_TEST", json.dumps(
        {"conn_type": "podium_hmac", "login": "access-1", "password": "secret-value-1",
         "extra": {"extra__podium_hmac__region": "eu", "tenant": "x"}}))
    fields = connection_fields("tm_test")
    assert fields["login"] == "access-1" and fields["password"] == "secret-value-1"
    assert fields["region"] == "eu" and fields["tenant"] == "x" and fields["conn_type"] == "podium_hmac"
    with pytest.raises(ConfigError, match="tm_missing"):
        connection_fields("tm_missing")


def test_core_resolves_house_credentials_through_the_installed_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.podium_provider.hooks import connection_fields
    from podium import secrets
    from podium.boundary import FleetBoundary

    monkeypatch.setenv("AIRFLOW_CONN_YP_TEST", json.dumps({"conn_type": "podium_api_key", "password": "yp-key-42"}))
    secrets.set_connection_resolver(connection_fields)
    try:
        values = secrets.resolve_credentials({"conn_id": "yp_test"}, {"api_key": "password"}, where="test",
                                             boundary=FleetBoundary().for_house("test"), connector="yp")
    finally:
        secrets.set_connection_resolver(secrets.env_connection)
    assert values == {"api_key": "yp-key-42"}
    assert secrets.redact("key=yp-key-42") == "key=***"


def _context(exc: BaseException | None, house: str = "cc-hasselt") -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="podium_sync_ticketmatic", run_id="manual__1", try_number=2, map_index=0,
                         rendered_map_index=house)
    return {"exception": exc, "ti": ti, "podium_house": house}


def test_failure_alert_names_house_connector_stream_error_class_and_dead_letters(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from plugins.podium_provider.notifications.podium import PodiumFailureNotifier

    exc = VendorDownError("cc-hasselt × ticketmatic × orders: [vendor_down] 503 after 5 attempts")
    exc.podium_report = {"house": "cc-hasselt", "connector": "ticketmatic", "failed_stream": "orders",  # type: ignore[attr-defined]
                         "error_class": "vendor_down", "rejected": 3}
    monkeypatch.setenv("PODIUM_ALERTS_FILE", str(tmp_path / "alerts.jsonl"))
    with caplog.at_level(logging.ERROR, logger="podium.ops"):
        PodiumFailureNotifier("ticketmatic").notify(_context(exc))
    line = next(r.getMessage() for r in caplog.records if r.name == "podium.ops")
    for part in ("house=cc-hasselt", "connector=ticketmatic", "stream=orders", "error_class=vendor_down",
                 "dead_letters=3"):
        assert part in line
    alert = json.loads((tmp_path / "alerts.jsonl").read_text())
    assert alert["error_class"] == "vendor_down" and alert["dead_letters"] == 3 and alert["try_number"] == 2


def test_failure_alert_without_a_report_classifies_the_exception() -> None:
    from plugins.podium_provider.notifications.podium import failure_alert

    alert = failure_alert(_context(ConfigError("houses/x.yaml: connectors.tm: unknown"), house="gc-x"), "tm")
    assert alert["house"] == "gc-x" and alert["error_class"] == "config" and alert["stream"] is None
    alert = failure_alert(_context(RuntimeError("boom")), "tm")
    assert alert["error_class"] == "internal"


def test_an_auth_alert_names_the_connection_to_renew_and_a_retry_alert_says_airflow_tries_again() -> None:
    from plugins.podium_provider.notifications.podium import failure_alert, format_alert

    exc = AuthError("cc-hasselt × ticketmatic: [auth] 401 Unauthorized")
    exc.podium_report = {"house": "cc-hasselt", "connector": "ticketmatic", "failed_stream": "orders",  # type: ignore[attr-defined]
                         "error_class": "auth", "rejected": 0, "conn_id": "ticketmatic_cc_hasselt"}
    failed = failure_alert(_context(exc), "ticketmatic")
    assert failed["conn_id"] == "ticketmatic_cc_hasselt"
    assert "renew the credentials in the Airflow connection 'ticketmatic_cc_hasselt'" in failed["action"]
    assert "conn_id=ticketmatic_cc_hasselt" in format_alert(failed)

    down = VendorDownError("cc-hasselt × ticketmatic × orders: [vendor_down] 503")
    context = {**_context(down), "task": SimpleNamespace(retries=3)}
    context["ti"].try_number = 1
    retrying = failure_alert(context, "ticketmatic", event="retrying")
    assert "retries" not in retrying["action"].replace("tries again", "")  # no "after all retries" on try 1
    assert "tries again (try 1 of 4)" in retrying["action"]
    assert "through every retry" in failure_alert(_context(down), "ticketmatic")["action"]


def test_failure_alert_masks_registered_secrets() -> None:
    from plugins.podium_provider.notifications.podium import failure_alert
    from podium.secrets import register_secret

    register_secret("hunter2-secret")
    alert = failure_alert(_context(AuthError("401 for key hunter2-secret")), "tm")
    assert "hunter2-secret" not in json.dumps(alert)


class _StateStore:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class _Outlets:
    def __init__(self) -> None:
        self.added: list[tuple[str, dict[str, Any]]] = []

    def __getitem__(self, alias: Any) -> Any:
        return SimpleNamespace(add=lambda asset, extra: self.added.append((asset.uri, extra)))


def _fake_report(status: str, inserted: int, rejected: int = 0, error_class: str | None = None) -> Any:
    streams = {"events": {"entity": "event", "read": inserted + rejected, "inserted": inserted, "updated": 0,
                          "unchanged": 0, "deleted": 0, "rejected": rejected, "status": status}}
    summary = {"house": "cc-x", "connector": "ticketmatic", "run_id": "r1", "status": status,
               "error_class": error_class, "failed_stream": "events" if error_class else None,
               "rejected": rejected, "changed_entities": ["event"] if inserted else [], "streams": streams}

    def raise_for_failure() -> None:
        if error_class:
            raise VendorDownError("cc-x × ticketmatic × events: [vendor_down] down")

    return SimpleNamespace(status=status, rejected=rejected, as_dict=lambda: json.loads(json.dumps(summary)),
                           raise_for_failure=raise_for_failure)


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    import podium.config
    import podium.engine
    import podium.store

    reports: list[Any] = []
    monkeypatch.setattr(podium.config, "load_house", lambda path: SimpleNamespace(key="cc-x"))
    monkeypatch.setattr(podium.engine, "run_sync", lambda *a, **k: reports.pop(0))
    monkeypatch.setattr(podium.store.Store, "from_env", classmethod(lambda cls: SimpleNamespace(dispose=lambda: None)))
    return reports


def test_changes_of_a_failed_try_are_announced_by_the_try_that_succeeds(fake_engine: list[Any]) -> None:
    from plugins.podium_provider.sync import run_house_sync

    state, outlets = _StateStore(), _Outlets()
    context: dict[str, Any] = {"task_state_store": state, "outlet_events": outlets}
    fake_engine.append(_fake_report("failed", inserted=5, error_class="vendor_down"))
    with pytest.raises(VendorDownError) as info:
        run_house_sync("ticketmatic", "cc-x", context)
    assert info.value.podium_report["failed_stream"] == "events"  # type: ignore[attr-defined]
    assert outlets.added == [] and state.data  # kept for the next try
    fake_engine.append(_fake_report("succeeded", inserted=0))
    summary = run_house_sync("ticketmatic", "cc-x", context)
    assert summary["announced"] == ["event"]
    assert outlets.added == [("podium://canonical/event",
                              {"house": "cc-x", "connector": "ticketmatic", "podium_run_id": "r1",
                               "inserted": 5, "updated": 0, "deleted": 0})]
    assert state.data == {}


def test_rejections_flag_the_report_the_label_and_the_log(fake_engine: list[Any],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    from plugins.podium_provider.sync import run_house_sync

    context: dict[str, Any] = {"outlet_events": _Outlets()}
    fake_engine.append(_fake_report("succeeded_with_rejections", inserted=4, rejected=2))
    with caplog.at_level(logging.WARNING, logger="podium.airflow"):
        summary = run_house_sync("ticketmatic", "cc-x", context)
    assert summary["flag"] == "rejections"
    assert context["podium_label"] == "cc-x ⚠ 2 rejected"
    assert any("2 rejected record(s)" in r.getMessage() for r in caplog.records)


def test_a_broken_house_config_fails_as_a_config_error_with_a_report(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    from plugins.podium_provider.sync import run_house_sync

    (tmp_path / "cc-bad.yaml").write_text("house: cc-bad\nname: X\nkind: theater\nconnectors: {}\n")
    context: dict[str, Any] = {}
    with pytest.raises(ConfigError) as info:
        run_house_sync("ticketmatic", "cc-bad", context, houses_dir=tmp_path)
    assert info.value.podium_report["error_class"] == "config"  # type: ignore[attr-defined]
    assert context["podium_label"] == "cc-bad ✘ config", "the grid label says why, without opening the log"


def test_a_sync_already_running_for_the_house_is_a_skip_naming_the_holder(fake_engine: list[Any]) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from plugins.podium_provider.sync import run_house_sync

    message = "cc-x × ticketmatic is already being synced by run r0 of worker-2:4242 since 2026-03-01T10:00:00"
    summary = {"house": "cc-x", "connector": "ticketmatic", "run_id": "r1", "status": "already_running",
               "error_class": None, "streams": {}, "rejected": 0,
               "already_running": {"run_id": "r0", "owner": "worker-2:4242", "message": message}}
    fake_engine.append(SimpleNamespace(status="already_running", rejected=0, as_dict=lambda: summary))
    outlets = _Outlets()
    context: dict[str, Any] = {"outlet_events": outlets}
    with pytest.raises(AirflowSkipException, match="already being synced by run r0 of worker-2:4242"):
        run_house_sync("ticketmatic", "cc-x", context)
    assert outlets.added == [] and context["podium_label"] == "cc-x (already running)"
