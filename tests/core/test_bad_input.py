"""Bad input across the connectors: through ``podium map`` (the corpus in tests/badinput/) and through
real syncs against the sandboxes, with poisoned records slipped among good ones at runtime.

0 crashes; every good record stored; every bad one dead-lettered once with a reason; a second sync
adds no duplicate letter; a record that later maps closes its letter.
"""

from __future__ import annotations

import copy
import json
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from podium.cli import main
from podium.config import ConnectorConfig, HouseConfig
from podium.demo import sandbox_connections
from podium.engine import run_sync
from podium.sandbox import Response, Sandbox
from podium.store import Store

CORPUS = Path(__file__).resolve().parent.parent / "badinput"

# Markers put into sandbox data, swapped for the bad bytes in the served body (no sandbox file is edited).
JSON_POISON = {b"@@SURROGATE@@": b"\\ud83d", b"@@BADUTF8@@": b"\xff\xfe", b"@@NUL@@": b"\\u0000"}
XML_POISON = {b"@@BADUTF8@@": b"\xff", b"@@NUL@@": b"\x00", b"@@CHARREF@@": b"&#0;", b"@@SURROGATE@@": b"&#xD83D;"}


# -- podium map over the corpus -------------------------------------------------------------------
# file -> (connector, stream, exit code, good records at least, rejected records)
CASES: dict[str, tuple[str, str, int, int, int]] = json.loads((CORPUS / "cases.json").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_podium_map_reads_every_bad_document_without_a_crash(name: str) -> None:
    connector, stream, code, good, rejected = CASES[name]
    result = CliRunner().invoke(main, ["map", connector, stream, str(CORPUS / name)])
    if result.exception and not isinstance(result.exception, SystemExit):
        pytest.fail("".join(traceback.format_exception(result.exception)))
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) >= good
    if rejected:
        letters = [json.loads(line) for line in errors]
        assert len(letters) == rejected and all(letter["reason"] for letter in letters), errors
    elif code == 3:  # the document as a whole is not what the stream reads: one line says why
        assert len(errors) == 1 and errors[0].startswith("error: "), errors


# -- real syncs ---------------------------------------------------------------------------------------
@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sandbox answer has its markers replaced by bad bytes (JSON escapes or raw XML bytes)."""
    original = Sandbox.dispatch

    def dispatch(self: Sandbox, request: Any) -> Response:
        response = original(self, request)
        body = response.body
        table = JSON_POISON if body.lstrip()[:1] in (b"{", b"[") else XML_POISON
        if b"@@" in body:
            for marker, bad in table.items():
                body = body.replace(marker, bad)
        return Response(response.status, body, response.headers)

    monkeypatch.setattr(Sandbox, "dispatch", dispatch)


HOUSES: list[Path] = []


@pytest.fixture(autouse=True)
def _connections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The demo connections (``<connector>_<house>``: inside each house's credential namespace), and
    operator rules that let a house read its own prefix of the sandbox's S3 bucket."""
    for conn_id, conn in sandbox_connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    (tmp_path / "houses").mkdir()
    (tmp_path / "houses" / "_fleet.yaml").write_text("s3_buckets: [uwp-drops]\ns3_prefix: '{house}/'\n")
    HOUSES[:] = [tmp_path / "houses"]


def house(key: str, connector: str, settings: dict[str, Any], streams: list[str] | None = None) -> HouseConfig:
    conn_id = f"{connector}_{key.replace('-', '_')}"
    return HouseConfig(key=key, name=key, kind="cultuurcentrum", timezone="Europe/Brussels",
                       path=HOUSES[0] / f"{key}.yaml",
                       connectors={connector: ConnectorConfig(connector, True, None, streams, settings,
                                                              {"conn_id": conn_id})})


def letters(store: Store, house_key: str, stream: str) -> list[dict[str, Any]]:
    return store.dead_letters(house=house_key, stream=stream, status=None)


def sync_twice(store: Store, config: HouseConfig, connector: str) -> tuple[Any, Any]:
    """Two syncs (the second a full refresh, so every bad record is served again)."""
    first = run_sync(config, connector, store=store)
    assert first.status == "succeeded_with_rejections", first.as_dict()
    second = run_sync(config, connector, store=store, full_refresh=True)
    assert second.status == "succeeded_with_rejections", second.as_dict()
    return first, second


