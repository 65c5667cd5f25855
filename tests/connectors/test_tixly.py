"""Tixly CRM API v3: the sales window walk, returns, anonymous and scanned lines, customers' cursor,
the sandbox's behaviour, and the conformance suite."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from connectors.tixly.connector import PAGES, TixlyConnector
from connectors.tixly.sandbox import STAMP, WALK_IN_CUSTOMER, TixlySandbox
from podium.errors import AuthError, ConfigError
from podium.mapping.engine import MappingContext, load_mapping
from podium.sandbox import Refused
from podium.sdk.connector import Page, SyncContext
from podium.sdk.retry import retrying
from podium.testing import ConnectorConformance, read_stream

TOKEN = "sandbox-tixly-token"


def config(sandbox: TixlySandbox, **extra: Any) -> dict[str, Any]:
    start = (sandbox.today - timedelta(days=270)).isoformat()
    return {"base_url": f"{sandbox.url}/v3", "auth_token": TOKEN, "sales_start": start,
            "requests_per_second": 200, **extra}


def connector(sandbox: TixlySandbox, **extra: Any) -> TixlyConnector:
    return TixlyConnector(config(sandbox, **extra), SyncContext(house="gc-de-kring"))


def canonical(stream: str, pages: list[Page]) -> list[dict[str, Any]]:
    """Every page mapped as the sync maps it (with the page's context)."""
    mapping = load_mapping(TixlyConnector.mappings_dir(), "tixly", stream)
    records: list[dict[str, Any]] = []
    for page in pages:
        ctx = MappingContext("gc-de-kring", "tixly", page=page.context)
        for raw in page.records:
            out, errors = mapping.map(raw, ctx)
            assert errors == []
            records += out
    return records


def by_source(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["source"]["id"]: r for r in records}


@pytest.fixture
def sandbox() -> Iterator[TixlySandbox]:
    box = TixlySandbox()
    box.start()
    yield box
    box.stop()


def sales_windows(sandbox: TixlySandbox) -> list[tuple[str, str]]:
    return list(dict.fromkeys((q["SoldFrom"][0], q["SoldTo"][0]) for _, path, q in sandbox.requests
                              if path == "/v3/events/sales"))


# -- the sales window walk ---------------------------------------------------------------------
def test_sale_in_the_third_window_is_stored(sandbox: TixlySandbox) -> None:
    """Next: null ends the first window, not the data: a reader that stopped there misses later sales."""
    tixly = connector(sandbox, sales_window_days=31)
    raws, state, _ = read_stream(tixly, "sales")
    windows = sales_windows(sandbox)
    assert len(windows) >= 9 and windows[0][0] == config(sandbox)["sales_start"]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))  # no gap between windows
    assert date.fromisoformat(windows[-1][1]) > sandbox.today >= date.fromisoformat(windows[-1][0])
    third_from, third_to = windows[2]
    in_third = [s for s in sandbox.data()["sales"] if third_from <= s["Created"][:10] < third_to]
    assert in_third and {s["SaleTicketId"] for s in in_third} <= {r["SaleTicketId"] for r in raws}
    assert len(raws) == len(sandbox.data()["sales"])
    assert state == {"cursor": max(s["Created"] for s in sandbox.data()["sales"])}

    # Negative control: a reader that follows Next alone ends with the first window.
    naive = dataclasses.replace(TixlyConnector.rest_streams[2], paginator=PAGES,
                                params={"pageSize": 500, "SoldFrom": windows[0][0], "SoldTo": windows[0][1]})
    stopped = connector(sandbox)
    stopped.rest_stream = lambda name: naive  # type: ignore[method-assign]
    first_window_only, _, _ = read_stream(stopped, "sales")
    assert len(first_window_only) < len(raws)


def test_window_pages_follow_next_inside_a_window(sandbox: TixlySandbox) -> None:
    raws, _, pages = read_stream(connector(sandbox, page_size=10, sales_window_days=62), "sales")
    followed = [p for p in pages if p.label.startswith("url=")]
    assert followed, "a window of more than one page is read by its Next links"
    assert len({r["SaleTicketId"] for r in raws}) == len(raws) == len(sandbox.data()["sales"])


