"""Yesplan connector: golden mapping, bad input, sandbox behaviour and the conformance suite."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.yesplan.connector import YesplanConnector, flatten_customdata
from connectors.yesplan.sandbox import YesplanSandbox, last_sunday
from podium.canonical import validate
from podium.errors import AuthError, ConfigError
from podium.mapping.engine import MappingContext, load_mapping
from podium.sdk.auth import ApiKeyQueryAuth
from podium.sdk.connector import SyncContext
from podium.testing import ConnectorConformance
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(YesplanConnector)  # golden cases: tests/connectors/test_golden.py
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "yesplan"
HOUSE = "dewarande"


def mapping() -> Any:
    return load_mapping(MAPPINGS, "yesplan", "events")


def map_all(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    out, errors = [], []
    for raw in records:
        canonical, errs = mapping().map(raw, MappingContext(HOUSE, "yesplan"))
        out += canonical
        errors += errs
    return out, errors


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[YesplanSandbox]:
    box = YesplanSandbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def sandbox(shared_sandbox: YesplanSandbox) -> YesplanSandbox:
    """The module's sandbox with an empty rate-limit window: the documented 20 requests a second count
    one test's requests, not the reads of the test before (a raw request here is not retried, and a
    retried one would add to the request log a test counts)."""
    shared_sandbox.reset_rate_limit()
    return shared_sandbox


def connector(box: YesplanSandbox, org: str = HOUSE, **settings: Any) -> YesplanConnector:
    config = {"base_url": f"{box.url}/{org}", "api_key": box.api_key, "requests_per_second": 500, **settings}
    return YesplanConnector(config, SyncContext(house=org))


def read_all(conn: YesplanConnector) -> list[dict[str, Any]]:
    return [record for page in conn.read("events", None) for record in page.records]


# -- golden mapping ------------------------------------------------------------------------------
def test_golden_keeps_offsets_across_the_dst_switch_and_reads_statuses() -> None:
    expected = {r["source"]["id"]: r for r in
                json.loads((GOLDEN / "events.page.expected.json").read_text(encoding="utf-8"))}
    march = expected["412087554-1612345679"]
    assert (march["start"], march["end"]) == ("2025-03-29T22:00:00+01:00", "2025-03-30T03:30:00+02:00")
    october = expected["412087555-1612345680"]
    assert october["end"] == "2025-10-26T02:30:00+01:00" and october["status"] == "cancelled"
    assert expected["412087556-1612345681"]["status"] == "postponed"
    assert expected["412087556-1612345681"]["start"] == "2025-06-15T14:30:00+02:00"  # naive = Brussels
    first = expected["412087553-1612345678"]
    assert first["external_ids"] == {"ticketmatic": "40213"}
    assert first["production"]["source_id"] == "500600700-1600000000"
    assert first["extras"]["customdata"] == {"publicatie_genre": ["theater"]}


# -- bad input -----------------------------------------------------------------------------------
GOOD = {"id": "1-2", "name": "Goed", "starttime": "2025-05-01T20:00:00+02:00", "_type": "event"}


@pytest.mark.parametrize("bad, reason", [
    ({**GOOD, "name": None}, "title"),
    ({**GOOD, "name": ""}, "title"),
    ({**GOOD, "starttime": "morgen om acht"}, "start"),
    ({**GOOD, "starttime": None}, "start"),
    ({k: v for k, v in GOOD.items() if k != "id"}, "source_id"),
    ({**GOOD, "id": {"nested": 1}}, "source_id"),
])
def test_bad_event_is_a_mapping_error_and_never_costs_the_good_ones(bad: dict[str, Any], reason: str) -> None:
    records, errors = map_all([GOOD, bad, {**GOOD, "id": "3-4"}])
    assert [r["source"]["id"] for r in records] == ["1-2", "3-4"]
    assert len(errors) == 1 and reason in str(errors[0])


@pytest.mark.parametrize("odd", [
    {**GOOD, "status": "Bevestigd"}, {**GOOD, "locations": {"name": "x"}}, {**GOOD, "profile": []},
    {**GOOD, "production": {"name": "zonder id"}}, {**GOOD, "status": {"name": "Optie 2"}},
])
def test_odd_shapes_still_give_valid_records(odd: dict[str, Any]) -> None:
    records, errors = map_all([odd])
    assert errors == [] and len(records) == 1
    assert validate("event", records[0]) == []
    assert records[0]["status"] == "scheduled"


def test_flatten_customdata_reads_the_items_list_and_the_groups_tree() -> None:
    assert flatten_customdata({"items": [{"keyword": "a", "value": "1"}, {"keyword": "b", "value": ""}]}) == {"a": "1"}
    tree = {"groups": [{"keyword": "g", "children": [{"keyword": "s", "children": [
        {"keyword": "x", "value": 5}, {"keyword": "y", "value": None}]}]}]}
    assert flatten_customdata(tree) == {"x": 5}
    assert flatten_customdata(["not", "a", "dict"]) == {}
    assert flatten_customdata({"groups": [1, None, {"children": "no list"}]}) == {}


class _BrokenPageSandbox(YesplanSandbox):
    """Serves a page with a non-object entry among good events, and a 404 for one event's custom data."""

    def route(self, request: Any) -> Any:
        from podium.sandbox import Response

        if "/customdata" in request.path and "broken-1" in request.path:
            return Response.json({"message": "no such event"}, 404)
        if request.path.endswith("/customdata"):
            return Response.json({"items": [{"keyword": "ticketing_tm_eventid", "value": "77"}]})
        if "/api/events/" in request.path:
            return Response.json({"pagination": {}, "data": [
                {**GOOD, "id": "broken-1"}, "not an event", {**GOOD, "id": "broken-2"}]})
        return super().route(request)


