"""UiTdatabank Search API v3: golden mappings, sandbox behaviour, the moved result window, conformance."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.uitdatabank.connector import UitdatabankConnector
from connectors.uitdatabank.sandbox import UitdatabankSandbox
from podium.errors import AuthError, BadDataError, ConfigError
from podium.mapping.engine import MappingContext, load_mapping
from podium.sdk.connector import SyncContext
from podium.sdk.paginators import WindowedOffsetPaginator
from podium.testing import ConnectorConformance
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(UitdatabankConnector)  # golden cases: tests/connectors/test_golden.py
CTX = MappingContext(house="demo", system="uitdatabank")
SECRET = "sandbox-secret"


def mapping() -> Any:
    return load_mapping(UitdatabankConnector.mappings_dir(), "uitdatabank", "events")


def map_all(raws: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    records, errors = [], []
    for raw in raws:
        out, errs = mapping().map(raw, CTX)
        records += out
        errors += errs
    return records, errors


def config(sandbox: UitdatabankSandbox, **extra: Any) -> dict[str, Any]:
    return {"search_base_url": sandbox.url, "token_url": f"{sandbox.url}/oauth/token",
            "client_id": "podium-demo", "client_secret": SECRET, **extra}


def read_all(connector: UitdatabankConnector, state: dict[str, Any] | None = None) -> tuple[list[dict], dict]:
    records: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for page in connector.read("events", state):
        assert not page.errors
        records += page.records
        last = page.state
    return records, last


@pytest.fixture
def sandbox() -> Iterator[UitdatabankSandbox]:
    box = UitdatabankSandbox()
    box.start()
    yield box
    box.stop()


def test_read_example_fields() -> None:
    """What a user sees of publiq's documented read example."""
    raw = json.loads((GOLDEN / "events.event-with-read-example.input.json").read_text(encoding="utf-8"))["member"][0]
    (event,), _ = mapping().map(raw, CTX)
    assert event["source"] == {"system": "uitdatabank", "id": "85b04295-479c-40f5-b3dd-469dfb4387b3",
                               "url": "https://io-test.uitdatabank.be/events/85b04295-479c-40f5-b3dd-469dfb4387b3"}
    assert event["title"]["fr"] == "Nom français"
    assert event["venue"]["address"] == {"street": "Wetstraat 1", "postal_code": "1000", "city": "Brussel",
                                         "country": "BE"}
    assert event["prices"][0] == {"category": "base", "amount": 10.5, "currency": "EUR",
                                  "name": {"nl": "Basistarief", "fr": "Tarif de base", "en": "Base tariff",
                                           "de": "Basisrate"}}
    assert event["categories"] == [{"id": "0.50.4.0.0", "label": "Concert", "domain": "eventtype"}]
    assert event["production"]["source_id"] == "10ce7cb1-7bc9-4ce4-a256-460f56c49965"
    assert event["links"]["booking"] == "https://www.example.com"
    assert "mediaObject" in event["extras"]  # unmapped vendor data is kept, never dropped


def test_multiple_event_becomes_occurrences_across_dst() -> None:
    raw = json.loads((GOLDEN / "events.sandbox-events.input.json").read_text(encoding="utf-8"))["member"][0]
    records, errors = map_all([raw])
    assert errors == []
    uuid = raw["@id"].rsplit("/", 1)[-1]
    assert [r["source"]["id"] for r in records] == [f"{uuid}#0", f"{uuid}#1", f"{uuid}#2"]
    assert [r["start"] for r in records] == ["2025-10-25T20:00:00+02:00", "2025-10-26T15:00:00+01:00",
                                             "2025-10-27T20:00:00+01:00"]
    assert {r["production"]["source_id"] for r in records} == {raw["production"]["id"]}
    assert {r["calendar"] for r in records} == {"single"}


