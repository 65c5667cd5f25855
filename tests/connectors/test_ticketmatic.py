"""Ticketmatic connector: golden mapping, HMAC auth, paging, change filter, 429, bad input, conformance."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import time
from dataclasses import replace
from typing import Any, ClassVar

import pytest
import requests

from connectors.ticketmatic.connector import TicketmaticConnector
from connectors.ticketmatic.sandbox import TicketmaticSandbox
from connectors.ticketmatic.streams import TicketmaticRecords
from podium.canonical import validate
from podium.errors import AuthError, BadDataError, ConfigError
from podium.mapping.engine import MappingContext, load_mapping
from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext, RecordError
from podium.sdk.connector import Page, SyncContext
from podium.sdk.retry import retrying
from podium.testing import ConnectorConformance, read_stream
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(TicketmaticConnector)  # golden cases: tests/connectors/test_golden.py
MAPPINGS = TicketmaticConnector.mappings_dir()
HOUSE = "cc-hasselt"
CTX = MappingContext(HOUSE, "ticketmatic")
ACCESS, SECRET = "sandbox-access-key", "sandbox-secret-key"


def config(sandbox: TicketmaticSandbox, **extra: Any) -> dict[str, Any]:
    return {"account": sandbox.account, "base_url": sandbox.url, "access_key": ACCESS, "secret_key": SECRET,
            **extra}


def connector(sandbox: TicketmaticSandbox, **extra: Any) -> TicketmaticConnector:
    return TicketmaticConnector(config(sandbox, **extra), SyncContext(house=HOUSE))


def map_all(stream: str, raws: list[dict[str, Any]],
            page: PageContext = EMPTY_PAGE_CONTEXT) -> tuple[list[dict[str, Any]], list[Any]]:
    mapping = load_mapping(MAPPINGS, "ticketmatic", stream)
    ctx = replace(CTX, page=page)
    out, errors = [], []
    for raw in raws:
        records, errs = mapping.map(raw, ctx)
        out.extend(records)
        errors.extend(errs)
    return out, errors


def map_pages(stream: str, pages: list[Page]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Map every page read in its own context (the page's lookup tables), as the engine does."""
    out, errors = [], []
    for page in pages:
        records, errs = map_all(stream, page.records, page.context)
        out.extend(records)
        errors.extend(errs)
    return out, errors


@pytest.fixture(scope="module")
def sandbox() -> Any:
    box = TicketmaticSandbox(account="cc-hasselt")
    box.start()
    yield box
    box.stop()


# -- conformance ----------------------------------------------------------------------------------------
class TestTicketmaticConformance(ConnectorConformance):
    connector_class = TicketmaticConnector
    incremental = True
    http_faults = True

    sandbox_options: ClassVar[dict[str, Any]] = {"account": "de-warande"}

    def good_config(self, sandbox: TicketmaticSandbox) -> dict[str, Any]:
        return config(sandbox)

    def bad_config(self, sandbox: TicketmaticSandbox) -> dict[str, Any] | None:
        return {**config(sandbox), "secret_key": "not-the-secret-key"}


def test_golden_tickets_show_status_holder_tariff_and_euros() -> None:
    tickets = {t["source"]["id"]: t for t in json.loads((GOLDEN / "orders.page.expected.json").read_text("utf-8"))}
    assert len(tickets) == 6  # 3 + 1 + 2 tickets in three orders
    scanned, holder, uitpas = tickets["3311201"], tickets["3311202"], tickets["3311203"]
    assert scanned["status"] == "scanned" and scanned["price"] == {"amount": 24.0, "currency": "EUR"}
    assert holder["contact"] == {"source_id": "20588"} and holder["price_type"] == "-26"  # ticket holder wins
    assert uitpas["contact"] == {"source_id": "20417"} and uitpas["price_type"] == "UiTPAS kansentarief"
    assert tickets["3311290"]["status"] == "reserved" and "contact" not in tickets["3311290"]  # customerid 0
    assert {tickets["3311301"]["status"], tickets["3311302"]["status"]} == {"cancelled"}  # archived order
    assert scanned["channel"] == "Webshop" and scanned["extras"]["parent"]["c_remark"] == "Rolstoelplaats gevraagd"
    assert "lookup" not in json.dumps(scanned["extras"]) and "@_" not in json.dumps(scanned)