def test_a_non_object_entry_is_a_record_error_and_a_custom_data_failure_fails_the_stream() -> None:
    box = _BrokenPageSandbox()
    box.start()
    try:
        conn = connector(box, external_id_keywords={"ticketing_tm_eventid": "ticketmatic"})
        # Without custom data keywords the page reads; the non-object entry is one record error.
        plain = list(connector(box).read("events", None))
        # With them, broken-1's custom data answers 404: the page is not handed on (its state not
        # stored), rather than storing broken-1 without its external id.
        with pytest.raises(ConfigError, match="customdata"):
            list(conn.read("events", None))
    finally:
        box.stop()
    assert len(plain) == 1
    page = plain[0]
    assert [r["id"] for r in page.records] == ["broken-1", "broken-2"]
    assert len(page.errors) == 1 and "not an object" in page.errors[0][0]


# -- settings ------------------------------------------------------------------------------------
def test_window_path_uses_yesplans_date_format() -> None:
    conn = YesplanConnector({"base_url": "https://dewarande.yesplan.be", "api_key": "k" * 12,
                             "days_back": 30, "days_ahead": 365}, SyncContext(house=HOUSE))
    assert conn.events_path(date(2025, 3, 1)) == "api/events/event:date:30-01-2025%20TO%2001-03-2026"
    assert conn.base_url() == "https://dewarande.yesplan.be"


@pytest.mark.parametrize("settings", [
    {"base_url": "dewarande.yesplan.be"}, {"days_back": -1}, {"days_ahead": "veel"},
    {"customdata_keywords": "ticketing_tm_eventid"}, {"external_id_keywords": {"kw": ""}},
])
def test_bad_settings_are_config_errors(settings: dict[str, Any]) -> None:
    config = {"base_url": "https://x.yesplan.be", "api_key": "sandbox-key-x", **settings}
    with pytest.raises(ConfigError, match=f"setting {next(iter(settings))}"):
        conn = YesplanConnector(config, SyncContext(house=HOUSE))  # the spec is checked on construction
        conn.base_url()
        conn.events_path()
        conn.customdata_keywords()


def test_spec_marks_the_api_key_secret() -> None:
    assert YesplanConnector.secret_fields() == {"api_key": "password"}
    assert YesplanConnector.sandbox_class() is YesplanSandbox
    assert [s.name for s in YesplanConnector.streams] == ["events"]