def test_status_deleted_and_availability() -> None:
    raws = json.loads((GOLDEN / "events.sandbox-events.input.json").read_text(encoding="utf-8"))["member"]
    records, _ = map_all(raws[1:3])
    cancelled, deleted = records
    assert cancelled["status"] == "cancelled"
    assert deleted["deleted"] is True
    raw = {**raws[1], "status": {"type": "TemporarilyUnavailable"}, "bookingAvailability": {"type": "Unavailable"}}
    (event,), _ = mapping().map(raw, CTX)
    assert (event["status"], event["availability"]) == ("postponed", "sold_out")


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("broken", [
    {"name": {"nl": "zonder id"}},                                              # no @id
    {"@id": "https://io.uitdatabank.be/events/x", "calendarType": "multiple",
     "subEvent": ["not an object"]},                                            # malformed subEvent
    {"@id": "https://io.uitdatabank.be/events/y", "name": {"nl": "x"}, "calendarType": "single",
     "startDate": "gisteren"},                                                  # unreadable date
    {"@id": "https://io.uitdatabank.be/events/z", "name": {"nl": "x"}, "calendarType": "weekly"},
    {"@id": "https://io.uitdatabank.be/events/w", "name": {"nl": "x"}, "calendarType": "single",
     "status": {"type": "Maybe"}},
])
def test_bad_record_is_a_mapping_error_not_a_crash(broken: dict[str, Any]) -> None:
    records, errors = mapping().map(broken, CTX)
    assert records == [] and len(errors) == 1


def test_bad_record_does_not_lose_good_ones(sandbox: UitdatabankSandbox) -> None:
    """A malformed member becomes a page error / mapping error; the others still arrive."""
    events = sandbox.catalogue("podium-demo")
    first = next(iter(events.values()))
    first["startDate"] = "31/02/2025 25:00"
    connector = UitdatabankConnector(config(sandbox), SyncContext(house="demo"))
    raws, _ = read_all(connector)
    records, errors = map_all(raws)
    assert len(errors) == 1 and len(records) > 50