def assert_once(store: Store, house_key: str, stream: str, bad_ids: set[str]) -> None:
    """Each bad record has exactly one letter, open, with a reason, seen by both syncs."""
    found = letters(store, house_key, stream)
    by_source = {letter["source_id"]: letter for letter in found}
    assert len(found) == len(by_source), [(x["source_id"], x["reason"]) for x in found]
    assert bad_ids <= set(by_source), (bad_ids, sorted(by_source))
    for source_id in bad_ids:
        letter = by_source[source_id]
        assert letter["status"] == "open" and letter["reason"] and letter["seen_count"] == 2, letter


# Ticketmatic (JSON) ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ticketmatic() -> Iterator[Any]:
    from connectors.ticketmatic.sandbox import TicketmaticSandbox

    with TicketmaticSandbox() as box:
        yield box


def _deep(levels: int) -> Any:
    node: Any = "bottom"
    for _ in range(levels):
        node = [node]
    return node


def test_ticketmatic_poisoned_records_cost_only_themselves(ticketmatic: Any, store: Store, poisoned: None) -> None:
    account = f"badinput-{store.engine.dialect.name}"  # the sandbox outlives one test: data of its own
    data = ticketmatic.data(account)
    events, contacts = data["events"], data["contacts"]
    good_events = {str(e["id"]) for e in events}
    good_contacts = {str(c["id"]) for c in contacts if not c["isdeleted"]}
    poison: dict[int, Any] = {
        990001: lambda e: e["prices"].__setitem__("contingents", "none"),  # wrong type in a hook's input
        990002: lambda e: e.__setitem__("unmapped", _deep(300)),  # nesting bomb in an unmapped field
        990003: lambda e: e.__setitem__("name", "Hamlet @@SURROGATE@@"),  # lone surrogate escape
        990004: lambda e: e.__setitem__("name", "Hamlet @@BADUTF8@@"),  # invalid UTF-8 bytes
        990005: lambda e: e.__setitem__("description", "x @@NUL@@ y"),  # NUL: PostgreSQL refuses it
    }
    with ticketmatic._data_lock:
        for event_id, spoil in poison.items():
            bad = copy.deepcopy(events[3])
            bad["id"] = event_id
            spoil(bad)
            events.append(bad)
        bad_contact = copy.deepcopy(next(c for c in contacts if c["addresses"] and not c["isdeleted"]))
        bad_contact["id"] = 99990001
        bad_contact["addresses"][0]["countrycode"] = 32  # an integer where a code is expected
        contacts.append(bad_contact)
    config = house("cc-hasselt", "ticketmatic", {"account": account, "base_url": ticketmatic.url,
                                                 "page_size": 25}, ["events", "contacts"])
    _, second = sync_twice(store, config, "ticketmatic")
    stored = {r["source"]["id"] for r in store.export("cc-hasselt")}
    assert good_events <= stored and good_contacts <= stored
    assert not {str(i) for i in poison} & stored
    assert_once(store, "cc-hasselt", "events", {str(i) for i in poison})
    assert_once(store, "cc-hasselt", "contacts", {"99990001"})
    by_stream = {s.stream: s for s in second.streams}
    assert by_stream["events"].rejected == len(poison) and by_stream["contacts"].rejected == 1
    reasons = {x["source_id"]: x["reason"] for x in letters(store, "cc-hasselt", "events")}
    assert "surrogate" in reasons["990003"] and "UTF-8" in reasons["990004"] and "NUL" in reasons["990005"]

    # The vendor fixes one record: its letter is closed by the sync that stores it.
    with ticketmatic._data_lock:
        fixed = next(e for e in events if e["id"] == 990003)
        fixed["name"] = "Hamlet"
    run_sync(config, "ticketmatic", store=store, full_refresh=True)
    status = {x["source_id"]: x["status"] for x in letters(store, "cc-hasselt", "events")}
    assert status["990003"] == "resolved" and status["990001"] == "open"
    assert "990003" in {r["source"]["id"] for r in store.export("cc-hasselt", "event")}