def test_cursor_never_passes_a_window_not_fully_stored(sandbox: TixlySandbox) -> None:
    """Mid-walk states keep the old cursor and the window position; a read resumed from any of them
    ends with every line, none twice."""
    start = {"cursor": "2025-05-01T00:00:00"}
    tixly = connector(sandbox, page_size=20, sales_lookback_days=0)
    pages = list(tixly.read("sales", start))
    assert len(pages) > 6
    for page in pages[:-1]:
        assert page.state["cursor"] == start["cursor"] and "SoldFrom" in page.state["resume"]["params"]
    assert pages[-1].state["cursor"] == max(r["Created"] for p in pages for r in p.records)
    killed_after = 5
    seen = [r["SaleTicketId"] for p in pages[:killed_after] for r in p.records]
    resumed = list(connector(sandbox, page_size=20, sales_lookback_days=0).read("sales", pages[killed_after - 1].state))
    seen += [r["SaleTicketId"] for p in resumed for r in p.records]
    assert sorted(seen) == sorted(r["SaleTicketId"] for p in pages for r in p.records)


def test_failed_window_keeps_the_stored_cursor(sandbox: TixlySandbox) -> None:
    """A vendor that fails in the middle of the walk: the last state handed over still has the old cursor."""
    tixly = connector(sandbox, sales_window_days=31)
    tixly.retry_policy = lambda: retrying(max_attempts=1)  # type: ignore[method-assign]
    states = []
    with pytest.raises(Exception):  # noqa: B017 - whichever error the transport raises for a 500
        for index, page in enumerate(tixly.read("sales", {"cursor": "2025-06-01T00:00:00"})):
            states.append(page.state)
            if index == 2:
                sandbox.inject(500, 50)
    sandbox.clear_faults()
    assert states and all(s["cursor"] == "2025-06-01T00:00:00" for s in states)


def test_incremental_sales_start_at_the_cursor_day_less_the_lookback(sandbox: TixlySandbox) -> None:
    tixly = connector(sandbox, sales_lookback_days=3)
    _, read_state, _ = read_stream(tixly, "sales")
    assert read_state is not None
    state = read_state
    sandbox.requests.clear()
    sandbox.mutate(2)
    raws, after, _ = read_stream(tixly, "sales", state)
    assert after is not None
    first_from = sales_windows(sandbox)[0][0]
    assert first_from == (datetime.strptime(state["cursor"], STAMP).date() - timedelta(days=3)).isoformat()
    assert after["cursor"] > state["cursor"]
    assert len(raws) < len(sandbox.data()["sales"]) and any(r["TicketCount"] < 0 for r in raws)


# -- sales lines -------------------------------------------------------------------------------
def test_return_line_is_refunded_and_linked_to_its_ticket(sandbox: TixlySandbox) -> None:
    _, _, pages = read_stream(connector(sandbox), "sales")
    tickets = canonical("sales", pages)
    returns = [t for t in tickets if t["extras"]["TicketCount"] < 0]
    assert returns and all(t["status"] == "refunded" for t in returns)
    for returned in returns:
        originals = [t for t in tickets if t["extras"]["TicketId"] == returned["extras"]["TicketId"]
                     and t["extras"]["TicketCount"] > 0]
        assert len(originals) == 1 and originals[0]["status"] in ("sold", "scanned")
        assert originals[0]["event"] == returned["event"] and originals[0]["id"] != returned["id"]


def test_anonymous_sale_has_no_contact(sandbox: TixlySandbox) -> None:
    raws, _, pages = read_stream(connector(sandbox), "sales")
    anonymous = {str(r["SaleTicketId"]) for r in raws if r["IsAnonymousSale"]}
    assert anonymous and all(r["CustomerId"] == WALK_IN_CUSTOMER for r in raws if r["IsAnonymousSale"])
    tickets = by_source(canonical("sales", pages))
    assert all("contact" not in tickets[key] for key in anonymous)
    named = next(t for key, t in tickets.items() if key not in anonymous)
    assert named["contact"]["source_id"] != str(WALK_IN_CUSTOMER)