def test_undecodable_page_is_fetched_again(sandbox: UitdatabankSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from podium.sandbox import Response

    search = sandbox._search
    served: list[str] = []

    def first_page_broken(request: Any, client: str) -> Response:
        served.append(request.arg("start") or "0")
        return Response(200, b"{not json") if len(served) == 1 else search(request, client)

    monkeypatch.setattr(sandbox, "_search", first_page_broken)
    connector = UitdatabankConnector(config(sandbox, page_size=20), SyncContext(house="demo"))
    pages = list(connector.read("events", None))
    assert served[:2] == ["0", "0"]  # the broken first page was asked for again, not skipped
    assert not any(p.errors for p in pages) and sum(len(p.records) for p in pages) == 57


# -- sandbox behaviour -------------------------------------------------------------------------
def test_check_and_token_cached(sandbox: UitdatabankSandbox) -> None:
    connector = UitdatabankConnector(config(sandbox, page_size=10), SyncContext(house="demo"))
    connector.check()
    read_all(connector)
    assert sandbox.tokens_issued == 1


def test_wrong_secret_is_auth_error_without_the_secret(sandbox: UitdatabankSandbox) -> None:
    connector = UitdatabankConnector(config(sandbox, client_secret="wrong-secret-123"), SyncContext(house="demo"))
    with pytest.raises(AuthError) as info:
        connector.check()
    assert "access_denied" in str(info.value) and "wrong-secret-123" not in str(info.value)


def test_token_endpoint_answers_as_auth0(sandbox: UitdatabankSandbox) -> None:
    body = {"client_id": "c", "client_secret": "nope", "audience": "https://api.publiq.be",
            "grant_type": "client_credentials"}
    answer = requests.post(f"{sandbox.url}/oauth/token", json=body, timeout=5)
    assert answer.status_code == 401 and answer.json() == {"error": "access_denied", "error_description": "Unauthorized"}
    ok = requests.post(f"{sandbox.url}/oauth/token", json={**body, "client_secret": SECRET}, timeout=5).json()
    assert ok["token_type"] == "Bearer" and ok["expires_in"] == 86400


def test_expired_token_refreshed_once_and_not_logged(sandbox: UitdatabankSandbox,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    connector = UitdatabankConnector(config(sandbox, page_size=20), SyncContext(house="demo"))
    pages = connector.read("events", None)
    next(pages)
    sandbox.expire_tokens()
    with caplog.at_level(logging.DEBUG):
        rest = list(pages)
    assert rest and sandbox.tokens_issued == 2
    assert not any("sbx." in r.getMessage() or SECRET in r.getMessage() for r in caplog.records)


def test_invalid_token_is_problem_json_and_redacted(sandbox: UitdatabankSandbox) -> None:
    answer = requests.get(f"{sandbox.url}/events", headers={"Authorization": "Bearer abc"}, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["type"] == "https://api.publiq.be/probs/auth/unauthorized"
    connector = UitdatabankConnector(config(sandbox), SyncContext(house="demo"))
    connector.check()
    token = connector.client.auth.token()  # type: ignore[union-attr]
    sandbox.expire_tokens()
    sandbox.client_secret = "rotated"  # the refresh fails as well: a clear AuthError, token redacted
    with pytest.raises(AuthError) as info:
        list(connector.read("events", None))
    assert token not in str(info.value)


def test_client_identification_header(sandbox: UitdatabankSandbox) -> None:
    cfg = {"search_base_url": sandbox.url, "auth": "client_identification", "client_id": "podium-demo"}
    connector = UitdatabankConnector(cfg, SyncContext(house="demo"))
    raws, _ = read_all(connector)
    assert len(raws) == 57 and sandbox.tokens_issued == 0


def test_paging_filters_and_tombstones(sandbox: UitdatabankSandbox) -> None:
    connector = UitdatabankConnector(config(sandbox, page_size=10), SyncContext(house="demo"))
    raws, state = read_all(connector)
    starts = [q["start"][0] for m, p, q in sandbox.requests if p == "/events"]
    assert starts == ["0", "10", "20", "30", "40", "50"]
    statuses = {r["workflowStatus"] for r in raws}
    assert statuses == {"APPROVED", "DELETED"}  # DRAFT is not published; DELETED arrives as tombstone
    assert state == {"cursor": max(r["modified"] for r in raws)}


def test_default_filters_and_start_limits(sandbox: UitdatabankSandbox) -> None:
    head = {"x-client-id": "any-house"}
    plain = requests.get(f"{sandbox.url}/events", headers=head, timeout=5).json()
    assert plain["@type"] == "PagedCollection" and plain["itemsPerPage"] == 30
    assert set(plain["member"][0]) == {"@id", "@type"}  # without embed only the links
    everything = requests.get(f"{sandbox.url}/events", params={"workflowStatus": "*"}, headers=head, timeout=5).json()
    assert everything["totalItems"] > plain["totalItems"]
    too_far = requests.get(f"{sandbox.url}/events", params={"start": 15000, "limit": 100}, headers=head, timeout=5)
    assert too_far.status_code == 404 and too_far.headers["Content-Type"] == "application/problem+json"
    assert too_far.json()["detail"] == 'The "start" parameter should be between 0 and 10000'
    window = requests.get(f"{sandbox.url}/events", params={"start": 9950, "limit": 100}, headers=head, timeout=5)
    assert window.status_code == 400 and window.json()["status"] == 400


def test_incremental_and_future_state(sandbox: UitdatabankSandbox) -> None:
    connector = UitdatabankConnector(config(sandbox), SyncContext(house="demo"))
    _, state = read_all(connector)
    changed = sandbox.mutate(4)
    raws, after = read_all(connector, state)
    assert sorted(r["@id"] for r in raws) == sorted(changed)
    assert after["cursor"] > state["cursor"]
    assert read_all(connector, {"cursor": "2999-01-01T00:00:00Z"})[0] == []


def test_rate_limit_waited_out(sandbox: UitdatabankSandbox) -> None:
    connector = UitdatabankConnector(config(sandbox), SyncContext(house="demo"))
    connector.check()
    sandbox.inject(429, 1, retry_after=1)
    raws, _ = read_all(connector)
    assert len(raws) == 57


def test_start_past_window_is_config_error(sandbox: UitdatabankSandbox) -> None:
    """A paginator that ignored the window would get the vendor's 400: the connector never sends one."""
    connector = UitdatabankConnector(config(sandbox), SyncContext(house="demo"))
    with pytest.raises(ConfigError):
        connector.client.get("events", params={"start": 9990, "limit": 30})


# -- the moved 10,000-result window ------------------------------------------------------------
@pytest.mark.parametrize("page_size", [20, 17, 25])
def test_window_moves_without_skips_or_duplicates(page_size: int) -> None:
    """300 events, a window of 50: the lower bound moves; ties on ``modified`` are skipped, not repeated."""
    box = UitdatabankSandbox(events=300, result_window=50)
    box.start()
    try:
        cfg = config(box, page_size=page_size, result_window=50)
        connector = UitdatabankConnector(cfg, SyncContext(house="demo"))
        raws, _ = read_all(connector)
        ids = [r["@id"] for r in raws]
        expected = {e["@id"] for e in box.catalogue("podium-demo").values() if e["workflowStatus"] != "DRAFT"}
        assert len(ids) == len(set(ids)) == len(expected) and set(ids) == expected
        moved = [q for m, p, q in box.requests if p == "/events" and "modifiedFrom" in q]
        assert moved and all(int(q["start"][0]) + int(q["limit"][0]) <= 50 for m, p, q in box.requests
                             if p == "/events")
        assert any(int(q["start"][0]) % page_size for q in moved)  # already-read ties were skipped
    finally:
        box.stop()


def test_window_resume_from_stored_position() -> None:
    """A killed sync resumes from the page state, also after the window moved."""
    box = UitdatabankSandbox(events=200, result_window=50)
    box.start()
    try:
        cfg = config(box, page_size=20, result_window=50)
        pages = list(UitdatabankConnector(cfg, SyncContext(house="demo")).read("events", None))
        seen = [r["@id"] for p in pages[:5] for r in p.records]
        resumed = UitdatabankConnector(cfg, SyncContext(house="demo"))
        seen += [r["@id"] for p in resumed.read("events", pages[4].state) for r in p.records]
        assert len(seen) == len(set(seen)) == sum(len(p.records) for p in pages)
    finally:
        box.stop()


def test_window_paginator_refuses_too_many_ties() -> None:
    paginator = WindowedOffsetPaginator(10, window=20, bound_param="modifiedFrom", records_path="member",
                                        cursor_path="modified", offset_param="start", total_path="totalItems")
    page = {"totalItems": 100, "member": [{"modified": "2025-01-01T00:00:00+00:00"}] * 10}
    second = paginator.next(paginator.start({}), None, page, 10)
    assert second is not None and "modifiedFrom" not in second["params"]
    with pytest.raises(BadDataError, match="share modified"):
        paginator.next(second, None, page, 10)


# -- the standard conformance suite --------------------------------------------------------------
class TestUitdatabankConformance(ConnectorConformance):
    connector_class = UitdatabankConnector
    incremental = True
    http_faults = True


    def good_config(self, sandbox: UitdatabankSandbox) -> dict[str, Any]:
        return config(sandbox)

    def bad_config(self, sandbox: UitdatabankSandbox) -> dict[str, Any] | None:
        return config(sandbox, client_secret="not-the-secret")

    def future_state(self, stream: str) -> dict[str, Any]:
        return {"cursor": "2999-01-01T00:00:00Z"}
