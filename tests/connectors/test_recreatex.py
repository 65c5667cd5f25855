"""Recreatex connector: golden mappings of saved SOAP responses, the SOAP sandbox, faults, paging, retries."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree

from connectors.recreatex.connector import RecreatexConnector
from connectors.recreatex.sandbox import RecreatexSandbox
from connectors.recreatex.soap import (
    NAMESPACE,
    SOAP_ENV,
    WSDL_PATH,
    HttpClientTransport,
    SoapFault,
    fault_rule,
    parse_fault,
)
from podium.canonical import validate
from podium.errors import AuthError, BadDataError, ConfigError, UnsafeXmlError, VendorDownError
from podium.mapping.engine import MappingContext, load_mapping
from podium.parsing import XmlRecords
from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext
from podium.sdk.connector import SyncContext
from podium.sdk.error_table import ErrorAction
from podium.sdk.retry import retrying
from podium.testing import ConnectorConformance
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(RecreatexConnector)  # golden cases: tests/connectors/test_golden.py
FIXTURES = GOLDEN / "fixtures"
MAPPINGS = RecreatexConnector.mappings_dir()
HOUSE = "de-warande"
ENTITY = {"culture_events": "event", "persons": "contact", "reservations": "ticket"}


def map_records(stream: str, records: list[dict[str, Any]],
                page: PageContext = EMPTY_PAGE_CONTEXT) -> tuple[list[dict[str, Any]], list[Any]]:
    mapping = load_mapping(MAPPINGS, "recreatex", stream)
    out: list[dict[str, Any]] = []
    errors: list[Any] = []
    for raw in records:
        canonical, failed = mapping.map(raw, MappingContext(HOUSE, "recreatex", page=page))
        out += canonical
        errors += failed
    return out, errors


def map_file(stream: str, path: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """What ``podium map recreatex <stream> FILE`` does: the stream's decoder, then the mapping."""
    decoder = RecreatexConnector.stream(stream).decoder
    return map_records(stream, [r for r in decoder.decode(path.read_bytes()) if isinstance(r, dict)])


