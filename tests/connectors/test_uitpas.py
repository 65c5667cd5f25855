"""UiTPAS API 4.0: sandbox behaviour, the pitfalls (card numbers, check-ins, tariffs, permissions),
``podium map`` on the spec's examples, conformance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from connectors.uitpas.connector import UitpasConnector
from connectors.uitpas.sandbox import TOKEN_PATH, UitpasSandbox
from podium.archive import Archive
from podium.cli import main
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import run_sync
from podium.errors import AuthError, ConfigError
from podium.ids import canonical_id
from podium.mapping.engine import MappingContext, load_mapping
from podium.sandbox import Response, Sandbox
from podium.sdk.connector import SyncContext
from podium.store import Store
from podium.testing import ConnectorConformance
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(UitpasConnector)  # golden cases: tests/connectors/test_golden.py
CTX = MappingContext(house="demo", system="uitpas")
SECRET = "sandbox-secret"
ORGANIZER = "cc-de-werf-organizer"


def config(sandbox: UitpasSandbox, **extra: Any) -> dict[str, Any]:
    return {"base_url": sandbox.url, "search_base_url": sandbox.url, "token_url": f"{sandbox.url}{TOKEN_PATH}",
            "client_id": "cc-de-werf",
            "client_secret": SECRET, "organizer_id": ORGANIZER, "requests_per_second": 40, **extra}


def connector(sandbox: UitpasSandbox, **extra: Any) -> UitpasConnector:
    return UitpasConnector(config(sandbox, **extra), SyncContext(house="demo"))


def read_mapped(sandbox: UitpasSandbox, stream: str, **extra: Any) -> list[dict[str, Any]]:
    """The canonical records one full read of ``stream`` gives (no record may fail)."""
    source = connector(sandbox, **extra)
    mapping = load_mapping(UitpasConnector.mappings_dir(), "uitpas", stream)
    records: list[dict[str, Any]] = []
    try:
        for page in source.read(stream, None):
            assert not page.errors
            for raw in page.records:
                out, errors = mapping.map(raw, CTX)
                assert not errors
                records += out
    finally:
        source.close()
    return records


def token(sandbox: UitpasSandbox) -> str:
    answer = requests.post(f"{sandbox.url}{TOKEN_PATH}", timeout=5,
                           data={"grant_type": "client_credentials", "client_id": "x", "client_secret": SECRET})
    return str(answer.json()["access_token"])


@pytest.fixture
def sandbox() -> Iterator[UitpasSandbox]:
    box = UitpasSandbox()
    box.start()
    yield box
    box.stop()


# -- the sandbox behaves as uitpas.json says ------------------------------------------------------
def test_limit_above_500_is_refused_as_the_api_does(sandbox: UitpasSandbox) -> None:
    headers = {"Authorization": f"Bearer {token(sandbox)}"}
    ok = requests.get(f"{sandbox.url}/passholders", params={"organizerId": ORGANIZER, "limit": 500},
                      headers=headers, timeout=5)
    assert ok.status_code == 200 and ok.json()["totalItems"] == 24
    refused = requests.get(f"{sandbox.url}/passholders", params={"organizerId": ORGANIZER, "limit": 501},
                           headers=headers, timeout=5)
    assert refused.status_code == 400
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "https://api.publiq.be/probs/url/query-limit-exceeded"
    with pytest.raises(ConfigError, match="page_size"):  # the connector never asks for it
        connector(sandbox, page_size=501)


def test_token_is_a_form_post_and_api_calls_need_it(sandbox: UitpasSandbox) -> None:
    refused = requests.post(f"{sandbox.url}{TOKEN_PATH}", timeout=5,
                            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "nope"})
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized_client"
    anonymous = requests.get(f"{sandbox.url}/passholders", params={"organizerId": ORGANIZER}, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["type"] == "https://api.publiq.be/probs/auth/unauthorized"


def test_wrong_secret_is_an_auth_error_that_does_not_show_the_secret(sandbox: UitpasSandbox) -> None:
    source = connector(sandbox, client_secret="not-the-secret-123")
    with pytest.raises(AuthError) as caught:
        source.check()
    assert "not-the-secret-123" not in str(caught.value)


def test_expired_token_is_fetched_again_once(sandbox: UitpasSandbox) -> None:
    source = connector(sandbox)
    source.check()
    sandbox.expire_tokens()
    source.check()
    assert [p for _, p, _ in sandbox.requests].count(TOKEN_PATH) == 2
    source.close()


def test_ticket_sales_and_checkins_refuse_a_request_without_their_required_filters(sandbox: UitpasSandbox) -> None:
    headers = {"Authorization": f"Bearer {token(sandbox)}"}
    holder = next(iter(sandbox.organizer(ORGANIZER)["passholders"]))
    for path, params in (("ticket-sales", {}), ("ticket-sales", {"passholderId": holder}),
                         ("checkins", {"passholderId": holder}), ("checkins", {"organizerId": ORGANIZER})):
        answer = requests.get(f"{sandbox.url}/{path}", params=params, headers=headers, timeout=5)
        assert answer.status_code == 400, (path, params)
        assert answer.headers["Content-Type"] == "application/problem+json"


def test_checkins_are_served_newest_first(sandbox: UitpasSandbox) -> None:
    data = sandbox.organizer(ORGANIZER)
    holder = max(data["passholders"], key=lambda h: sum(c["passholderId"] == h for c in data["checkins"]))
    answer = requests.get(f"{sandbox.url}/checkins", params={"passholderId": holder, "organizerId": ORGANIZER},
                          headers={"Authorization": f"Bearer {token(sandbox)}"}, timeout=5).json()
    moments = [c["creationDate"] for c in answer["member"]]
    assert len(moments) >= 2 and moments == sorted(moments, reverse=True)


def test_rate_limit_answer_is_publiq_problem_json_with_retry_after(sandbox: UitpasSandbox) -> None:
    answer = sandbox.rate_limited()
    assert answer.status == 429 and answer.headers["Retry-After"] == "1"
    assert json.loads(answer.body)["type"] == "https://api.publiq.be/probs/uitpas/rate-limited"


# -- the pitfalls ---------------------------------------------------------------------------------
def test_a_new_card_number_keeps_the_same_contact_and_links(sandbox: UitpasSandbox) -> None:
    """A person is their passholder id: a new card changes the UiTPAS number, never the contact."""
    data = sandbox.organizer(ORGANIZER)
    holder_id = next(s["passholderId"] for s in data["sales"])
    old_number = data["passholders"][holder_id]["uitpasNumber"]
    contact_id = canonical_id("demo", "uitpas", "contact", holder_id)
    before = {c["id"]: c for c in read_mapped(sandbox, "passholders")}
    new_number = sandbox.replace_card(ORGANIZER, holder_id)
    after = {c["id"]: c for c in read_mapped(sandbox, "passholders")}
    assert new_number != old_number
    assert contact_id in before and contact_id in after and before.keys() == after.keys()
    sales = [t for t in read_mapped(sandbox, "ticket_sales") if t["contact"]["source_id"] == holder_id]
    assert sales, "the passholder's sales are still linked to the passholder"
    text = json.dumps([after[contact_id], *sales])
    assert old_number not in text and new_number not in text  # card numbers are in no id and no extras


def test_a_checkin_is_a_scanned_ticket_of_its_event_and_passholder(sandbox: UitpasSandbox) -> None:
    data = sandbox.organizer(ORGANIZER)
    checkins = read_mapped(sandbox, "checkins")
    assert len(checkins) == len(data["checkins"])
    served = {f"checkin:{c['id']}": c for c in data["checkins"]}
    for ticket in checkins:
        assert ticket["status"] == "scanned"
        raw = served[ticket["source"]["id"]]
        assert ticket["event"]["source_id"] == raw["eventId"]
        assert ticket["contact"]["source_id"] == raw["passholderId"]


def test_the_paid_amount_is_the_tariff_price(sandbox: UitpasSandbox) -> None:
    """CANONICAL v1.1: a discounted sale carries what was paid (the kansentarief), not the regular price."""
    tickets = {t["source"]["id"]: t for t in read_mapped(sandbox, "ticket_sales")}
    sales = sandbox.organizer(ORGANIZER)["sales"]
    assert len(tickets) == len(sales)
    social = [s for s in sales if s["tariff"]["type"] == "SOCIALTARIFF"]
    assert social, "the seed holds kansentarief sales"
    for sale in sales:
        ticket = tickets[sale["id"]]
        assert ticket["price"] == {"amount": sale["tariff"]["price"], "currency": "EUR"}
        assert ticket["extras"]["regularPrice"] == sale["regularPrice"] > sale["tariff"]["price"]
    assert {tickets[s["id"]]["price_type"] for s in social} == {"Kansentarief"}


def test_ticket_sales_are_read_per_uitpas_event_of_the_organizer_within_the_window(sandbox: UitpasSandbox,
                                                                                  today: date) -> None:
    """The organizer's UiTPAS events come from the Search API (organizerId + uitpas=true); only events on or
    after today minus sales_window_days are asked for, and a non-UiTPAS event never is."""
    events = sandbox.organizer(ORGANIZER)["events"]
    everything = read_mapped(sandbox, "ticket_sales", sales_window_days=0)
    asked = [q["eventId"][0] for _, path, q in sandbox.requests if path == "/ticket-sales"]
    assert sorted(asked) == sorted(e["id"] for e in events if e["uitpas"])
    searches = [q for _, path, q in sandbox.requests if path == "/events"]
    assert searches and all(q["uitpas"] == ["true"] and q["organizerId"] == [ORGANIZER] for q in searches)
    sandbox.requests.clear()
    recent = read_mapped(sandbox, "ticket_sales", sales_window_days=60)
    cutoff = datetime.combine(today - timedelta(days=60), time(0), UTC)
    assert {q["dateFrom"][0] for _, path, q in sandbox.requests if path == "/events"} == {cutoff.isoformat()}
    wanted = {e["id"] for e in events if e["uitpas"] and e["start"] >= cutoff}
    assert 0 < len(recent) < len(everything)
    assert {t["event"]["source_id"] for t in recent} <= wanted


@pytest.mark.parametrize("stream,permission", [("checkins", "CHECKINS_READ"),
                                               ("ticket_sales", "TICKETSALES_SEARCH"),
                                               ("passholders", "PASSHOLDERS_SEARCH")])
def test_a_missing_permission_is_an_auth_error_naming_it(sandbox: UitpasSandbox, stream: str,
                                                         permission: str) -> None:
    sandbox.revoke(permission)
    source = connector(sandbox)
    with pytest.raises(AuthError) as caught:
        list(source.read(stream, None))
    message = str(caught.value)
    assert "lacks an UiTPAS permission" in message  # the error table's reading of a 403 ...
    assert f"no {permission} permission for organizer {ORGANIZER}" in message  # ... with publiq's detail
    assert len([r for r in sandbox.requests if r[1] != TOKEN_PATH]) <= 2  # failed at once, no retries
    source.close()


def test_without_passholders_search_sales_still_sync_without_their_contact(sandbox: UitpasSandbox) -> None:
    """uitpas.json: the passholder is on a sale "only if the caller … has PASSHOLDERS_SEARCH permission"."""
    sandbox.revoke("PASSHOLDERS_SEARCH")
    tickets = read_mapped(sandbox, "ticket_sales")
    assert len(tickets) == len(sandbox.organizer(ORGANIZER)["sales"])
    assert all("contact" not in t and t["price"]["amount"] >= 0 for t in tickets)


def test_an_unreadable_checkin_is_its_own_record_error(sandbox: UitpasSandbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A lone surrogate in one check-in of a child page: that check-in is a record error, the rest read."""
    original = Sandbox.dispatch

    def poisoned(self: Sandbox, request: Any) -> Response:
        answer = original(self, request)
        return Response(answer.status, answer.body.replace(b"@@SURROGATE@@", b"\\ud83d"), answer.headers)

    monkeypatch.setattr(Sandbox, "dispatch", poisoned)
    data = sandbox.organizer(ORGANIZER)
    data["checkins"][0]["eventTitle"] = "Hamlet @@SURROGATE@@"
    source = connector(sandbox)
    pages = list(source.read("checkins", None))
    source.close()
    errors = [raw for page in pages for _, raw in page.errors]
    assert [raw["id"] for raw in errors] == [data["checkins"][0]["id"]]
    assert sum(len(page.records) for page in pages) == len(data["checkins"]) - 1