def test_scanned_line_is_a_scanned_ticket_and_fee_stays_out_of_price(sandbox: TixlySandbox) -> None:
    raws, _, pages = read_stream(connector(sandbox), "sales")
    tickets = by_source(canonical("sales", pages))
    scanned = [r for r in raws if r["Scanned"] and r["TicketCount"] > 0]
    unscanned = [r for r in raws if not r["Scanned"] and r["TicketCount"] > 0]
    assert scanned and {tickets[str(r["SaleTicketId"])]["status"] for r in scanned} == {"scanned"}
    assert unscanned and {tickets[str(r["SaleTicketId"])]["status"] for r in unscanned} == {"sold"}
    with_fee = next(r for r in raws if r["Fee"] > 0)
    ticket = tickets[str(with_fee["SaleTicketId"])]
    assert ticket["price"] == {"amount": with_fee["Price"], "currency": "EUR"}
    assert ticket["extras"]["Fee"] == with_fee["Fee"] and ticket["channel"] == "online"


def test_sale_times_are_brussels_wall_clock() -> None:
    """Tixly writes no offset: a winter stamp is UTC+1, a summer one UTC+2."""
    mapping = load_mapping(TixlyConnector.mappings_dir(), "tixly", "sales")
    line = {"SaleTicketId": 1, "OrderId": 2, "EventId": 3, "CustomerId": 4, "IsAnonymousSale": False,
            "TicketCount": 1, "Price": 10.0, "Scanned": False, "Created": "2026-01-15T20:00:00"}
    (winter,), _ = mapping.map(line, MappingContext("gc-de-kring", "tixly"))
    (summer,), _ = mapping.map({**line, "Created": "2026-07-15T20:00:00"}, MappingContext("gc-de-kring", "tixly"))
    assert (winter["sold_at"], summer["sold_at"]) == ("2026-01-15T19:00:00Z", "2026-07-15T18:00:00Z")


# -- events ------------------------------------------------------------------------------------
def test_event_group_is_the_production_with_a_title_in_the_house_language(sandbox: TixlySandbox) -> None:
    _, _, pages = read_stream(connector(sandbox, language="fr"), "events")
    events = canonical("events", pages)
    raw = sandbox.data()["events"][0]
    event = by_source(events)[str(raw["Id"])]
    assert event["production"] == {"source_id": str(raw["EventGroupId"]), "title": {"fr": raw["EventGroup"]}}
    assert event["title"] == {"fr": raw["Name"]}
    assert event["venue"] == {"source_id": "7", "name": "CC Strombeek"} and event["extras"]["Hall"] == raw["Hall"]
    assert len({e["production"]["source_id"] for e in events}) == 7
    assert [e["status"] for e in events].count("cancelled") == 1


def test_external_reference_goes_under_the_configured_system(sandbox: TixlySandbox) -> None:
    raws, _, pages = read_stream(connector(sandbox, external_reference_system="yesplan"), "events")
    events = by_source(canonical("events", pages))
    with_reference = next(r for r in raws if r["ExternalReferenceNumber"])
    without = next(r for r in raws if not r["ExternalReferenceNumber"])
    assert events[str(with_reference["Id"])]["external_ids"] == {"yesplan": with_reference["ExternalReferenceNumber"]}
    assert "external_ids" not in events[str(without["Id"])]
    _, _, pages = read_stream(connector(sandbox), "events")
    default = by_source(canonical("events", pages))[str(with_reference["Id"])]
    assert default["external_ids"] == {"tixly_external_reference": with_reference["ExternalReferenceNumber"]}


# -- customers ---------------------------------------------------------------------------------
def test_last_name_prefix_belongs_to_the_family_name(sandbox: TixlySandbox) -> None:
    _, _, pages = read_stream(connector(sandbox), "customers")
    contacts = by_source(canonical("customers", pages))
    prefixed = next(c for c in sandbox.data()["customers"] if c["LastNamePrefix"] == "van der")
    contact = contacts[str(prefixed["Id"])]
    assert contact["family_name"] == f"van der {prefixed['LastName']}" and contact["given_name"] == prefixed["FirstName"]
    plain = next(c for c in sandbox.data()["customers"] if not c["LastNamePrefix"])
    assert contacts[str(plain["Id"])]["family_name"] == plain["LastName"]


