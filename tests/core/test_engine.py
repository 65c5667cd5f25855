"""The engine end to end against the Ticketmatic sandbox, on SQLite and PostgreSQL: counts, idempotent
re-runs, bad input to dead letters without losing good records, replay, error classes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.ticketmatic.sandbox import TicketmaticSandbox
from podium.archive import Archive
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import run_sync
from podium.store import Store


@pytest.fixture(scope="module")
def sandbox() -> Iterator[TicketmaticSandbox]:
    with TicketmaticSandbox() as sandbox:
        yield sandbox


def house(url: str, tmp_path: Path, secret: str = "sandbox-secret-key", account: str = "enginetest") -> HouseConfig:
    return HouseConfig(key="cc-engine", name="CC Engine", kind="cultuurcentrum", timezone="Europe/Brussels",
                       path=tmp_path / "cc-engine.yaml",
                       connectors={"ticketmatic": ConnectorConfig(
                           "ticketmatic", True, None, None, {"account": account, "base_url": url, "page_size": 25},
                           {"env": {"access_key": "PODIUM_CC_ENGINE__TM_KEY", "secret_key": "PODIUM_CC_ENGINE__TM_SECRET"}})})


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_CC_ENGINE__TM_KEY", "sandbox-access-key")
    monkeypatch.setenv("PODIUM_CC_ENGINE__TM_SECRET", "sandbox-secret-key")


def test_full_sync_then_a_second_run_adds_nothing(sandbox: TicketmaticSandbox, store: Store, tmp_path: Path) -> None:
    archive = Archive((tmp_path / "archive").as_uri())
    first = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, archive=archive)
    assert first.status == "succeeded", first.as_dict()
    by_stream = {s.stream: s for s in first.streams}
    tickets = sum(len(o["tickets"]) for o in sandbox.data("enginetest")["orders"])
    assert by_stream["orders"].read == len(sandbox.data("enginetest")["orders"])
    assert by_stream["orders"].inserted + by_stream["orders"].deleted == tickets
    assert store.count_records("cc-engine", "ticket") == tickets
    assert first.changed_entities == {"event", "contact", "ticket"}
    exported = list(store.export("cc-engine"))

    second = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, archive=archive)
    assert second.status == "succeeded"
    assert all(s.inserted == 0 and s.updated == 0 for s in second.streams), second.as_dict()
    assert second.changed_entities == set()
    assert list(store.export("cc-engine")) == exported

    # Every page is archived raw, and the run points to it.
    run_rows = store.runs(first.run_id)
    assert all(r["archive_uri"] and r["archive_uri"].startswith("file://") for r in run_rows)
    page = next((tmp_path / "archive" / "cc-engine" / "ticketmatic" / "orders").glob(f"*/{first.run_id}/00000.json.gz"))
    assert json.loads(archive.get(page.as_uri()))["data"]


def test_tickets_point_to_their_canonical_event_and_contact(sandbox: TicketmaticSandbox, store: Store,
                                                            tmp_path: Path) -> None:
    run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store)
    events = {r["id"] for r in store.export("cc-engine", "event")}
    tickets = list(store.export("cc-engine", "ticket"))
    assert tickets and all(t["event"]["id"] in events for t in tickets if not t["deleted"])


def test_a_cut_page_is_fetched_again_and_no_record_is_lost(sandbox: TicketmaticSandbox, store: Store,
                                                           tmp_path: Path) -> None:
    sandbox.corrupt_next(b'{"data": [{"id": 1, "name": "Hamlet"')  # truncated JSON: the first events page
    report = run_sync(house(sandbox.url, tmp_path, account="badpages"), "ticketmatic", store=store)
    events = next(s for s in report.streams if s.stream == "events")
    assert report.status == "succeeded" and events.status == "succeeded" and events.rejected == 0
    assert store.dead_letters(house="cc-engine", stream="events") == []  # a transport fault is no dead letter
    assert store.count_records("cc-engine", "event") == len(sandbox.data("badpages")["events"])


def test_wrong_credentials_fail_with_the_auth_class(sandbox: TicketmaticSandbox, store: Store, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_CC_ENGINE__TM_SECRET", "not-the-secret-123")
    report = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store)
    assert report.status == "failed" and report.first_error()[1] == "auth"
    assert "not-the-secret-123" not in json.dumps(report.as_dict())
    with pytest.raises(Exception, match=r"cc-engine × ticketmatic × events: \[auth\]"):
        report.raise_for_failure()


def test_a_vendor_that_is_down_is_classified(store: Store, tmp_path: Path) -> None:
    report = run_sync(house("http://127.0.0.1:9", tmp_path), "ticketmatic", store=store, streams=["events"])
    assert report.status == "failed" and report.first_error()[1] == "vendor_down"
    assert store.status("cc-engine")[0]["error_class"] == "vendor_down"


def test_missing_credentials_are_a_config_error(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_CC_ENGINE__TM_SECRET")
    report = run_sync(house("http://127.0.0.1:9", tmp_path), "ticketmatic", store=store)
    assert report.error_class == "config" and "PODIUM_CC_ENGINE__TM_SECRET" in (report.error or "")


def test_a_ticket_returned_at_the_vendor_becomes_refunded(sandbox: TicketmaticSandbox, store: Store,
                                                          tmp_path: Path) -> None:
    """Ticketmatic drops a returned ticket from its order; the re-read order retires it as refunded."""
    import time as _time

    from connectors.ticketmatic import sandbox as tm_sandbox

    run_sync(house(sandbox.url, tmp_path, account="returns"), "ticketmatic", store=store, streams=["orders"])
    order = next(o for o in sandbox.data("returns")["orders"] if len(o["tickets"]) >= 2)
    returned_id = str(order["tickets"][-1]["id"])
    kept_id = str(order["tickets"][0]["id"])
    _time.sleep(1.1)  # lastupdatets has one-second resolution
    with sandbox._data_lock:
        tm_sandbox._return_ticket(order, tm_sandbox._now())
    report = run_sync(house(sandbox.url, tmp_path, account="returns"), "ticketmatic", store=store,
                      streams=["orders"])
    assert report.status == "succeeded" and report.streams[0].updated >= 1
    tickets = {t["source"]["id"]: t for t in store.export("cc-engine", "ticket")}
    assert tickets[returned_id]["status"] == "refunded" and not tickets[returned_id]["deleted"]
    assert tickets[kept_id]["status"] != "refunded"
    again = run_sync(house(sandbox.url, tmp_path, account="returns"), "ticketmatic", store=store, streams=["orders"])
    assert again.streams[0].updated == 0  # retiring is idempotent


def test_any_exception_of_one_record_is_its_dead_letter_with_a_redacted_reason() -> None:
    """A hook that crashes on a wrong type costs its record only; the reason names the exception class
    and never carries a secret (a vendor that echoes the key into a record)."""
    from podium.engine import PageProcessor
    from podium.mapping import MappingContext, compile_mapping
    from podium.sdk.connector import Page
    from podium.secrets import register_secret

    register_secret("engine-test-secret-3141")
    mapping = compile_mapping({"entity": "event", "source_id": "id",
                               "fields": {"title.nl": "name", "calendar": {"value": "single"},
                                          "start": {"path": "start", "transform": "local_datetime"}}},
                              "acme", "events")
    ctx = MappingContext(house="h", system="acme")
    page = Page(records=[{"id": 1, "name": "Hamlet", "start": "2026-05-01 20:00"},
                         {"id": 2, "name": "Macbeth", "start": {"engine-test-secret-3141": 1}},
                         {"id": 3, "name": "Lear", "start": "2026-05-02 20:00", "deep": _nested(300)},
                         {"id": 4, "name": "Othello", "start": "2026-05-03 20:00"}], state={})
    result = PageProcessor(mapping, ctx, "event", "id").process(page)
    assert sorted(r.source_id for r in result.records) == ["1", "4"]
    reasons = {d.source_id: d.reason for d in result.dead}
    assert set(reasons) == {"2", "3"}
    assert "engine-test-secret-3141" not in reasons["2"] and "***" in reasons["2"]
    assert reasons["3"] == "invalid canonical record: TypeError: Recursion limit reached"  # orjson: 255 levels


def _nested(levels: int) -> object:
    node: object = "bottom"
    for _ in range(levels):
        node = [node]
    return node