def _by_title(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        out.setdefault(record["title"]["nl"], []).append(record)
    return out


def test_events_crossing_the_clock_change_keep_their_wall_clock_times() -> None:
    records, _ = map_file("culture_events", GOLDEN / "culture_events.response.input.xml")
    nights = sorted(_by_title(records)["Nacht van de Kortfilm"], key=lambda r: r["start"])
    assert [(n["start"], n["end"]) for n in nights] == [
        ("2025-10-25T22:00:00+02:00", "2025-10-26T04:00:00+01:00"),  # summer -> winter time
        ("2026-03-28T22:00:00+01:00", "2026-03-29T04:00:00+02:00"),  # winter -> summer time
    ]


def test_cancellation_in_the_title_becomes_status_and_clean_title() -> None:
    records, _ = map_file("culture_events", GOLDEN / "culture_events.response.input.xml")
    statuses = {r["title"]["nl"]: (r["status"], r.get("availability")) for r in records}
    assert statuses["Mira"] == ("cancelled", "unavailable")
    assert statuses["Lies Vandamme zingt Brel"] == ("scheduled", "sold_out")
    assert not any(title.startswith("GEANNULEERD") for title in statuses)
    event = records[0]
    assert event["venue"]["name"] == "De Warande \u2013 Grote zaal"
    assert event["venue"]["address"] == {"street": "Warandestraat 42", "postal_code": "2300", "city": "Turnhout",
                                         "country": "BE"}
    assert {p["category"] for p in event["prices"]} == {"base", "tariff", "uitpas"}


def test_persons_golden_facts() -> None:
    records, _ = map_file("persons", GOLDEN / "persons.response.input.xml")
    blob = json.dumps(records, ensure_ascii=False)
    assert "NationalNumber" not in blob and "60.11.11-110.10" not in blob  # never kept
    by_family = {r.get("family_name"): r for r in records}
    assert by_family["Van Gestel"]["given_name"] == "Jozef"
    dutch = next(r for r in records if r.get("address", {}).get("country") == "NL")
    assert "+31612345678" in dutch["phones"]
    assert all(r["email"] == r["email"].lower() for r in records if "email" in r)
    assert {r.get("language") for r in records} == {"nl", "fr"}
    newsletter_only = [r for r in records if "given_name" not in r and "family_name" not in r]
    assert newsletter_only and newsletter_only[0]["email"]


def test_reservations_one_ticket_per_seat_credit_line_is_refund() -> None:
    records, _ = map_file("reservations", GOLDEN / "reservations.response.input.xml")
    assert len(records) == 5
    statuses = sorted(r["status"] for r in records)
    assert "refunded" in statuses and "reserved" in statuses and "sold" in statuses
    refund = next(r for r in records if r["status"] == "refunded")
    assert refund["price"]["amount"] < 0 and refund["order_id"].startswith("29")


def test_reservation_without_seats_is_a_mapping_error_not_a_crash() -> None:
    raw = {"Id": "3f0c1a55-0000-4000-8000-000000000001", "ReservationNumber": "240999", "ReservationSeats": None}
    records, errors = map_records("reservations", [raw])
    assert records == [] and len(errors) == 1 and "no seat lines" in str(errors[0])


def test_event_without_id_is_a_mapping_error() -> None:
    records, errors = map_records("culture_events", [{"Name": "Zonder id", "From": "2025-10-09T20:00:00"}])
    assert records == [] and "source_id" in str(errors[0])


def test_xsi_nil_elements_decode_as_null() -> None:
    body = (GOLDEN / "culture_events.response.input.xml").read_bytes()
    first = next(iter(XmlRecords(tags=("CultureEvent",)).decode(body)))
    assert isinstance(first, dict) and first["Image"] is None and first["Hall"]["Address"]["Box"] is None


# -- XML attacks ----------------------------------------------------------------------------------------
def test_soap_response_with_doctype_is_refused_by_the_decoder() -> None:
    with pytest.raises(UnsafeXmlError):
        list(RecreatexConnector.stream("culture_events").decoder.decode((FIXTURES / "attack_doctype.xml").read_bytes()))
    assert parse_fault((FIXTURES / "attack_doctype.xml").read_bytes()) is None


# -- sandbox -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[RecreatexSandbox]:
    box = RecreatexSandbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def sandbox(shared_sandbox: RecreatexSandbox) -> RecreatexSandbox:
    """The module's sandbox with an empty rate-limit window: the documented 20 requests a second count
    one test's requests, not the burst of the test before (a raw request here is not retried)."""
    shared_sandbox.reset_rate_limit()
    return shared_sandbox


def config(box: RecreatexSandbox, **overrides: Any) -> dict[str, Any]:
    return {"base_url": box.url, "shop_id": box.shop_id_for(HOUSE), "language": "nl", "days_back": 800,
            "days_ahead": 800, "page_size": 10, "requests_per_second": 15, **overrides}


def connector(box: RecreatexSandbox, **overrides: Any) -> RecreatexConnector:
    return RecreatexConnector(config(box, **overrides), SyncContext(house=HOUSE))


def test_sandbox_serves_the_wsdl_and_zeep_can_use_it(sandbox: RecreatexSandbox) -> None:
    response = requests.get(f"{sandbox.url}/WebShop.svc?wsdl", timeout=5)
    assert response.status_code == 200 and b"IWebShop" in response.content
    client = zeep.Client(f"{sandbox.url}/WebShop.svc?wsdl",
                         settings=zeep.Settings(forbid_dtd=True, forbid_external=True))
    events = client.service.FindCultureEvents(Context={"ShopId": sandbox.shop_id_for(HOUSE)},
                                              CultureEventSearchCriteria={"Paging": {"PageIndex": 0, "PageSize": 3}})
    assert len(events) == 3 and events[0].Id


@pytest.mark.parametrize(("operation", "item"), [("FindCultureEvents", "CultureEvent"), ("FindPerson", "Person"),
                                               ("FindCultureReservations", "CultureReservation")])
def test_sandbox_answers_with_every_member_of_the_wsdl_type_in_its_order(
        sandbox: RecreatexSandbox, operation: str, item: str) -> None:
    wsdl = zeep.Client(str(WSDL_PATH))
    members = [name for name, _ in wsdl.get_type(f"{{{NAMESPACE}}}{item}").elements]
    envelope = (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Context xmlns="{NAMESPACE}">'
                f"<ShopId>{sandbox.shop_id_for(HOUSE)}</ShopId></Context></s:Body></s:Envelope>")
    response = requests.post(f"{sandbox.url}/WebShop.svc", data=envelope.encode(), timeout=5, headers={
        "Content-Type": "text/xml", "SOAPAction": f'"{NAMESPACE}IWebShop/{operation}"'})
    records = etree.fromstring(response.content).findall(f".//{{{NAMESPACE}}}{item}")
    assert response.status_code == 200 and records
    for record in records:
        assert [etree.QName(child).localname for child in record] == members
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    assert all(child.get(nil) == "true" for child in records[0] if len(child) == 0 and child.text is None)


def test_check_passes_and_every_stream_maps_cleanly(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox)
    conn.check()
    for stream in ENTITY:
        pages = list(conn.read(stream, None))
        raw = [r for p in pages for r in p.records]
        assert raw and all(not p.errors for p in pages)
        records, errors = map_records(stream, raw)
        assert errors == []
        assert all(validate(ENTITY[stream], r) == [] for r in records)
    conn.close()


def test_unknown_shop_id_is_an_auth_error_without_echo_or_retry(sandbox: RecreatexSandbox) -> None:
    wrong = "0b9e6a34-7d2c-4f1e-9a51-3c8d2e7f6a10"
    conn = connector(sandbox, shop_id=wrong)
    before = len(sandbox.requests)
    with pytest.raises(AuthError) as caught:
        conn.check()
    assert "ShopId" in str(caught.value) and wrong not in str(caught.value)
    assert len(sandbox.requests) - before == 1  # a refused key is not retried


def test_saved_fault_reads_as_auth_error() -> None:
    fault = parse_fault((FIXTURES / "fault_invalid_shopid.xml").read_bytes())
    assert fault == SoapFault("Client", "Invalid ShopId: no web shop is configured with this id.")
    assert fault_rule(fault).error is AuthError


def test_contract_mismatch_is_a_config_error(sandbox: RecreatexSandbox) -> None:
    envelope = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                f'<Context xmlns="{NAMESPACE}"><ShopId>{sandbox.shop_id_for(HOUSE)}</ShopId></Context>'
                f"</s:Body></s:Envelope>")
    response = requests.post(f"{sandbox.url}/WebShop.svc", data=envelope, timeout=5, headers={
        "Content-Type": "text/xml", "SOAPAction": '"http://www.recreatex.be/webshop/v3.7/IWebShop/FindCultureEvents"'})
    assert response.status_code == 500
    fault = parse_fault(response.content)
    assert fault is not None and fault.code == "ActionNotSupported"
    rule = fault_rule(fault)
    assert rule.action is ErrorAction.FAIL and rule.error is ConfigError
    assert fault_rule(SoapFault("InternalServiceFault", "boom")).error is VendorDownError


