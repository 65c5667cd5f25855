"""Mailchimp Marketing API v3: the sandbox as the reference says, the pitfalls of members, conformance."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.mailchimp.connector import MailchimpConnector
from connectors.mailchimp.sandbox import MAX_CONNECTIONS, MailchimpSandbox, subscriber_hash
from podium.errors import AuthError, ConfigError
from podium.mapping.engine import MappingContext, load_mapping
from podium.sdk.connector import SyncContext
from podium.testing import ConnectorConformance, read_stream
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(MailchimpConnector)  # golden cases: tests/connectors/test_golden.py
CTX = MappingContext(house="demo", system="mailchimp")
LIST = "1b724bb934"


def map_one(raw: dict[str, Any]) -> dict[str, Any]:
    records, errors = load_mapping(MailchimpConnector.mappings_dir(), "mailchimp", "members").map(raw, CTX)
    assert errors == []
    return records[0]


def member(**changes: Any) -> dict[str, Any]:
    """A member document as Mailchimp serves it (the recorded re-subscribed member), changed."""
    raw = json.loads((GOLDEN / "members.recorded-resubscribed-member.input.json").read_text(encoding="utf-8"))
    raw.update(changes)
    return dict(raw)


def config(box: MailchimpSandbox, **extra: Any) -> dict[str, Any]:
    return {"api_key": box.api_key, "base_url": f"{box.url}/3.0", "list_id": LIST, "requests_per_second": 1000,
            **extra}


def connector(settings: dict[str, Any]) -> MailchimpConnector:
    return MailchimpConnector(settings, SyncContext(house="gc-de-kroon"))


def get(box: MailchimpSandbox, path: str, key: str | None = None, **params: Any) -> requests.Response:
    return requests.get(f"{box.url}/3.0/{path}", params=params, auth=("anystring", key or box.api_key), timeout=10)


@pytest.fixture
def sandbox() -> Iterator[MailchimpSandbox]:
    box = MailchimpSandbox()
    box.start()
    yield box
    box.stop()


# -- the pitfalls of members, in the mapping -------------------------------------------------------------
@pytest.mark.parametrize(("status", "expected"), [
    ("subscribed", {"channel": "email", "granted": True, "at": "2022-02-23T19:37:38Z", "source": "mailchimp status"}),
    ("unsubscribed", {"channel": "email", "granted": False, "source": "mailchimp status"}),
    # an unconfirmed double opt-in: not granted, at the time the member signed up
    ("pending", {"channel": "email", "granted": False, "at": "2022-02-20T08:00:00Z", "source": "mailchimp status"}),
    ("cleaned", None), ("archived", None), ("transactional", None),
])
def test_status_becomes_the_email_consent_of_canonical_v11(status: str, expected: dict[str, Any] | None) -> None:
    contact = map_one(member(status=status, timestamp_signup="2022-02-20T08:00:00+00:00"))
    by_status = [c for c in contact.get("consents", []) if c["source"] == "mailchimp status"]
    assert by_status == ([expected] if expected else [])
    if expected is None:  # a deliverability state: no consent at all, the status kept
        assert "consents" not in contact
        assert contact["extras"]["status"] == status


def test_gdpr_marketing_permissions_are_consents_with_their_purpose_beside_the_status() -> None:
    permissions = [{"marketing_permission_id": "d7ce21601c", "text": "Email", "enabled": False},
                   {"marketing_permission_id": "d0d0a1b47d", "text": "Direct Mail", "enabled": True},
                   {"marketing_permission_id": "75e893aca0", "text": "Customized Online Advertising", "enabled": True}]
    contact = map_one(member(status="subscribed", marketing_permissions=permissions))
    assert contact["consents"][1:] == [
        {"channel": "email", "purpose": "gdpr:d7ce21601c", "granted": False, "source": "mailchimp marketing_permissions"},
        {"channel": "post", "purpose": "gdpr:d0d0a1b47d", "granted": True, "source": "mailchimp marketing_permissions"}]
    assert contact["consents"][0]["granted"] is True  # subscribed, yet "Email" disabled: both facts kept
    assert contact["extras"]["marketing_permissions"] == permissions  # advertising has no channel: kept as served


def test_member_id_is_md5_of_the_lower_cased_email_and_is_the_source_id(sandbox: MailchimpSandbox) -> None:
    members = get(sandbox, f"lists/{LIST}/members", count=1000).json()["members"]
    assert len(members) == 36 and all(m["id"] == hashlib.md5(m["email_address"].lower().encode()).hexdigest()
                                      for m in members)
    typed = next(m for m in members if m["email_address"] != m["email_address"].lower())
    contact = map_one(typed)
    assert contact["source"]["id"] == subscriber_hash(typed["email_address"].lower()) == typed["id"]
    assert contact["email"] == typed["email_address"].lower()
    recorded = json.loads((GOLDEN / "members.recorded-archived-member.input.json").read_text(encoding="utf-8"))
    assert recorded["id"] == hashlib.md5(b"testid3039@grouparoo.com").hexdigest()  # as Mailchimp served it
    # the single-member path takes the hash or the address itself
    assert get(sandbox, f"lists/{LIST}/members/{typed['id']}").json()["email_address"] == typed["email_address"]
    assert get(sandbox, f"lists/{LIST}/members/{typed['email_address'].upper()}").json()["id"] == typed["id"]


@pytest.mark.parametrize(("address", "expected"), [
    ({"addr1": "Kerkstraat 12", "addr2": "bus 3", "city": "Hasselt", "state": "", "zip": "3500", "country": "BE"},
     {"street": "Kerkstraat 12 bus 3", "postal_code": "3500", "city": "Hasselt", "country": "BE"}),
    ({"addr1": "Veldstraat 29", "addr2": "", "city": "Gent", "state": "", "zip": "9000", "country": "Belgium"},
     {"street": "Veldstraat 29", "postal_code": "9000", "city": "Gent", "country": "BE"}),
    ("", None),
    ("Molenstraat 5  1850 Grimbergen", None),
])
def test_address_merge_field_as_object_empty_string_or_text(address: Any, expected: dict[str, str] | None) -> None:
    contact = map_one(member(merge_fields={"FNAME": "Els", "LNAME": "Maes", "PHONE": "0470 12 34 56",
                                           "ADDRESS": address}))
    assert contact.get("address") == expected
    assert contact["extras"]["merge_fields"]["ADDRESS"] == address  # as served, text included
    assert contact["phones"] == ["+32470123456"] and contact["given_name"] == "Els"


def test_language_outside_the_canonical_four_is_kept_in_extras_only() -> None:
    assert map_one(member(language="fr"))["language"] == "fr"
    spanish = map_one(member(language="es"))
    assert "language" not in spanish and spanish["extras"]["language"] == "es"


# -- the connector -------------------------------------------------------------------------------------
def test_base_url_is_the_data_centre_of_the_key_unless_configured() -> None:
    key = "0123456789abcdef0123456789abcdef-US19"
    assert connector({"api_key": key, "list_id": LIST}).base_url() == "https://us19.api.mailchimp.com/3.0"
    assert connector({"api_key": key, "list_id": LIST, "base_url": "http://127.0.0.1:1/3.0/"}).base_url() == \
        "http://127.0.0.1:1/3.0"
    with pytest.raises(ConfigError) as caught:
        connector({"api_key": "0123456789abcdef0123456789abcdef", "list_id": LIST}).base_url()
    assert "0123456789abcdef" not in str(caught.value) and "data centre" in str(caught.value)


def test_problem_json_401_is_an_auth_error_with_no_fragment_of_either_key(
        sandbox: MailchimpSandbox, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "feedfacecafebeef0123456789abcdef-us3"
    caplog.set_level(logging.DEBUG)
    broken = connector(config(sandbox, api_key=wrong))
    with pytest.raises(AuthError) as caught:
        broken.check()
    broken.close()
    message = str(caught.value)
    assert "401" in message and "API key may be invalid" in message  # the problem document's detail
    seen = message + "\n".join(r.getMessage() for r in caplog.records)
    for fragment in (wrong, wrong.split("-")[0], sandbox.api_key, sandbox.api_key.split("-")[0]):
        assert fragment not in seen
    answer = get(sandbox, f"lists/{LIST}/members", key=wrong)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert {k: answer.json()[k] for k in ("title", "status")} == {"title": "API Key Invalid", "status": 401}
    assert set(answer.json()) == {"type", "title", "status", "detail", "instance"}


def test_unknown_list_is_a_config_error_naming_list_id(sandbox: MailchimpSandbox) -> None:
    missing = connector(config(sandbox, list_id="abcdef012z"))
    with pytest.raises(ConfigError, match="list_id") as caught:
        missing.check()
    missing.close()
    assert "Resource Not Found" in str(caught.value)


def test_incremental_since_last_changed_returns_a_change_and_nothing_else(sandbox: MailchimpSandbox) -> None:
    exact = connector(config(sandbox, lookback_seconds=0))
    raws, state, _ = read_stream(exact, "members")
    assert len(raws) == 40 and state is not None
    changed = set(sandbox.mutate(1))
    again, _, _ = read_stream(exact, "members", state)
    assert {r["id"] for r in again} == changed
    assert [r["status"] for r in again] != [] and all(r["last_changed"] > state["cursor"] for r in again)
    # by default one second before the cursor is read again: only members changed in that second come back
    margin, _, _ = read_stream(connector(config(sandbox)), "members", state)
    extra = {r["id"] for r in margin} - changed
    assert all(sandbox.audience(LIST)[i]["last_changed"] in (state["cursor"], state["archived"]["cursor"])
               for i in extra)


def test_a_member_archived_after_the_last_sync_comes_back_and_loses_its_consent(sandbox: MailchimpSandbox) -> None:
    reader = connector(config(sandbox, lookback_seconds=0))
    _, state, _ = read_stream(reader, "members")
    target = next(m for m in sandbox.audience(LIST).values() if m["status"] == "subscribed")
    with sandbox._data.lock:
        target.update(status="archived", last_changed="2026-01-05T10:00:00+00:00")
    again, after, _ = read_stream(reader, "members", state)
    assert [r["id"] for r in again] == [target["id"]]
    assert "consents" not in map_one(again[0]) or not any(
        c["source"] == "mailchimp status" for c in map_one(again[0])["consents"])
    assert after is not None and after["archived"]["cursor"] == "2026-01-05T10:00:00+00:00"
    assert get(sandbox, f"lists/{LIST}/members", count=1000).json()["total_items"] == 35  # archived: not by default


def test_paging_by_last_changed_loses_no_member_that_changes_during_the_read(sandbox: MailchimpSandbox) -> None:
    reader = connector(config(sandbox, page_size=5))
    seen: set[str] = set()
    for index, page in enumerate(reader.read("members", None)):
        seen |= {r["id"] for r in page.records}
        if index == 1:  # two members already read change: they move to the end of the sort
            with sandbox._data.lock:
                for raw in page.records[:2]:
                    sandbox.audience(LIST)[raw["id"]]["last_changed"] = "2026-02-01T00:00:00+00:00"
    assert seen == set(sandbox.audience(LIST))


def test_a_read_killed_in_the_archived_pass_resumes_there(sandbox: MailchimpSandbox) -> None:
    reader = connector(config(sandbox, page_size=2))
    pages = list(reader.read("members", None))
    archived_pages = [p for p in pages if any(r["status"] == "archived" for r in p.records)]
    mid = pages.index(archived_pages[0])
    resumed = list(connector(config(sandbox, page_size=2)).read("members", pages[mid].state))
    ids_after = {r["id"] for p in resumed for r in p.records}
    expected = {r["id"] for p in pages[mid + 1:] for r in p.records}
    assert expected <= ids_after and len(ids_after - expected) <= 2  # the live pass re-reads its cursor second
    assert resumed[-1].state == pages[-1].state


# -- the sandbox behaves as the reference says -----------------------------------------------------------
def test_sandbox_pages_filters_and_refuses_like_mailchimp(sandbox: MailchimpSandbox) -> None:
    page = get(sandbox, f"lists/{LIST}/members", count=3, offset=0, sort_field="last_changed", sort_dir="ASC").json()
    assert set(page) == {"members", "list_id", "total_items", "_links"} and len(page["members"]) == 3
    assert page["total_items"] == 36 and page["members"][0]["_links"][0]["rel"] == "self"
    statuses = {m["status"] for m in get(sandbox, f"lists/{LIST}/members", count=1000).json()["members"]}
    assert statuses == {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
    archived = get(sandbox, f"lists/{LIST}/members", count=1000, status="archived").json()
    assert {m["status"] for m in archived["members"]} == {"archived"} and archived["total_items"] == 4
    cut = page["members"][1]["last_changed"]
    after = get(sandbox, f"lists/{LIST}/members", count=1000, since_last_changed=cut).json()["members"]
    assert after and all(m["last_changed"] > cut for m in after)  # "changed after": exclusive
    too_many = get(sandbox, f"lists/{LIST}/members", count=1001)
    assert too_many.status_code == 400 and too_many.json()["title"] == "Invalid Resource"
    nothing = get(sandbox, "lists/0000000000/members/" + "0" * 32)
    assert nothing.status_code == 404 and nothing.json()["title"] == "Resource Not Found"
    missing_key = requests.get(f"{sandbox.url}/3.0/lists/{LIST}/members", timeout=10)
    assert missing_key.status_code == 401 and missing_key.json()["title"] == "API Key Missing"
    wrapped = get(sandbox, f"lists/{LIST}/members", count=1, exclude_fields="members._links,_links").json()
    assert "_links" not in wrapped and "_links" not in wrapped["members"][0]


def test_sandbox_members_are_flemish_with_merge_fields_and_permissions(sandbox: MailchimpSandbox) -> None:
    members = list(sandbox.audience(LIST).values())
    assert {type(m["merge_fields"]["ADDRESS"]).__name__ for m in members} == {"dict", "str"}
    assert any(isinstance(m["merge_fields"]["ADDRESS"], str) and m["merge_fields"]["ADDRESS"] for m in members)
    assert {m["language"] for m in members} >= {"nl", "fr", "en", ""}
    assert all(len(m["marketing_permissions"]) == 3 for m in members)
    assert any(m["merge_fields"]["ADDRESS"] and m["merge_fields"]["ADDRESS"]["city"] == "Hasselt"
               for m in members if isinstance(m["merge_fields"]["ADDRESS"], dict))
    assert MailchimpSandbox().audience(LIST) == sandbox.audience(LIST)  # seeded: the same on every run


def test_sandbox_allows_ten_simultaneous_connections_per_key_and_answers_the_eleventh_429(
        sandbox: MailchimpSandbox) -> None:
    statuses: list[int] = []
    refused = threading.Event()

    def call() -> None:
        answer = get(sandbox, f"lists/{LIST}/members", count=1)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert answer.headers["Retry-After"] and "simultaneous" in answer.json()["detail"]
            refused.set()

    sandbox.hold()
    callers = [threading.Thread(target=call) for _ in range(MAX_CONNECTIONS + 1)]
    try:
        for caller in callers:
            caller.start()
        assert refused.wait(timeout=20), "the eleventh connection was not refused"
        assert sandbox.open_connections() == MAX_CONNECTIONS
    finally:
        sandbox.release()
        for caller in callers:
            caller.join(timeout=20)
    assert sorted(statuses) == [200] * MAX_CONNECTIONS + [429]
    assert get(sandbox, f"lists/{LIST}/members", count=1).status_code == 200  # connections freed


def test_a_sync_refused_for_too_many_connections_waits_and_completes(sandbox: MailchimpSandbox) -> None:
    """The account's other integrations hold all ten connections: the 429 is waited out, not a failure."""
    sandbox.hold()
    others = [threading.Thread(target=get, args=(sandbox, f"lists/{LIST}/members")) for _ in range(MAX_CONNECTIONS)]
    result: dict[str, Any] = {}

    def sync() -> None:
        try:
            result["raws"] = read_stream(connector(config(sandbox)), "members")[0]
        except Exception as exc:  # reported below
            result["error"] = exc

    syncing = threading.Thread(target=sync)
    try:
        for other in others:
            other.start()
        for _ in range(2000):
            if sandbox.open_connections() == MAX_CONNECTIONS:
                break
            threading.Event().wait(0.01)
        syncing.start()
        for _ in range(2000):
            if sandbox.refused_connections:
                break
            threading.Event().wait(0.01)
    finally:
        sandbox.release()
        for thread in [*others, syncing]:
            thread.join(timeout=60)
    assert sandbox.refused_connections >= 1 and "error" not in result, result.get("error")
    assert len(result["raws"]) == 40


