"""Flexmail REST API v1: golden shapes, the sandbox as documented, consent from list membership, conformance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from connectors.flexmail.connector import FlexmailConnector
from connectors.flexmail.sandbox import FlexmailSandbox
from connectors.flexmail.streams import HalRecords
from podium.archive import Archive
from podium.cli import main
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import SyncReport, run_sync
from podium.errors import AuthError, BadDataError
from podium.mapping.engine import MappingContext, load_mapping
from podium.paths import MAPPINGS_DIR
from podium.sdk.connector import SyncContext
from podium.store import Store
from podium.testing import ConnectorConformance
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(FlexmailConnector)  # golden cases: tests/connectors/test_golden.py
CTX = MappingContext(house="demo", system="flexmail")
ACCOUNT, TOKEN = "100001", "sandbox-token"
HOUSE = "ko-flexmail"


def mapping() -> Any:
    return load_mapping(FlexmailConnector.mappings_dir(), "flexmail", "contacts")


def golden_items(name: str) -> list[dict[str, Any]]:
    return list(HalRecords().decode((GOLDEN / f"contacts.{name}.input.json").read_bytes()))  # type: ignore[arg-type]


def map_one(raw: dict[str, Any]) -> dict[str, Any]:
    (record,), errors = mapping().map(raw, CTX)
    assert errors == []
    return record


def config(sandbox: FlexmailSandbox, **extra: Any) -> dict[str, Any]:
    return {"base_url": sandbox.url, "account_id": ACCOUNT, "personal_access_token": TOKEN,
            "requests_per_second": 1000, "page_size": 10, **extra}


def read_all(connector: FlexmailConnector) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for page in connector.read("contacts", None):
        assert not page.errors
        records += page.records
    return records


@pytest.fixture
def sandbox() -> Iterator[FlexmailSandbox]:
    box = FlexmailSandbox(rate_limit_requests=100_000, rate_limit_window=1.0)
    box.start()
    yield box
    box.stop()


# -- mapping pitfalls ----------------------------------------------------------------------------
def test_name_is_the_family_name_and_first_name_the_given_name() -> None:
    lotte, els, camille = (map_one(raw) for raw in golden_items("manifest-list-page"))
    assert (lotte["given_name"], lotte["family_name"]) == ("Lotte", "Peeters")
    assert els["family_name"] == "Van den Broeck"  # never split: the whole `name` is the family name
    assert "given_name" not in camille and camille["family_name"] == "Dubois"


def test_email_is_lower_cased_and_custom_fields_are_kept_in_extras() -> None:
    lotte = map_one(golden_items("manifest-list-page")[0])
    assert lotte["email"] == "lotte.peeters@telenet.be"
    assert lotte["phones"] == ["+32470123456"]
    assert lotte["address"] == {"street": "Kerkstraat 12", "postal_code": "3500", "city": "Hasselt", "country": "BE"}
    assert lotte["extras"]["custom_fields"]["abonnement"] == "Theaterpas"
    assert "_links" not in lotte["extras"]  # HAL navigation, not data


def test_language_becomes_contact_language() -> None:
    fien = map_one(golden_items("with-interest-subscriptions")[1])
    assert fien["language"] == "nl"  # served as "NL"
    camille = map_one(golden_items("manifest-list-page")[2])
    assert camille["language"] == "fr"


def test_interests_become_an_email_consent_per_interest_beside_list_membership() -> None:
    jonas, fien = (map_one(raw) for raw in golden_items("with-interest-subscriptions"))
    assert jonas["consents"] == [
        {"channel": "email", "granted": True, "source": "flexmail contact list"},
        {"channel": "email", "purpose": "0c847403-3296-5a03-867c-335a6dffbe42", "granted": True,
         "source": "flexmail interest: nieuwsbrief-muziek"},
        {"channel": "email", "purpose": "edc589fa-4b23-55be-b374-fc4077fe2974", "granted": True,
         "source": "flexmail interest: familie"}]
    assert fien["consents"] == [{"channel": "email", "granted": True, "source": "flexmail contact list"}]


def test_interests_read_from_the_sandbox_match_its_subscriptions(sandbox: FlexmailSandbox) -> None:
    connector = FlexmailConnector(config(sandbox), SyncContext(house=HOUSE))
    raws = read_all(connector)
    connector.close()
    subscriptions = sandbox.account(ACCOUNT)["subscriptions"]
    assert any(subscriptions[r["id"]] for r in raws), "the seed subscribes nobody: the test proves nothing"
    for raw in raws:
        purposes = [c["purpose"] for c in map_one(raw)["consents"] if "purpose" in c]
        assert purposes == subscriptions[raw["id"]]


def test_without_read_interests_there_is_one_request_per_page(sandbox: FlexmailSandbox) -> None:
    connector = FlexmailConnector(config(sandbox, read_interests=False), SyncContext(house=HOUSE))
    raws = read_all(connector)
    connector.close()
    assert len(raws) == 24 and "interest_subscriptions" not in raws[0]
    assert [path for _, path, _ in sandbox.requests] == ["/contacts"] * 3


# -- every shape Flexmail serves -----------------------------------------------------------------
@pytest.mark.parametrize("case, count", [("manifest-list-page", 3), ("single-contact", 1),
                                         ("with-interest-subscriptions", 2)])
def test_podium_map_accepts_list_pages_and_single_contacts(case: str, count: int) -> None:
    result = CliRunner().invoke(main, ["map", "flexmail", "contacts", str(GOLDEN / f"contacts.{case}.input.json")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == count and all(r["entity"] == "contact" for r in lines)


def test_an_empty_collection_without_embedded_has_no_records() -> None:
    assert list(HalRecords().decode(b'{"total": 0, "limit": 500, "offset": 0}')) == []
    with pytest.raises(BadDataError, match="neither a HAL collection"):
        list(HalRecords().decode(b'{"items": []}'))


# -- the sandbox behaves as documented ----------------------------------------------------------
def test_sandbox_pages_with_limit_offset_total_and_leaves_embedded_out_when_empty(sandbox: FlexmailSandbox) -> None:
    auth = (ACCOUNT, TOKEN)
    first = requests.get(f"{sandbox.url}/contacts", params={"limit": 10, "offset": 0}, auth=auth, timeout=5).json()
    assert (first["total"], first["limit"], first["offset"], len(first["_embedded"]["item"])) == (24, 10, 0, 10)
    assert first["_links"]["next"]["href"].endswith("offset=10")
    past = requests.get(f"{sandbox.url}/contacts", params={"offset": 40}, auth=auth, timeout=5).json()
    assert past["total"] == 24 and "_embedded" not in past
    connector = FlexmailConnector(config(sandbox, read_interests=False), SyncContext(house=HOUSE))
    assert len(read_all(connector)) == 24
    connector.close()
    offsets = [query["offset"] for _, path, query in sandbox.requests if path == "/contacts" and "limit" in query
               and query["limit"] == ["10"]]
    assert offsets[-3:] == [["0"], ["10"], ["20"]]


def test_sandbox_refuses_bad_credentials_and_bad_pages_in_problem_json(sandbox: FlexmailSandbox) -> None:
    wrong = requests.get(f"{sandbox.url}/contacts", auth=(ACCOUNT, "not-the-token"), timeout=5)
    assert wrong.status_code == 401 and wrong.headers["Content-Type"] == "application/problem+json"
    assert wrong.json()["title"] == "Unauthorized" and wrong.json()["status"] == 401
    assert requests.get(f"{sandbox.url}/contacts", timeout=5).status_code == 401
    too_big = requests.get(f"{sandbox.url}/contacts", params={"limit": 501}, auth=(ACCOUNT, TOKEN), timeout=5)
    assert too_big.status_code == 400 and "500" in too_big.json()["detail"]
    connector = FlexmailConnector(config(sandbox, personal_access_token="not-the-token"), SyncContext(house=HOUSE))
    with pytest.raises(AuthError) as caught:
        connector.check()
    connector.close()
    assert "not-the-token" not in str(caught.value)


def test_the_account_id_is_a_setting_and_never_masked_in_pages(sandbox: FlexmailSandbox) -> None:
    """Only the token is a secret: a short account number registered as one would be masked wherever its
    digits occur (an order id 1000017 in another house's archived page would stop being JSON)."""
    from podium.secrets import redact

    assert FlexmailConnector.secret_fields() == {"personal_access_token": "password"}
    connector = FlexmailConnector(config(sandbox), SyncContext(house=HOUSE))
    connector.check()
    connector.close()
    assert redact(f'{{"orderid": 1{ACCOUNT}7}}') == f'{{"orderid": 1{ACCOUNT}7}}'
    assert redact(f"token {TOKEN}") == "token ***"


def test_sandbox_answers_429_with_retry_after_past_sixty_requests_a_minute() -> None:
    with FlexmailSandbox() as box:
        assert isinstance(box, FlexmailSandbox)
        answers = [requests.get(f"{box.url}/interests", auth=(ACCOUNT, TOKEN), timeout=5) for _ in range(61)]
    assert [a.status_code for a in answers[:60]] == [200] * 60
    assert answers[60].status_code == 429 and answers[60].headers["Retry-After"] == "1"
    assert answers[60].json()["status"] == 429


def test_sandbox_unsubscribed_contacts_are_not_listed_nor_served(sandbox: FlexmailSandbox) -> None:
    data = sandbox.account(ACCOUNT)
    gone = next(iter(data["unsubscribed"]))
    auth = (ACCOUNT, TOKEN)
    listed = requests.get(f"{sandbox.url}/contacts", params={"limit": 500}, auth=auth, timeout=5).json()
    assert gone not in {c["id"] for c in listed["_embedded"]["item"]}
    assert requests.get(f"{sandbox.url}/contacts/{gone}", auth=auth, timeout=5).status_code == 404
    kept = next(iter(data["listed"]))
    assert requests.get(f"{sandbox.url}/contacts/{kept}", auth=auth, timeout=5).json()["id"] == kept
    assert requests.post(f"{sandbox.url}/contacts/{kept}/unsubscribe", auth=auth, timeout=5).status_code == 204
    assert requests.get(f"{sandbox.url}/contacts/{kept}", auth=auth, timeout=5).status_code == 404


def test_sandbox_data_is_flemish_and_deterministic() -> None:
    one, two = FlexmailSandbox().account("123456"), FlexmailSandbox().account("123456")
    assert one == two
    assert {c["language"] for c in one["listed"].values()} <= {"nl", "fr", "en"}
    assert all(c["custom_fields"]["country"] == "België" for c in one["listed"].values())


# -- consent through real syncs: list membership, leaving the list ------------------------------
class Syncs:
    """One house on the Flexmail sandbox, synced into one store."""

    def __init__(self, sandbox: FlexmailSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 **settings: Any) -> None:
        monkeypatch.setenv("PODIUM_KO_FLEXMAIL__TOKEN", TOKEN)
        credentials = {"env": {"personal_access_token": "PODIUM_KO_FLEXMAIL__TOKEN"}}
        values = {"base_url": sandbox.url, "account_id": ACCOUNT, "requests_per_second": 1000, "page_size": 10,
                  **settings}
        self.house = HouseConfig(key=HOUSE, name="Flexmail house", kind="kunstenorganisatie",
                                 timezone="Europe/Brussels",
                                 connectors={"flexmail": ConnectorConfig("flexmail", True, None, None, values,
                                                                         credentials)},
                                 path=tmp_path / f"{HOUSE}.yaml")
        self.store = Store(f"sqlite:///{tmp_path / 'flexmail.db'}")
        self.store.migrate()
        self.archive = Archive((tmp_path / "archive").as_uri())

    def sync(self, **options: Any) -> SyncReport:
        return run_sync(self.house, "flexmail", store=self.store, archive=self.archive, **options)

    def consents(self, contact_id: int) -> list[dict[str, Any]]:
        (record,) = [r for r in self.store.export(house=HOUSE) if r["source"]["id"] == str(contact_id)]
        assert record["deleted"] is False
        return list(record.get("consents", []))


@pytest.fixture
def syncs(sandbox: FlexmailSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Syncs]:
    house = Syncs(sandbox, tmp_path, monkeypatch)
    yield house
    house.store.dispose()


OPTED_OUT = [{"channel": "email", "granted": False, "source": "flexmail contact list (no longer listed)"}]


def test_an_unsubscribed_contact_ends_with_email_consent_granted_false(sandbox: FlexmailSandbox,
                                                                      syncs: Syncs) -> None:
    assert syncs.sync().status == "succeeded"
    contact_id = next(i for i, subs in sandbox.account(ACCOUNT)["subscriptions"].items()
                      if subs and i in sandbox.account(ACCOUNT)["listed"])
    assert {"channel": "email", "granted": True, "source": "flexmail contact list"} in syncs.consents(contact_id)
    auth = (ACCOUNT, TOKEN)
    assert requests.post(f"{sandbox.url}/contacts/{contact_id}/unsubscribe", auth=auth, timeout=5).status_code == 204
    report = syncs.sync()
    assert report.status == "succeeded"
    assert report.streams[0].updated == 1
    assert syncs.consents(contact_id) == OPTED_OUT  # the interests went with the list membership
    assert syncs.store.count_records(house=HOUSE) == 24  # kept, not a tombstone: the opt-out is known
    again = syncs.sync()
    assert (again.streams[0].updated, again.streams[0].inserted) == (0, 0)  # a re-read without change


def test_a_contact_leaving_the_list_changes_consent_and_coming_back_restores_it(sandbox: FlexmailSandbox,
                                                                               syncs: Syncs) -> None:
    syncs.sync()
    deleted, returning = sorted(sandbox.account(ACCOUNT)["listed"])[4:6]
    before = syncs.consents(returning)
    assert requests.delete(f"{sandbox.url}/contacts/{deleted}", auth=(ACCOUNT, TOKEN), timeout=5).status_code == 204
    sandbox.unsubscribe(returning, ACCOUNT)
    syncs.sync()
    assert syncs.consents(deleted) == OPTED_OUT
    assert syncs.consents(returning) == OPTED_OUT
    sandbox.resubscribe(returning, ACCOUNT)  # a new opt-in: listed again, with its interests
    syncs.sync()
    assert syncs.consents(returning) == before
    assert syncs.consents(deleted) == OPTED_OUT


def test_a_read_that_saw_part_of_the_list_reconciles_nothing(sandbox: FlexmailSandbox, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = Syncs(sandbox, tmp_path, monkeypatch, read_interests=False)
    syncs.sync()
    first_page = sorted(sandbox.account(ACCOUNT)["listed"])[:10]
    sandbox.unsubscribe(first_page[0], ACCOUNT)

    def fail_after_first_page(stream: str, report: Any) -> None:
        if report.pages == 1:
            sandbox.inject(401, 1)

    broken = syncs.sync(progress=fail_after_first_page)
    assert broken.status == "failed"
    assert syncs.store.get_state(HOUSE, "flexmail", "contacts")["resume"]["params"]["offset"] == 10
    resumed = syncs.sync()  # pages 2 and 3 only: the first page's contacts were not seen
    assert resumed.status == "succeeded"
    assert syncs.consents(first_page[1])[0]["granted"] is True
    assert syncs.consents(first_page[0])[0]["granted"] is True  # not reconciled from a partial read
    syncs.sync()  # the next complete read does it
    assert syncs.consents(first_page[0]) == OPTED_OUT
    assert syncs.consents(first_page[1])[0]["granted"] is True
    syncs.store.dispose()


def test_a_complete_read_of_an_empty_list_opts_nobody_out(sandbox: FlexmailSandbox, syncs: Syncs) -> None:
    syncs.sync()
    listed = list(sandbox.account(ACCOUNT)["listed"])
    for contact_id in listed:
        sandbox.unsubscribe(contact_id, ACCOUNT)
    assert syncs.sync().status == "succeeded"
    assert all(syncs.consents(i)[0]["granted"] is True for i in listed)  # a wrong account, more likely


# -- the outbound mapping reads back what the inbound one wrote ----------------------------------
def test_inbound_then_outbound_gives_back_the_flexmail_contact(sandbox: FlexmailSandbox) -> None:
    outbound = load_mapping(MAPPINGS_DIR / "outbound" / "flexmail", "flexmail", "contacts")
    connector = FlexmailConnector(config(sandbox), SyncContext(house=HOUSE))
    raws = read_all(connector)
    connector.close()
    checked = 0
    for raw in raws:
        canonical = map_one(raw)
        (body,), errors = outbound.map(canonical, CTX)
        assert errors == []
        served = raw["custom_fields"]
        assert (body["email"], body.get("first_name"), body["name"], body["language"]) == (
            raw["email"], raw["first_name"], raw["name"], raw["language"])
        for placeholder in ("street", "postal_code", "city", "country"):
            assert body["custom_fields"][placeholder] == served[placeholder]
        assert [i["id"] for i in body.get("interests", [])] == sandbox.account(ACCOUNT)["subscriptions"][raw["id"]]
        checked += 1
    assert checked == 24


# -- the standard conformance suite --------------------------------------------------------------
class TestFlexmailConformance(ConnectorConformance):
    connector_class = FlexmailConnector
    incremental = False  # no change filter on any Flexmail list: every sync re-reads, the hash keeps it cheap
    http_faults = True
    sandbox_options = {"rate_limit_requests": 100_000, "rate_limit_window": 1.0}

    def good_config(self, sandbox: FlexmailSandbox) -> dict[str, Any]:
        return config(sandbox)

    def bad_config(self, sandbox: FlexmailSandbox) -> dict[str, Any] | None:
        return config(sandbox, personal_access_token="not-the-token")
