"""End to end through Airflow: ``dag.test()`` of the sync DAGs against the vendor sandboxes.

Five example houses: two healthy ones (one with Ticketmatic and Yesplan), one whose data has a
broken record (flagged, not failed), one whose vendor is down and one with a wrong secret. The
DAGs run twice; the second run must add nothing. Credentials come from Airflow connections
(``AIRFLOW_CONN_*``: Airflow's environment secrets backend), never from the house files.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.store import Store
from tests.airflow.support import DAGS, write_fleet_settings

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TM_SECRET = "sandbox-secret-key"
WRONG_SECRET = "wrong-secret-value-123"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _house(key: str, kind: str, connectors: dict[str, Any]) -> dict[str, Any]:
    return {"house": key, "name": key.replace("-", " ").title(), "kind": kind, "connectors": connectors}


def _tm(account: str, url: str, conn_id: str, **extra: Any) -> dict[str, Any]:
    return {"settings": {"account": account, "base_url": url, "requests_per_second": 500},
            "credentials": {"conn_id": conn_id}, **extra}


def _conn(login: str, password: str, conn_type: str = "podium_hmac") -> str:
    return json.dumps({"conn_type": conn_type, "login": login, "password": password})


@pytest.fixture(scope="module")
def e2e(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from connectors.ticketmatic.sandbox import TicketmaticSandbox
    from connectors.yesplan.sandbox import YesplanSandbox
    from plugins.podium_provider.local import asset_events, run_sync_dags

    root = tmp_path_factory.mktemp("e2e")
    houses = root / "houses"
    houses.mkdir()
    tm, yp = TicketmaticSandbox(), YesplanSandbox()
    tm.start()
    yp.start()
    broken = tm.data("korejects")["events"][0]
    broken.update({"name": None, "translations": {}, "startts": None})
    down = f"http://127.0.0.1:{_closed_port()}"
    docs = [
        _house("cc-hasselt", "cultuurcentrum", {
            "ticketmatic": _tm("cchasselt", tm.url, "ticketmatic_cc_hasselt"),
            "yesplan": {"settings": {"base_url": f"{yp.url}/cchasselt", "requests_per_second": 500},
                        "credentials": {"conn_id": "yesplan_cc_hasselt"}}}),
        _house("gc-jette", "gemeenschapscentrum", {"ticketmatic": _tm("gcjette", tm.url, "ticketmatic_gc_jette")}),
        _house("ko-rejects", "kunstenorganisatie", {"ticketmatic": _tm("korejects", tm.url, "ticketmatic_ko_rejects")}),
        _house("ko-down", "kunstenorganisatie", {"ticketmatic": _tm("kodown", down, "ticketmatic_ko_down",
                                                                    streams=["events"])}),
        _house("ko-badauth", "kunstenorganisatie", {"ticketmatic": _tm("kobadauth", tm.url, "ticketmatic_ko_badauth")}),
    ]
    for doc in docs:
        (houses / f"{doc['house']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    write_fleet_settings(houses)
    alerts = root / "alerts.jsonl"
    env = {
        "PODIUM_HOUSES_DIR": str(houses),
        "PODIUM_DB_URL": f"sqlite:///{root / 'podium.db'}",
        "PODIUM_VAR_DIR": str(root / "var"),
        "PODIUM_ARCHIVE_URL": (root / "archive").as_uri(),
        "PODIUM_ALERTS_FILE": str(alerts),
        "AIRFLOW_CONN_TICKETMATIC_CC_HASSELT": _conn(tm.access_key, TM_SECRET),
        "AIRFLOW_CONN_TICKETMATIC_GC_JETTE": _conn(tm.access_key, TM_SECRET),
        "AIRFLOW_CONN_TICKETMATIC_KO_REJECTS": _conn(tm.access_key, TM_SECRET),
        "AIRFLOW_CONN_TICKETMATIC_KO_DOWN": _conn(tm.access_key, TM_SECRET),
        "AIRFLOW_CONN_TICKETMATIC_KO_BADAUTH": _conn(tm.access_key, WRONG_SECRET),
        "AIRFLOW_CONN_YESPLAN_CC_HASSELT": json.dumps({"conn_type": "podium_api_key", "password": yp.api_key}),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        try:
            first = {r.dag_id: r for r in run_sync_dags(DAGS)}
            events_after_first = asset_events()
            second = {r.dag_id: r for r in run_sync_dags(DAGS)}
            events_after_second = asset_events()
        finally:
            tm.stop()
            yp.stop()
    yield {"tm": tm, "yp": yp, "first": first, "second": second, "db": env["PODIUM_DB_URL"],
           "alerts": [json.loads(line) for line in alerts.read_text().splitlines()] if alerts.exists() else [],
           "events_first": events_after_first, "events_second": events_after_second}


def _reports(result: Any) -> dict[str, dict[str, Any]]:
    return {h.house: h.report for h in result.houses if h.report is not None}


def test_first_run_fills_the_store_with_the_sandboxes_counts(e2e: dict[str, Any]) -> None:
    tm_run = e2e["first"]["podium_sync_ticketmatic"]
    yp_run = e2e["first"]["podium_sync_yesplan"]
    states = {h.house: h.state for h in tm_run.houses}
    assert states["cc-hasselt"] == states["gc-jette"] == states["ko-rejects"] == "success"
    assert yp_run.state == "success" and [h.state for h in yp_run.houses] == ["success"]

    store = Store(e2e["db"])
    data = e2e["tm"].data("gcjette")
    jette = _reports(tm_run)["gc-jette"]
    assert jette["status"] == "succeeded" and jette["rejected"] == 0
    assert jette["streams"]["events"]["inserted"] == len(data["events"])
    contacts = jette["streams"]["contacts"]
    assert contacts["inserted"] > 0 and contacts["rejected"] == 0, contacts
    assert store.count_records("gc-jette", "event") == len(data["events"])
    assert store.count_records("gc-jette", "contact") == contacts["inserted"] + contacts["deleted"]
    assert store.count_records("gc-jette", "ticket") == jette["streams"]["orders"]["inserted"] > 0

    hasselt_tm = _reports(tm_run)["cc-hasselt"]
    hasselt_yp = _reports(yp_run)["cc-hasselt"]
    yp_events = hasselt_yp["streams"]["events"]["inserted"]
    assert yp_events > 0 and hasselt_yp["streams"]["events"]["rejected"] == 0
    assert store.count_records("cc-hasselt", "event") == len(e2e["tm"].data("cchasselt")["events"]) + yp_events
    assert hasselt_tm["changed_entities"] == ["contact", "event", "ticket"]
    store.dispose()


def test_second_run_adds_nothing(e2e: dict[str, Any]) -> None:
    for dag_id, result in e2e["second"].items():
        for house, report in _reports(result).items():
            for stream, counts in report["streams"].items():
                assert counts["inserted"] == counts["updated"] == counts["deleted"] == 0, (dag_id, house, stream)
                assert counts["unchanged"] + counts["rejected"] == counts["read"], (dag_id, house, stream)
            assert report["announced"] == []
    store = Store(e2e["db"])
    assert store.count_records("gc-jette") == sum(
        s["inserted"] + s["deleted"]
        for s in _reports(e2e["first"]["podium_sync_ticketmatic"])["gc-jette"]["streams"].values())
    store.dispose()


def test_a_house_whose_vendor_is_down_fails_alone_after_retrying(e2e: dict[str, Any]) -> None:
    run = e2e["first"]["podium_sync_ticketmatic"]
    houses = run.by_house()
    assert houses["ko-down"].state == "failed"
    assert houses["ko-down"].tries == 2  # Airflow retried on top of the HTTP client's own retries
    assert houses["cc-hasselt"].state == houses["gc-jette"].state == "success"
    assert run.state == "failed"  # the run shows the failure; the healthy houses' data is stored


def test_refused_credentials_fail_at_once_without_airflow_retries(e2e: dict[str, Any]) -> None:
    houses = e2e["first"]["podium_sync_ticketmatic"].by_house()
    assert houses["ko-badauth"].state == "failed"
    assert houses["ko-badauth"].tries == 1  # the retry policy fails auth errors immediately


def test_ops_alerts_name_house_connector_stream_error_class_and_dead_letters(e2e: dict[str, Any]) -> None:
    alerts = e2e["alerts"]
    down = [a for a in alerts if a["house"] == "ko-down"]
    assert [a["event"] for a in down][:2] == ["retrying", "failed"]
    final = down[1]
    assert final["connector"] == "ticketmatic" and final["stream"] == "events"
    assert final["error_class"] == "vendor_down" and final["dead_letters"] == 0
    auth = [a for a in alerts if a["house"] == "ko-badauth"]
    assert auth[0]["event"] == "failed" and auth[0]["error_class"] == "auth"
    assert auth[0]["stream"] == "events" and "credentials" in auth[0]["action"]
    assert not any(a["house"] in ("cc-hasselt", "gc-jette", "ko-rejects") for a in alerts)
    assert WRONG_SECRET not in json.dumps(alerts) and TM_SECRET not in json.dumps(alerts)


def test_a_sync_with_rejected_records_succeeds_but_is_flagged(e2e: dict[str, Any]) -> None:
    house = e2e["first"]["podium_sync_ticketmatic"].by_house()["ko-rejects"]
    assert house.state == "success"
    assert house.report is not None
    assert house.report["flag"] == "rejections" and house.report["rejected"] >= 1
    assert house.report["status"] == "succeeded_with_rejections"
    assert house.label is not None and house.label.startswith("ko-rejects ⚠")
    healthy = e2e["first"]["podium_sync_ticketmatic"].by_house()["gc-jette"]
    assert healthy.label == "gc-jette" and "flag" not in (healthy.report or {})


def test_reports_hold_counts_only(e2e: dict[str, Any]) -> None:
    text = json.dumps([h.report for r in e2e["first"].values() for h in r.houses])
    assert TM_SECRET not in text and e2e["yp"].api_key not in text
    data = e2e["tm"].data("gcjette")
    for contact in data["contacts"][:10]:
        for value in contact.values():
            if isinstance(value, str) and len(value) > 6 and "@" in value:
                assert value not in text


def test_changed_entities_are_announced_as_asset_events_once(e2e: dict[str, Any]) -> None:
    first = e2e["events_first"]
    by_uri: dict[str, set[str]] = {}
    for event in first:
        by_uri.setdefault(event["uri"], set()).add(event["extra"]["house"])
    assert by_uri["podium://canonical/event"] == {"cc-hasselt", "gc-jette", "ko-rejects"}
    assert {"cc-hasselt", "gc-jette"} <= by_uri["podium://canonical/contact"]
    assert {"cc-hasselt", "gc-jette"} <= by_uri["podium://canonical/ticket"]
    jette = next(e for e in first if e["uri"] == "podium://canonical/event" and e["extra"]["house"] == "gc-jette")
    assert jette["extra"]["connector"] == "ticketmatic" and jette["extra"]["inserted"] > 0
    assert len(e2e["events_second"]) == len(first)  # nothing changed, nothing announced