def test_check_names_every_missing_permission_of_the_organizer(sandbox: UitpasSandbox) -> None:
    sandbox.organizer(ORGANIZER)  # an organizer the client works for: GET /permissions lists it
    connector(sandbox).check()
    sandbox.revoke("CHECKINS_READ")
    sandbox.revoke("TICKETSALES_SEARCH")
    with pytest.raises(AuthError, match=f"lacks TICKETSALES_SEARCH, CHECKINS_READ for organizer {ORGANIZER}"):
        connector(sandbox).check()


def test_no_national_register_number_reaches_a_record(sandbox: UitpasSandbox) -> None:
    insz = {h["inszNumber"] for h in sandbox.organizer(ORGANIZER)["passholders"].values()}
    text = json.dumps([read_mapped(sandbox, s) for s in ("passholders", "ticket_sales", "checkins")])
    assert not [number for number in insz if number in text]


def test_children_are_read_past_one_page_of_500(sandbox: UitpasSandbox) -> None:
    """A passholder with more check-ins than one page holds: every page of the child is read."""
    data = sandbox.organizer(ORGANIZER)
    holder = next(iter(data["passholders"]))
    first = data["checkins"][0]
    data["checkins"] += [{**first, "id": f"extra-{n}", "passholderId": holder,
                          "creationDate": f"2025-10-{1 + n % 28:02d}T18:{n % 60:02d}:00Z"} for n in range(620)]
    ids = {t["source"]["id"] for t in read_mapped(sandbox, "checkins", page_size=7)}
    assert {f"checkin:extra-{n}" for n in range(620)} <= ids
    assert len(ids) == len({c["id"] for c in data["checkins"]})
    limits = {int(q["limit"][0]) for _, path, q in sandbox.requests if path == "/checkins"}
    assert limits == {500}