# -- sandbox behaviour ---------------------------------------------------------------------------
def test_wrong_or_missing_api_key_is_an_auth_error_without_the_secret(
        sandbox: YesplanSandbox, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-key-4711-do-not-echo"
    conn = YesplanConnector({"base_url": f"{sandbox.url}/{HOUSE}", "api_key": wrong},
                            SyncContext(house=HOUSE))
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as info:
        conn.check()
    assert "401" in str(info.value) and wrong not in str(info.value)
    assert all(wrong not in r.getMessage() for r in caplog.records)
    answer = requests.get(f"{sandbox.url}/{HOUSE}/api/events/date:01-01-2025", timeout=5)
    assert answer.status_code == 401


def test_paging_follows_next_links_and_sends_the_key_once(sandbox: YesplanSandbox) -> None:
    box = YesplanSandbox()
    box.page_size = 7
    box.start()
    try:
        conn = connector(box, days_back=90, days_ahead=420)
        pages = list(conn.read("events", None))
        log = list(box.requests)
    finally:
        box.stop()
    ids = [r["id"] for p in pages for r in p.records]
    assert len(pages) > 3 and len(ids) == len(set(ids)) == len(box.events(HOUSE))
    assert all(query.get("api_key") == ["***"] for _, _, query in log)  # exactly one value each time
    assert all("book" in query for _, _, query in log[1:])
    assert all(box.api_key not in p.label for p in pages)
    assert pages[-1].state == {} and "resume" in pages[0].state


def test_resume_from_an_expired_next_link_reads_the_window_again(sandbox: YesplanSandbox) -> None:
    conn = connector(sandbox, days_back=30, days_ahead=365)
    full = read_all(conn)
    stale = {"resume": {"url": f"{sandbox.url}/{HOUSE}/api/events/x?page=2&book=expired"}}
    again = [r for page in connector(sandbox, days_back=30, days_ahead=365).read("events", stale)
             for r in page.records]
    assert again == full


def test_next_link_that_carries_a_key_gets_it_replaced_not_doubled() -> None:
    prepared = requests.Request("GET", "https://x.yesplan.be/api/events/q?page=2&api_key=OLD&book=b").prepare()
    ApiKeyQueryAuth("new-secret-key")(prepared)
    assert prepared.url is not None and prepared.url.count("api_key=") == 1
    assert "api_key=new-secret-key" in prepared.url and "book=b" in prepared.url


def test_date_window_query_parsing(sandbox: YesplanSandbox) -> None:
    base = f"{sandbox.url}/{HOUSE}/api/events"
    key = {"api_key": sandbox.api_key}
    day = next(iter(sandbox.events(HOUSE).values()))["startdate"]
    d = date.fromisoformat(day)
    one = requests.get(f"{base}/date:{d:%d-%m-%Y}", params=key, timeout=5).json()["data"]
    assert one and all(e["startdate"] == day for e in one)
    bad = requests.get(f"{base}/event:date:31-02-2025 TO 01-03-2025", params=key, timeout=5)
    assert bad.status_code == 400
    backwards = requests.get(f"{base}/event:date:01-03-2025 TO 01-02-2025", params=key, timeout=5)
    assert backwards.status_code == 400
    cancelled = requests.get(f"{base}/event:status:geannuleerd", params=key, timeout=5).json()["data"]
    assert cancelled and {e["status"]["name"] for e in cancelled} == {"Geannuleerd"}


def test_window_read_returns_exactly_the_events_in_the_window(sandbox: YesplanSandbox) -> None:
    conn = connector(sandbox, days_back=10, days_ahead=40)
    first, last = conn.window()
    got = {r["id"] for r in read_all(conn)}
    want = {e["id"] for e in sandbox.events(HOUSE).values()
            if first <= date.fromisoformat(e["startdate"]) <= last}
    assert got == want


def test_429_is_waited_out_and_503_retried(sandbox: YesplanSandbox) -> None:
    conn = connector(sandbox, days_back=0, days_ahead=30)
    baseline = read_all(conn)
    sandbox.inject(429, 1, retry_after=1)
    started = time.monotonic()
    assert read_all(connector(sandbox, days_back=0, days_ahead=30)) == baseline
    assert time.monotonic() - started >= 0.9
    sandbox.inject(503, 2)
    assert read_all(connector(sandbox, days_back=0, days_ahead=30)) == baseline


def test_sandbox_data_has_cancellations_dst_nights_and_valid_canonical_records(sandbox: YesplanSandbox) -> None:
    records, errors = map_all(read_all(connector(sandbox, days_back=90, days_ahead=420)))
    assert errors == [] and len(records) >= 40
    assert all(validate("event", r) == [] for r in records)
    assert {"cancelled", "scheduled"} <= {r["status"] for r in records}
    switch_days = {last_sunday(y, m).isoformat() for y in range(2020, 2040) for m in (3, 10)}
    crossing = [r for r in records if r["end"][:10] in switch_days and r["start"][:10] != r["end"][:10]]
    assert crossing and all(r["start"][-6:] != r["end"][-6:] for r in crossing)


def test_customdata_lands_in_extras_and_external_ids(sandbox: YesplanSandbox) -> None:
    before = len(sandbox.requests)
    conn = connector(sandbox, days_back=0, days_ahead=21, customdata_keywords=["publicatie_genre"],
                     external_id_keywords={"ticketing_tm_eventid": "ticketmatic"})
    raw = read_all(conn)
    assert raw, "the sandbox should have events in the next three weeks"
    records, errors = map_all(raw)
    assert errors == []
    assert all(r["external_ids"]["ticketmatic"].isdigit() for r in records)
    assert all(set(r["extras"]["customdata"]) == {"publicatie_genre"} for r in records)
    customdata_calls = [q for _, path, q in sandbox.requests[before:] if path.endswith("/customdata")]
    assert len(customdata_calls) == len(raw)  # the documented cost: one request per event
    assert customdata_calls[0]["keywords"] == ["publicatie_genre,ticketing_tm_eventid"]


def test_any_organisation_gets_its_own_deterministic_data(sandbox: YesplanSandbox) -> None:
    a = read_all(connector(sandbox, "ccstrombeek"))
    b = read_all(connector(sandbox, "cchasselt"))
    assert a and b and {r["id"] for r in a}.isdisjoint({r["id"] for r in b})
    again = YesplanSandbox(today=sandbox.today)
    assert again.events("ccstrombeek") == sandbox.events("ccstrombeek")
    demo = requests.get(f"{sandbox.url}/api/events/date:{sandbox.today:%d-%m-%Y}",
                        params={"api_key": sandbox.api_key}, timeout=5)
    assert demo.status_code == 200


def test_mutate_renames_and_moves_upcoming_events() -> None:
    box = YesplanSandbox()
    box.start()
    try:
        conn = connector(box, days_back=0, days_ahead=365)
        before = {r["id"]: r for r in read_all(conn)}
        changed = box.mutate(3)
        after = {r["id"]: r for r in read_all(connector(box, days_back=0, days_ahead=365))}
    finally:
        box.stop()
    assert len(changed) == 3 and set(changed) <= set(after)
    for event_id in changed:
        assert after[event_id]["name"] != before[event_id]["name"]
        assert (datetime.fromisoformat(after[event_id]["starttime"])
                - datetime.fromisoformat(before[event_id]["starttime"])).total_seconds() == 1800
    untouched = set(before) - set(changed)
    assert all(after[i] == before[i] for i in untouched)


# -- conformance ---------------------------------------------------------------------------------
class TestYesplanConformance(ConnectorConformance):
    connector_class = YesplanConnector
    incremental = False  # no modified-since filter: a moving window plus the store's content hash
    http_faults = True


    def good_config(self, sandbox: YesplanSandbox) -> dict[str, Any]:
        return {"base_url": f"{sandbox.url}/{HOUSE}", "api_key": sandbox.api_key,
                "days_back": 30, "days_ahead": 365, "requests_per_second": 500}

    def bad_config(self, sandbox: YesplanSandbox) -> dict[str, Any] | None:
        return {**self.good_config(sandbox), "api_key": "not-the-yesplan-key-1234"}

    def future_state(self, stream: str) -> dict[str, Any]:
        return {"cursor": "2999-01-01T00:00:00Z"}