# The other connectors: poison, sync twice, then take the poison away and sync once more -------------------
def poisoned_names(prefix: str) -> dict[str, str]:
    """A text per kind of bad string, each carrying a marker that finds its letter."""
    return {f"{prefix}-{kind}": f"{prefix}-{kind} Ham{bad}let" for kind, bad in
            (("surrogate", "@@SURROGATE@@"), ("badutf8", "@@BADUTF8@@"), ("nul", "@@NUL@@"),
             ("charref", "@@CHARREF@@"))}


def check_poisoned_syncs(store: Store, config: HouseConfig, connector: str, markers: list[str],
                         unpoison: Any) -> None:
    """Each marked record: one open letter with a reason, seen by both syncs; no good record lost."""
    first, second = sync_twice(store, config, connector)
    found = store.dead_letters(house=config.key, status=None)
    for marker in markers:
        mine = [x for x in found if marker in (x["raw"] or "")]
        assert len(mine) == 1, (marker, [(x["source_id"], x["reason"]) for x in found])
        assert mine[0]["status"] == "open" and mine[0]["reason"] and mine[0]["seen_count"] == 2, mine[0]
    assert sum(s.rejected for s in second.streams) == sum(s.rejected for s in first.streams) >= len(markers)
    assert not any(marker in json.dumps(r) for r in store.export(config.key) for marker in markers)
    unpoison()
    clean = run_sync(config, connector, store=store, full_refresh=True)
    assert clean.status in ("succeeded", "succeeded_with_rejections"), clean.as_dict()
    # A good record lost to a poisoned page would be inserted now.
    assert all(s.inserted == 0 for s in clean.streams), clean.as_dict()


def sandbox_of(name: str) -> Any:
    from podium.registry import get_connector

    return get_connector(name).sandbox_class()()


def test_uitdatabank_poisoned_events(store: Store, poisoned: None) -> None:
    import uuid

    with sandbox_of("uitdatabank") as box:
        events = box.catalogue("cc-hasselt-demo")
        template = copy.deepcopy(next(iter(events.values())))
        names = poisoned_names(f"udb-{store.engine.dialect.name}")
        del names[next(k for k in names if k.endswith("charref"))]  # an XML-only poison
        added = []
        for marker, text in names.items():
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, marker))
            event = copy.deepcopy(template)
            event["@id"] = template["@id"].rsplit("/", 1)[0] + "/" + key
            event["name"] = {"nl": text}
            events[key] = event
            added.append(key)
        wrong = copy.deepcopy(template)
        wrong_key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"udb-{store.engine.dialect.name}-wrong-type"))
        wrong.update({"@id": template["@id"].rsplit("/", 1)[0] + "/" + wrong_key, "calendarType": "multiple",
                      "subEvent": ["none"], "name": {"nl": f"udb-{store.engine.dialect.name}-wrong-type"}})
        events[wrong_key] = wrong
        added.append(wrong_key)
        config = house("cc-hasselt", "uitdatabank", {"search_base_url": box.url, "token_url": f"{box.url}/oauth/token"})

        def unpoison() -> None:
            for key in added:
                events.pop(key)

        check_poisoned_syncs(store, config, "uitdatabank", [*names, f"udb-{store.engine.dialect.name}-wrong-type"],
                             unpoison)