def test_customer_with_only_created_moves_the_cursor_and_is_picked_up(sandbox: TixlySandbox) -> None:
    """New customers have no Edited: the cursor must follow Created too, or they are read for ever
    (cursor stuck) or missed."""
    tixly = connector(sandbox, customers_lookback_minutes=0)
    raws, read_state, _ = read_stream(tixly, "customers")
    assert read_state is not None
    state = read_state
    never_edited = [r for r in raws if r["Edited"] is None]
    assert never_edited and len(never_edited) < len(raws)
    customers = sandbox.data()["customers"]
    created = (datetime.strptime(state["cursor"], STAMP) + timedelta(hours=1)).strftime(STAMP)
    customers.append({**customers[0], "Id": 299001, "FirstName": "Lotte", "Created": created, "Edited": None})
    raws, after, pages = read_stream(tixly, "customers", state)
    assert 299001 in {r["Id"] for r in raws}
    assert after == {"cursor": created}
    (lotte,) = [c for c in canonical("customers", pages) if c["source"]["id"] == "299001"]
    local = datetime.strptime(created, STAMP).replace(tzinfo=ZoneInfo("Europe/Brussels"))
    assert lotte["modified"] == local.astimezone(UTC).strftime(STAMP) + "Z"
    again, _, _ = read_stream(tixly, "customers", after)
    assert {r["Id"] for r in again} == {299001}  # DateFrom is inclusive: only the newest is read again


def test_customers_date_from_is_the_cursor_less_the_margin(sandbox: TixlySandbox) -> None:
    tixly = connector(sandbox)
    read_stream(tixly, "customers", {"cursor": "2026-01-10T12:00:00"})
    sent = [q["DateFrom"][0] for _, path, q in sandbox.requests if path == "/v3/customers"]
    assert sent == ["2026-01-10T09:00:00"]


# -- sandbox behaviour -------------------------------------------------------------------------
def test_bearer_token_is_checked(sandbox: TixlySandbox) -> None:
    missing = requests.get(f"{sandbox.url}/v3/events", timeout=5)
    assert missing.status_code == 401 and missing.json() == {"Message": "Authorization has been denied for this request."}
    wrong = connector(sandbox, auth_token="not-a-tixly-token")
    with pytest.raises(AuthError) as info:
        wrong.check()
    assert "not-a-tixly-token" not in str(info.value)
    house = requests.get(f"{sandbox.url}/v3/events", headers={"Authorization": f"Bearer {TixlySandbox.token_for('gc-de-kring')}"},
                         timeout=5)
    assert house.status_code == 200 and house.json()["Data"]


def test_page_size_is_capped_at_500(sandbox: TixlySandbox) -> None:
    head = {"Authorization": f"Bearer {TOKEN}"}
    too_big = requests.get(f"{sandbox.url}/v3/customers", params={"pageSize": 501}, headers=head, timeout=5)
    assert too_big.status_code == 400 and "500" in too_big.json()["Message"]
    with pytest.raises(ConfigError):
        connector(sandbox, page_size=501)


def test_pages_and_filters_as_served(sandbox: TixlySandbox) -> None:
    head = {"Authorization": f"Bearer {TOKEN}"}
    first = requests.get(f"{sandbox.url}/v3/customers", params={"pageSize": 25}, headers=head, timeout=5).json()
    assert set(first) == {"Data", "Next"} and len(first["Data"]) == 25 and first["Next"].startswith("http://")
    last = requests.get(first["Next"], headers=head, timeout=5).json()
    assert len(last["Data"]) == 25 and last["Next"]
    since = sandbox.data()["customers"][40]
    changed = requests.get(f"{sandbox.url}/v3/customers", params={"DateFrom": since["Created"]}, headers=head,
                           timeout=5).json()["Data"]
    assert changed and all((c["Edited"] or c["Created"]) >= since["Created"] for c in changed)
    # A month of the sandbox's sales season, whatever day the test runs (the data follows the injected today).
    first_sale = date.fromisoformat(sandbox.data()["sales"][0]["Created"][:10])
    sold_from = first_sale.replace(day=1) + timedelta(days=32)
    sold_from, sold_to = sold_from.replace(day=1).isoformat(), (sold_from + timedelta(days=31)).replace(day=1).isoformat()
    window = requests.get(f"{sandbox.url}/v3/events/sales", params={"SoldFrom": sold_from, "SoldTo": sold_to,
                                                                    "pageSize": "500"}, headers=head, timeout=5).json()
    assert window["Next"] is None and window["Data"]
    assert all(sold_from <= s["Created"] < sold_to for s in window["Data"])
    later = [s for s in sandbox.data()["sales"] if s["Created"] >= sold_to]
    assert later, "later windows hold sales although this window's Next is null"