# -- HMAC signing -----------------------------------------------------------------------------------------
def test_authorization_header_is_signed_as_tm_go_signs() -> None:
    conn = TicketmaticConnector({"account": "stadsschouwburg", "access_key": "AK1", "secret_key": "SK1"},
                                SyncContext(house=HOUSE))
    prepared = requests.Request("GET", conn.base_url() + "/events").prepare()
    header = conn.auth()(prepared).headers["Authorization"]
    match = re.fullmatch(r"TM-HMAC-SHA256 key=AK1 ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) sign=([0-9a-f]{64})", header)
    assert match, header
    expected = hmac.new(b"SK1", f"AK1stadsschouwburg{match[1]}".encode(), hashlib.sha256).hexdigest()
    assert match[2] == expected
    assert conn.base_url() == "https://apps.ticketmatic.com/api/1/stadsschouwburg"


def test_missing_settings_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="account"):
        TicketmaticConnector({"access_key": "a", "secret_key": "b"}, SyncContext(house=HOUSE))


# -- sandbox behaviour ----------------------------------------------------------------------------------
def test_wrong_secret_is_refused_with_401_and_no_secret_in_the_message(sandbox: TicketmaticSandbox) -> None:
    conn = TicketmaticConnector({**config(sandbox), "secret_key": "wrong-secret-value"}, SyncContext(house=HOUSE))
    with pytest.raises(AuthError) as info:
        conn.check()
    assert "401" in str(info.value) and "Invalid signature" in str(info.value)
    assert "wrong-secret-value" not in str(info.value)


def test_unsigned_and_stale_requests_are_refused(sandbox: TicketmaticSandbox) -> None:
    url = f"{sandbox.url}/api/1/cc-hasselt/events"
    plain = requests.get(url, timeout=5)
    assert plain.status_code == 401 and plain.json()["code"] == 401
    ts = "2020-01-01T00:00:00"
    sign = hmac.new(SECRET.encode(), f"{ACCESS}cc-hasselt{ts}".encode(), hashlib.sha256).hexdigest()
    stale = requests.get(url, headers={"Authorization": f"TM-HMAC-SHA256 key={ACCESS} ts={ts} sign={sign}"},
                         timeout=5)
    assert stale.status_code == 401 and "Timestamp" in stale.json()["message"]
    clock = requests.get(f"{sandbox.url}/api/1/cc-hasselt/diagnostics/time", timeout=5)  # no auth needed
    assert clock.status_code == 200 and "systemtime" in clock.json()


def test_limit_offset_paging_follows_nbrofresults(sandbox: TicketmaticSandbox) -> None:
    conn = connector(sandbox, page_size=7)
    before = len(sandbox.requests)
    raws, state, pages = read_stream(conn, "contacts")
    sent = [q for (_, path, q) in sandbox.requests[before:] if path.endswith("/contacts")]
    assert len(raws) == 60 and len({r["id"] for r in raws}) == 60  # deleted contacts too (includearchived)
    assert len(pages) == 9 and [q["offset"][0] for q in sent] == [str(7 * i) for i in range(9)]
    assert {q["limit"][0] for q in sent} == {"7"} and sent[0]["orderby"] == ["lastupdatets"]
    assert pages[0].label == "limit=7 offset=0"
    assert state == {"cursor": max(r["lastupdatets"] for r in raws)}


def test_lastupdatesince_returns_only_later_changes(sandbox: TicketmaticSandbox) -> None:
    box = TicketmaticSandbox(account="ccstrombeek")
    box.start()
    try:
        conn = connector(box)
        _, state, _ = read_stream(conn, "orders")
        assert state and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", state["cursor"])
        assert read_stream(conn, "orders", state)[0] == []  # nothing changed: nothing comes back
        changed = set(box.mutate(2))
        later, _, _ = read_stream(conn, "orders", state)
        assert {str(r["orderid"]) for r in later} <= changed and len(later) == 2
        query = next(q for (_, p, q) in reversed(box.requests) if p.endswith("/orders"))
        assert query["lastupdatesince"] == [state["cursor"]] and query["orderby_asc"] == ["true"]
    finally:
        box.stop()


def test_429_with_retry_after_is_waited_out(sandbox: TicketmaticSandbox) -> None:
    conn = connector(sandbox)
    sandbox.inject(429, 1, retry_after=1)
    started = time.monotonic()
    raws, _, _ = read_stream(conn, "events")
    assert len(raws) == 36 and time.monotonic() - started >= 0.9


def test_sandbox_data_is_seeded_from_the_account_name() -> None:
    one, two = TicketmaticSandbox(), TicketmaticSandbox()
    assert one.data("cc-hasselt") == two.data("cc-hasselt")
    assert one.data("cc-hasselt")["contacts"] != one.data("de-warande")["contacts"]