def test_a_sync_holds_one_connection_at_a_time(sandbox: MailchimpSandbox) -> None:
    """Why the pool may be larger than ten: one house's sync never opens a second connection."""
    seen: list[int] = []
    original = sandbox.route

    def counting(request: Any) -> Any:
        seen.append(sandbox.open_connections())
        return original(request)

    sandbox.route = counting  # type: ignore[method-assign]
    read_stream(connector(config(sandbox, page_size=5)), "members")
    assert seen and max(seen) == 1


def test_connector_declares_the_mailing_group_and_its_orchestration() -> None:
    assert MailchimpConnector.example_group == "mailing" and MailchimpConnector.auth_kind == "api_key"
    assert MailchimpConnector.secret_fields() == {"api_key": "password"}
    assert MailchimpConnector.demo_credentials("gc-de-kroon") == {"password": MailchimpSandbox().api_key}
    settings = MailchimpConnector.example_settings("gc-de-kroon", "GC De Kroon")
    MailchimpConnector.validate_config({**settings, "api_key": "x-us3"})
    assert settings == MailchimpConnector.example_settings("gc-de-kroon", "GC De Kroon")


class TestMailchimpConformance(ConnectorConformance):
    connector_class = MailchimpConnector
    house = "gc-de-kroon"

    def good_config(self, sandbox: Any) -> dict[str, Any]:
        return config(sandbox, page_size=9)

    def bad_config(self, sandbox: Any) -> dict[str, Any] | None:
        return config(sandbox, api_key="0000000000000000000000000000dead-us3")