def test_rate_limit_answers_429_with_retry_after(sandbox: TixlySandbox) -> None:
    head = {"Authorization": f"Bearer {TOKEN}"}
    answers = [requests.get(f"{sandbox.url}/v3/events", headers=head, timeout=5).status_code for _ in range(45)]
    assert 429 in answers
    limited = requests.get(f"{sandbox.url}/v3/events", headers=head, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"


def test_seeded_data_is_deterministic_and_flemish() -> None:
    first, second = TixlySandbox().data(), TixlySandbox().data()
    assert first == second
    assert {c["LastNamePrefix"] for c in first["customers"]} >= {"van der", "de", "van", None}
    months = {s["Created"][:7] for s in first["sales"]}
    assert len(months) >= 6


# -- the standard conformance suite --------------------------------------------------------------
class TestTixlyConformance(ConnectorConformance):
    connector_class = TixlyConnector
    # Events carry no change stamp and no documented filter: a full read each time (hash-kept).
    incremental = False
    http_faults = True

    def good_config(self, sandbox: TixlySandbox) -> dict[str, Any]:
        return config(sandbox)

    def bad_config(self, sandbox: TixlySandbox) -> dict[str, Any] | None:
        return config(sandbox, auth_token="sandbox-wrong-token-123")


def test_a_state_from_the_future_reads_nothing(sandbox: TixlySandbox) -> None:
    """The conformance suite skips this (events have no cursor): customers and sales have one."""
    tixly = connector(sandbox)
    for stream in ("customers", "sales"):
        raws, _, _ = read_stream(tixly, stream, {"cursor": "2999-01-01T00:00:00"})
        assert raws == [], stream


def test_a_sync_that_fails_mid_walk_stores_no_cursor_past_it_and_the_next_sync_completes(
        sandbox: TixlySandbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the engine and the store: the vendor fails in the fourth window; the stored state keeps the
    window position with no cursor, and the next sync stores every line."""
    from podium.archive import Archive
    from podium.config import ConnectorConfig, HouseConfig
    from podium.engine import run_sync
    from podium.store import Store

    monkeypatch.setenv("PODIUM_GC_DE_KRING__AUTH_TOKEN", TOKEN)
    monkeypatch.setattr(TixlyConnector, "retry_policy", lambda self: retrying(max_attempts=1))
    settings = {k: v for k, v in config(sandbox, page_size=20).items() if k != "auth_token"}
    house = HouseConfig(key="gc-de-kring", name="De Kring", kind="gemeenschapscentrum", timezone="Europe/Brussels",
                        connectors={"tixly": ConnectorConfig("tixly", True, None, None, settings,
                                                             {"env": {"auth_token": "PODIUM_GC_DE_KRING__AUTH_TOKEN"}})},
                        path=tmp_path / "gc-de-kring.yaml")
    store = Store(f"sqlite:///{tmp_path / 'tixly.db'}")
    store.migrate()
    archive = Archive((tmp_path / "archive").as_uri())
    real_route = sandbox.route

    def failing_from_the_fourth_window(request: Any) -> Any:
        windows = {q["SoldFrom"][0] for _, path, q in sandbox.requests if path == "/v3/events/sales"}
        if request.path == "/v3/events/sales" and len(windows) >= 4:
            return sandbox.error(Refused(500, "An error has occurred."))
        return real_route(request)

    monkeypatch.setattr(sandbox, "route", failing_from_the_fourth_window)
    failed = run_sync(house, "tixly", store=store, archive=archive, streams=["sales"])
    assert failed.status == "failed"
    state = store.get_state("gc-de-kring", "tixly", "sales")
    assert state is not None and state.get("cursor") is None and state["resume"]["params"]["SoldFrom"]
    stored_before = store.count_records(house="gc-de-kring", entity="ticket")
    assert 0 < stored_before < len(sandbox.data()["sales"])
    monkeypatch.setattr(sandbox, "route", real_route)
    done = run_sync(house, "tixly", store=store, archive=archive, streams=["sales"])
    assert done.status == "succeeded"
    assert store.count_records(house="gc-de-kring", entity="ticket") == len(sandbox.data()["sales"])
    final = store.get_state("gc-de-kring", "tixly", "sales")
    assert final == {"cursor": max(s["Created"] for s in sandbox.data()["sales"])}
    store.dispose()