def test_sandbox_refuses_a_request_with_a_doctype(sandbox: RecreatexSandbox) -> None:
    attack = (FIXTURES / "attack_doctype.xml").read_bytes()
    response = requests.post(f"{sandbox.url}/WebShop.svc", data=attack, timeout=5, headers={
        "Content-Type": "text/xml", "SOAPAction": f"{NAMESPACE}IWebShop/FindCultureEvents"})
    fault = parse_fault(response.content)
    assert response.status_code == 500 and fault is not None and "DTD" in fault.message


def test_doctype_response_is_refused_and_the_page_asked_for_again(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox)
    full = [r["Id"] for p in conn.read("culture_events", None) for r in p.records]
    sandbox.serve_raw((FIXTURES / "attack_doctype.xml").read_bytes(), count=1)
    pages = list(conn.read("culture_events", None))
    # The refused answer is never parsed and never skipped: the page is fetched again, nothing is lost.
    assert [r["Id"] for p in pages for r in p.records] == full
    assert not any(p.errors for p in pages)


def test_a_page_that_stays_unreadable_fails_the_read_before_its_state(sandbox: RecreatexSandbox) -> None:
    conn = RecreatexConnector(config(sandbox), SyncContext(house=HOUSE))
    conn.retry_policy = lambda: retrying(max_attempts=3, sleep=lambda s: None)  # type: ignore[method-assign]
    first = next(iter(conn.read("culture_events", None)))
    sandbox.serve_raw((FIXTURES / "attack_doctype.xml").read_bytes(), count=3)
    reader = conn.read("culture_events", first.state)
    with pytest.raises(BadDataError, match="unsafe XML refused"):
        next(reader)  # no page, so no state after the resume point is handed to the engine


def test_paging_and_resume_from_a_mid_read_state(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox)
    pages = list(conn.read("persons", None))
    assert [len(p.records) for p in pages] == [10, 10, 10, 10, 10, 10, 0]
    assert pages[2].state["resume"]["page_index"] == 3 and "resume" not in pages[-1].state
    resumed = list(conn.read("persons", pages[2].state))
    assert [r["Id"] for p in resumed for r in p.records] == [r["Id"] for p in pages[3:] for r in p.records]