def test_a_second_sync_of_unchanged_data_writes_nothing_and_tickets_link_to_contacts(
        sandbox: UitpasSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No change filter: the re-read is cheap because the store's hashing finds nothing changed; the
    tickets' links point at the passholders' canonical contacts."""
    settings = {k: v for k, v in config(sandbox).items() if k not in ("client_id", "client_secret")}
    monkeypatch.setenv("PODIUM_GC_WERF__CLIENT_ID", "cc-de-werf")
    monkeypatch.setenv("PODIUM_GC_WERF__CLIENT_SECRET", SECRET)
    house = HouseConfig(key="gc-werf", name="GC De Werf", kind="gemeenschapscentrum", timezone="Europe/Brussels",
                        connectors={"uitpas": ConnectorConfig("uitpas", True, None, None, settings, {"env": {
                            "client_id": "PODIUM_GC_WERF__CLIENT_ID",
                            "client_secret": "PODIUM_GC_WERF__CLIENT_SECRET"}})},
                        path=tmp_path / "gc-werf.yaml")
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    archive = Archive((tmp_path / "archive").as_uri())
    first = run_sync(house, "uitpas", store=store, archive=archive)
    assert first.status == "succeeded", first.as_dict()
    assert {s.stream: s.inserted > 0 for s in first.streams} == {
        "passholders": True, "ticket_sales": True, "checkins": True}
    second = run_sync(house, "uitpas", store=store, archive=archive)
    assert second.status == "succeeded", second.as_dict()
    assert all(s.inserted == s.updated == 0 and s.unchanged == s.read > 0 for s in second.streams)
    contacts = {r["id"] for r in store.export(house="gc-werf", entity="contact")}
    tickets = list(store.export(house="gc-werf", entity="ticket"))
    assert {t["status"] for t in tickets} == {"sold", "scanned"}
    assert all(t["contact"]["id"] in contacts for t in tickets)
    assert not [t for t in tickets if "id" in t["event"]]  # no made-up uitpas event id (README: links)
    store.dispose()


# -- podium map reads every shape the spec serves -------------------------------------------------
SPEC_EXAMPLES = sorted(p.name for p in GOLDEN.glob("*.input.json") if ".sandbox-" not in p.name)


@pytest.mark.parametrize("name", SPEC_EXAMPLES)
def test_podium_map_reads_the_spec_examples(name: str) -> None:
    stream = name.split(".")[0]
    document = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    served = document["member"] if isinstance(document, dict) and "member" in document else (
        document if isinstance(document, list) else [document])
    result = CliRunner().invoke(main, ["map", "uitpas", stream, str(GOLDEN / name)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(served)
    assert all(record["source"]["system"] == "uitpas" for record in lines)
    assert "00000009007" not in result.stdout  # the examples' INSZ


def test_the_spec_example_sale_pays_the_tariff_price() -> None:
    """uitpas.json's sale 21345 pays 4 euro at tariff 'Cultuurbon 6 euro' where the regular price is 10."""
    page = json.loads((GOLDEN / "ticket_sales.get-ticket-sales-with-passholder.input.json").read_text(encoding="utf-8"))
    mapping = load_mapping(UitpasConnector.mappings_dir(), "uitpas", "ticket_sales")
    (ticket,), _ = mapping.map(page["member"][0], CTX)
    assert ticket["price"] == {"amount": 4.0, "currency": "EUR"}
    # the spec's own example: the sale's card number differs from the passholder's current one
    assert page["member"][0]["uitpasNumber"] != page["member"][0]["passholder"]["uitpasNumber"]
    assert ticket["contact"]["source_id"] == page["member"][0]["passholder"]["id"]
    assert ticket["extras"]["tariff"]["type"] == "COUPON"


# -- the standard conformance suite --------------------------------------------------------------
class TestUitpasConformance(ConnectorConformance):
    connector_class = UitpasConnector
    incremental = False  # no change filter: every sync re-reads; the store's hashing finds what changed
    http_faults = True

    def good_config(self, sandbox: UitpasSandbox) -> dict[str, Any]:
        return config(sandbox)

    def bad_config(self, sandbox: UitpasSandbox) -> dict[str, Any] | None:
        return config(sandbox, client_secret="not-the-secret")