@pytest.mark.parametrize("recording", ["members.recorded-list-page.input.json",
                                       "members.recorded-archived-member.input.json"])
def test_podium_map_reads_a_recorded_page_and_a_recorded_member_document(recording: str) -> None:
    from click.testing import CliRunner

    from podium.cli import main

    result = CliRunner().invoke(main, ["map", "mailchimp", "members", str(GOLDEN / recording)])
    assert result.exit_code == 0, result.output
    contacts = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert contacts and all(c["source"]["id"] == hashlib.md5(c["email"].encode()).hexdigest() for c in contacts)


def test_decoder_takes_a_page_or_one_member_and_names_both_for_anything_else() -> None:
    from connectors.mailchimp.streams import MemberDocuments
    from podium.errors import BadDataError

    decoder = MemberDocuments()
    page = (GOLDEN / "members.recorded-list-page.input.json").read_bytes()
    one_member = (GOLDEN / "members.recorded-archived-member.input.json").read_bytes()
    assert len(list(decoder.decode(page))) == 2 and len(list(decoder.decode(one_member))) == 1
    schema = (b'{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", '
              b'"properties": {"email_address": {"type": ["null", "string"]}}}')  # airbyte's list_members.json
    with pytest.raises(BadDataError, match=r"neither a members page .* nor one member"):
        list(decoder.decode(schema))