# -- mapping details -------------------------------------------------------------------------------------
def test_events_map_dst_dates_translations_yesplan_and_cancellations(sandbox: TicketmaticSandbox) -> None:
    raws, _, pages = read_stream(connector(sandbox), "events")
    events, errors = map_pages("events", pages)
    assert errors == [] and all(validate("event", e) == [] for e in events)
    starts = {e["start"] for e in events}
    assert "2025-03-29T20:15:00+01:00" in starts and "2025-03-30T15:00:00+02:00" in starts  # spring DST
    assert "2025-10-26T14:30:00+01:00" in starts and "2025-10-25T20:30:00+02:00" in starts  # autumn DST
    first = events[0]
    assert first["title"] == {"nl": "De Kersenboom", "fr": "La Cerisaie"}
    assert first["external_ids"]["yesplan"] == raws[0]["c_ypid"]
    assert first["venue"]["address"] == {"street": "Kunstlaan 5", "postal_code": "3500", "city": "Hasselt",
                                         "country": "BE"}
    assert first["prices"][0]["category"] == "base" and first["prices"][0]["name"] == {"nl": "Standaard"}
    assert sum(e["status"] == "cancelled" for e in events) == 2


def test_contacts_map_phones_consents_and_deleted_tombstones(sandbox: TicketmaticSandbox) -> None:
    _, _, pages = read_stream(connector(sandbox), "contacts")
    contacts, errors = map_pages("contacts", pages)
    assert errors == [] and all(validate("contact", c) == [] for c in contacts)
    assert all(p.startswith("+32") for c in contacts for p in c.get("phones", []))
    assert all(c["email"] == c["email"].strip().lower() for c in contacts if "email" in c)
    assert sum(c["deleted"] for c in contacts) == 2
    assert any(c.get("consents") and c["consents"][0]["granted"] for c in contacts)


# -- bad input ------------------------------------------------------------------------------------------
def test_a_cut_json_page_is_fetched_again_and_nothing_is_skipped(sandbox: TicketmaticSandbox) -> None:
    decoder = TicketmaticConnector.stream("orders").decoder
    with pytest.raises(BadDataError, match="malformed JSON"):
        list(decoder.decode(b'{"data": [{"orderid": 1,'))
    full, _, _ = read_stream(connector(sandbox, page_size=25), "contacts")
    sandbox.corrupt_next(b'{"data": [{"id": 10001, "firstname": "Jan"')
    raws, _, pages = read_stream(connector(sandbox, page_size=25), "contacts")
    assert raws == full and not any(p.errors for p in pages)  # the cut page came again, whole


def test_a_page_that_stays_cut_fails_the_read_without_moving_past_it(sandbox: TicketmaticSandbox) -> None:
    conn = connector(sandbox, page_size=25)
    conn.retry_policy = lambda: retrying(max_attempts=3, sleep=lambda s: None)  # type: ignore[method-assign]
    reader = conn.read("contacts", None)
    first = next(reader)
    for _ in range(3):
        sandbox.corrupt_next(b'{"data": [{"id": 10001, "firstname": "Jan"')
    with pytest.raises(BadDataError, match="cannot be read as a whole"):
        next(reader)  # offset 25 never becomes a page, so the stored state stays at "resume at 25"
    assert first.state["resume"]["params"]["offset"] == 25


def test_wrong_types_and_missing_fields_are_mapping_errors_and_good_records_survive() -> None:
    page = json.loads((GOLDEN / "orders.page.input.json").read_text(encoding="utf-8"))
    order = copy.deepcopy(page["data"][0])
    order["tickets"][0]["price"] = "gratis"
    del order["tickets"][1]["eventid"]
    archived = copy.deepcopy(page["data"][2])
    archived["status"] = 99999
    document = {"data": [order, "not an order", archived, page["data"][1]], "nbrofresults": 4,
                "lookup": page["lookup"]}
    decoder = TicketmaticConnector.stream("orders").decoder
    assert isinstance(decoder, TicketmaticRecords)
    decoded = list(decoder.records(document))
    assert isinstance(decoded[1], RecordError) and "not an object" in decoded[1].reason
    tickets, errors = map_all("orders", [d for d in decoded if isinstance(d, dict)], decoder.page_context(document))
    reasons = " | ".join(str(e) for e in errors)
    assert "price.amount" in reasons and "gratis" in reasons
    assert "event.source_id: required value missing" in reasons
    assert "unknown order status 99999" in reasons
    assert sorted(t["source"]["id"] for t in tickets) == ["3311203", "3311290"]  # the good ones kept


def test_event_without_a_name_or_with_a_broken_price_is_reported() -> None:
    box = TicketmaticSandbox()
    good = box.data("x")["events"][0]
    nameless = {**copy.deepcopy(good), "name": "", "translations": {}}
    broken = copy.deepcopy(good)
    broken["prices"]["contingents"][0]["pricetypes"][0]["saleschannels"][0]["price"] = None
    events, errors = map_all("events", [nameless, broken, good])
    assert len(events) == 1 and len(errors) == 2
    assert errors[0].path == "title" and "not a number" in str(errors[1])
