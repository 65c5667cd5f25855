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
XML_POISON = {b"@@BADUTF8@@": b"\xff", b"@@NUL@@": b"\x00", b"@@CHARREF@@": b"&#0;"}


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


@pytest.fixture(autouse=True)
def _connections(monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id, conn in sandbox_connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def house(key: str, connector: str, settings: dict[str, Any], streams: list[str] | None = None) -> HouseConfig:
    conn_id = f"{connector}_{key.replace('-', '_')}"
    return HouseConfig(key=key, name=key, kind="cultuurcentrum", timezone="Europe/Brussels",
                       path=Path(f"/houses/{key}.yaml"),
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
    first, second = sync_twice(store, config, "ticketmatic")
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