def test_flexmail_poisoned_contacts(store: Store, poisoned: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.flexmail.connector import FlexmailConnector
    from connectors.flexmail.sandbox import account_id

    # No example house uses Flexmail yet: its connection is defined here, as the demo would.
    monkeypatch.setenv("AIRFLOW_CONN_FLEXMAIL_CC_HASSELT", json.dumps(
        {"conn_type": FlexmailConnector.connection_type(), **FlexmailConnector.demo_credentials("cc-hasselt")}))
    with sandbox_of("flexmail") as box:
        box.rate_limit_requests = 100_000  # three syncs with one request per contact
        data = box.account(account_id("cc-hasselt"))
        template = next(iter(data["listed"].values()))
        names = poisoned_names(f"fm-{store.engine.dialect.name}")
        del names[next(k for k in names if k.endswith("charref"))]  # an XML-only poison
        added = []
        for index, text in enumerate(names.values()):
            contact = {**copy.deepcopy(template), "id": 990_000 + index, "name": text,
                       "email": f"poison{index}@example.be"}
            data["listed"][contact["id"]] = contact
            added.append(contact["id"])
        config = house("cc-hasselt", "flexmail", {"base_url": box.url, "requests_per_second": 1000, "page_size": 10,
                                                  **FlexmailConnector.example_settings("cc-hasselt", "CC Hasselt")})

        def unpoison() -> None:
            for key in added:
                data["listed"].pop(key)

        check_poisoned_syncs(store, config, "flexmail", list(names), unpoison)


def test_yesplan_poisoned_events(store: Store, poisoned: None) -> None:
    with sandbox_of("yesplan") as box:
        org = f"badinput-{store.engine.dialect.name}"
        events = box.events(org)
        template = copy.deepcopy(next(iter(events.values())))
        names = poisoned_names(f"yp-{store.engine.dialect.name}")
        del names[next(k for k in names if k.endswith("charref"))]
        added = []
        for index, text in enumerate(names.values()):
            event = copy.deepcopy(template)
            event["id"] = f"9999{index}-1600000000"
            event["url"] = template["url"].rsplit("/", 1)[0] + "/" + event["id"]
            event["name"] = text
            events[event["id"]] = event
            added.append(event["id"])
        config = house("cc-hasselt", "yesplan", {"base_url": f"{box.url}/{org}", "days_back": 400,
                                                 "days_ahead": 800})

        def unpoison() -> None:
            for key in added:
                events.pop(key)

        check_poisoned_syncs(store, config, "yesplan", list(names), unpoison)


def test_mailchimp_poisoned_members(store: Store, poisoned: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.mailchimp.connector import MailchimpConnector
    from connectors.mailchimp.sandbox import subscriber_hash

    # No example house uses Mailchimp yet: its demo connection is defined here.
    monkeypatch.setenv("AIRFLOW_CONN_MAILCHIMP_CC_HASSELT", json.dumps(
        {"conn_type": MailchimpConnector.connection_type(), **MailchimpConnector.demo_credentials("cc-hasselt")}))
    with sandbox_of("mailchimp") as box:
        dialect = store.engine.dialect.name
        members = box.audience("badf00d" + ("001" if dialect == "sqlite" else "002"))
        template = copy.deepcopy(next(m for m in members.values() if m["status"] == "subscribed"))
        names = poisoned_names(f"mc-{dialect}")
        del names[next(k for k in names if k.endswith("charref"))]  # an XML-only poison
        wrong_marker = f"mc-{dialect}-wrong-type"
        added = []
        for marker, text in {**names, wrong_marker: wrong_marker}.items():
            member = copy.deepcopy(template)
            email = f"{marker}@example.be"
            member.update(id=subscriber_hash(email), email_address=email)
            member["merge_fields"]["FNAME"] = text
            if marker == wrong_marker:
                member["email_address"] = 42  # a number where an address is expected
            members[member["id"]] = member
            added.append(member["id"])
        config = house("cc-hasselt", "mailchimp", {"base_url": f"{box.url}/3.0", "list_id": template["list_id"]})

        def unpoison() -> None:
            for key in added:
                members.pop(key)

        check_poisoned_syncs(store, config, "mailchimp", [*names, wrong_marker], unpoison)


def test_kunstenpunt_poisoned_organiteiten(store: Store, poisoned: None) -> None:
    with sandbox_of("kunstenpunt") as box:
        organiteiten = box.database.organiteiten
        template = copy.deepcopy(organiteiten[361000])
        names = poisoned_names(f"kp-{store.engine.dialect.name}")
        del names[next(k for k in names if k.endswith("charref"))]  # an XML-only poison
        added = []
        for index, text in enumerate(names.values()):
            fiche = copy.deepcopy(template)
            fiche["id"], fiche["toonnaam"] = 369900 + index, text
            organiteiten[fiche["id"]] = fiche
            added.append(fiche["id"])
        config = house("cc-hasselt", "kunstenpunt", {"base_url": f"{box.url}/v1", "details": False,
                                                     "requests_per_second": 1000}, streams=["organiteiten"])

        def unpoison() -> None:
            for key in added:
                organiteiten.pop(key)

        check_poisoned_syncs(store, config, "kunstenpunt", list(names), unpoison)


def test_cdbxml_poisoned_events_and_one_with_too_many_dates(store: Store, poisoned: None) -> None:
    import dataclasses

    from podium.mapping import MAX_RECORDS_PER_RAW

    with sandbox_of("cdbxml") as box:
        organiser = f"badinput-{store.engine.dialect.name}"
        events = box.dataset(organiser)
        template = next(e for e in events if e.timestamps)
        names = poisoned_names(f"cdb-{store.engine.dialect.name}")
        added = [dataclasses.replace(template, cdbid=f"{template.cdbid[:-4]}{index:04d}", title={"nl": text})
                 for index, text in enumerate(names.values())]
        marker_many = f"cdb-{store.engine.dialect.name}-too-many-dates"
        added.append(dataclasses.replace(template, cdbid=f"{template.cdbid[:-4]}9999", title={"nl": marker_many},
                                         timestamps=[template.timestamps[0]] * (MAX_RECORDS_PER_RAW + 1)))
        with box._data_lock:
            events.extend(added)
        config = house("gc-de-kring", "cdbxml", {"base_url": box.url, "organiser": organiser})

        def unpoison() -> None:
            with box._data_lock:
                for event in added:
                    events.remove(event)

        check_poisoned_syncs(store, config, "cdbxml", [*names, marker_many], unpoison)
        (letter,) = [x for x in store.dead_letters(house="gc-de-kring") if marker_many in (x["raw"] or "")]
        assert "record too large" in letter["reason"]


def test_recreatex_poisoned_culture_events(store: Store, poisoned: None) -> None:
    from connectors.recreatex.sandbox import RecreatexSandbox

    with sandbox_of("recreatex") as box:
        shop = box.shop(RecreatexSandbox.shop_id_for("gc-de-kring"))
        template = copy.deepcopy(shop.events[len(shop.events) // 2])
        names = poisoned_names(f"rcx-{store.engine.dialect.name}")
        added = []
        for index, text in enumerate(names.values()):
            event = copy.deepcopy(template)
            event["Id"] = f"{store.engine.dialect.name[:2]}{index:06d}-0000-0000-0000-000000000000"[:36]
            event["Code"] = f"{template['Code']}-X{index}"
            event["Name"] = text
            added.append(event)
        if not any(e["Id"] == added[0]["Id"] for e in shop.events):
            shop.events.extend(added)
        config = house("gc-de-kring", "recreatex", {"base_url": box.url, "language": "nl", "days_back": 3650,
                                                    "days_ahead": 3650}, ["culture_events"])

        def unpoison() -> None:
            shop.events[:] = [e for e in shop.events if e["Id"] not in {a["Id"] for a in added}]

        check_poisoned_syncs(store, config, "recreatex", list(names), unpoison)


def test_uwp_poisoned_csv_rows(store: Store) -> None:
    from connectors.uwp.sandbox import UwpSandbox

    with UwpSandbox() as box:
        prefix = f"de-singel/badinput-{store.engine.dialect.name}/"  # under the house's own prefix
        drop = box.seed_drop("uwp-drops", prefix)
        activities = drop["activiteit_results.csv"]
        clean = activities.render()
        template = activities.rows[1]
        markers = {f"uwp-{store.engine.dialect.name}-{kind}": bad for kind, bad in
                   (("nul", b"\x00"), ("badutf8", b"\xff\xfe"))}
        extra = []
        for index, marker in enumerate(markers):
            row = dict(template, activiteit_id=f"ffff{index:04d}", activiteit_name_nl=f"{marker} Ham@@BAD@@let")
            extra.append(row)
        activities.rows.extend(extra)
        body = activities.render()
        for row, bad in zip(extra, markers.values(), strict=True):
            body = body.replace(f"{row['activiteit_name_nl']}".encode(),
                                row["activiteit_name_nl"].replace("@@BAD@@", "").encode()[:-3] + bad + b"let", 1)
        del activities.rows[-len(extra):]
        box._put("uwp-drops", prefix + "activiteit_results.csv", body)
        config = house("de-singel", "uwp", {"bucket": "uwp-drops", "prefix": prefix, "endpoint_url": box.url},
                       ["activiteiten"])

        def unpoison() -> None:
            box._put("uwp-drops", prefix + "activiteit_results.csv", clean)

        check_poisoned_syncs(store, config, "uwp", list(markers), unpoison)