def test_date_window_limits_events_and_reservations(sandbox: RecreatexSandbox) -> None:
    wide = connector(sandbox)
    narrow = connector(sandbox, days_back=0, days_ahead=30)
    count = {name: sum(len(p.records) for p in c.read("culture_events", None)) for name, c in
             (("wide", wide), ("narrow", narrow))}
    shop = sandbox.shop(sandbox.shop_id_for(HOUSE))
    window = narrow._window()
    expected = [e for e in shop.events if window["from"] <= e["From"].isoformat() < window["until"]]
    assert 0 < count["narrow"] == len(expected) < count["wide"] == len(shop.events)
    tickets_for = {r["CultureEventId"] for p in narrow.read("reservations", None) for r in p.records}
    assert tickets_for <= {e["Id"] for e in expected}


def test_language_fr_serves_french_titles(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox, language="fr")
    pages = list(conn.read("culture_events", None))
    assert {p.context.language for p in pages} == {"fr"}  # the page says it, no record carries it
    assert not any("@_language" in r for p in pages for r in p.records)
    records, errors = [], []
    for page in pages:
        mapped, failed = map_records("culture_events", page.records, page.context)
        records += mapped
        errors += failed
    assert not errors and all(set(r["title"]) == {"fr"} for r in records)
    titles = {(r["title"]["fr"], r["status"]) for r in records}
    assert ("Mira", "cancelled") in titles and ("La Cerisaie", "scheduled") in titles


def test_rate_limit_429_is_waited_out(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox)
    sandbox.inject(429, 1, retry_after=1)
    started = time.monotonic()
    conn.check()
    assert time.monotonic() - started >= 1.0


def test_5xx_is_retried(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox)
    sandbox.inject(503, 2)
    conn.check()


def test_zeep_sends_through_the_shared_http_client(sandbox: RecreatexSandbox) -> None:
    conn = RecreatexConnector(config(sandbox), SyncContext(house=HOUSE))
    waits: list[float] = []
    conn.retry_policy = lambda: retrying(sleep=waits.append, backoff_initial=0.01)  # type: ignore[method-assign]
    sandbox.inject(503, 1)
    conn.check()
    assert isinstance(conn.client.transport, HttpClientTransport)
    # One HttpClient sent both tries (the 503 and the retry) with the connector's retry policy.
    assert conn.client.http.requests_sent == 2 and len(waits) == 1


def test_401_fails_at_once(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox)
    sandbox.inject(401, 1)
    before = len(sandbox.requests)
    with pytest.raises(AuthError):
        conn.check()
    assert len(sandbox.requests) - before == 1


def test_mutate_changes_what_the_next_read_returns(sandbox: RecreatexSandbox) -> None:
    conn = connector(sandbox)

    def snapshot() -> dict[str, str]:
        out = {}
        for stream in ENTITY:
            for page in conn.read(stream, None):
                out.update({r["Id"]: json.dumps(r, sort_keys=True) for r in page.records})
        return out

    before = snapshot()
    changed = sandbox.mutate(2)
    after = snapshot()
    assert len(changed) == 6
    assert {k for k in before if before[k] != after[k]} == set(changed)


def test_no_shop_id_in_logs(sandbox: RecreatexSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.inject(503, 1)
    conn = connector(sandbox)
    list(conn.read("persons", None))
    with pytest.raises(AuthError):
        connector(sandbox, shop_id="0b9e6a34-7d2c-4f1e-9a51-3c8d2e7f6a11").check()
    assert sandbox.shop_id_for(HOUSE) not in caplog.text
    assert "0b9e6a34-7d2c-4f1e-9a51-3c8d2e7f6a11" not in caplog.text


def test_spec_marks_shop_id_secret() -> None:
    assert RecreatexConnector.secret_fields() == {"shop_id": "password"}
    assert RecreatexSandbox.is_valid_shop_id(RecreatexSandbox.shop_id_for("any house at all"))
    assert not RecreatexSandbox.is_valid_shop_id("0b9e6a34-7d2c-4f1e-9a51-3c8d2e7f6a10")


# -- the standard suite ----------------------------------------------------------------------------------
class TestRecreatexConformance(ConnectorConformance):
    connector_class = RecreatexConnector
    incremental = False  # no change filter: a date window + content hashing
    http_faults = True


    def good_config(self, sandbox: RecreatexSandbox) -> dict[str, Any]:
        return config(sandbox, page_size=25)

    def bad_config(self, sandbox: RecreatexSandbox) -> dict[str, Any] | None:
        return config(sandbox, shop_id="0b9e6a34-7d2c-4f1e-9a51-3c8d2e7f6a10")

    def future_state(self, stream: str) -> dict[str, Any]:
        return {"cursor": "2999-01-01T00:00:00Z"}
