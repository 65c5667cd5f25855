"""A no-change re-read does not map raw records whose raw hash is unchanged; a mapping change (or
a changed raw record) maps them again. On SQLite and PostgreSQL, against the Ticketmatic sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.ticketmatic.connector import TicketmaticConnector
from connectors.ticketmatic.sandbox import TicketmaticSandbox
from podium import engine
from podium.engine import run_sync
from podium.errors import VendorDownError
from podium.mapping import CompiledMapping
from podium.store import Store
from podium.store.source_hashes import RawSplit
from tests.core.test_engine import house


@pytest.fixture(scope="module")
def sandbox() -> Iterator[TicketmaticSandbox]:
    with TicketmaticSandbox(events=12, contacts=40, orders=60) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_CC_ENGINE__TM_KEY", "sandbox-access-key")
    monkeypatch.setenv("PODIUM_CC_ENGINE__TM_SECRET", "sandbox-secret-key")


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Raw records mapped, per stream (every call of a compiled mapping)."""
    calls: dict[str, int] = {}
    original = CompiledMapping.map

    def counting(self: CompiledMapping, raw: dict[str, Any], ctx: Any) -> Any:
        calls[self.stream] = calls.get(self.stream, 0) + 1
        return original(self, raw, ctx)

    monkeypatch.setattr(CompiledMapping, "map", counting)
    return calls


def _mappings(tmp_path: Path, name: str, edit: str = "") -> Path:
    """A copy of the Ticketmatic mappings (a new folder is a new mapping to the process's cache)."""
    folder = tmp_path / name
    shutil.copytree(TicketmaticConnector.mappings_dir(), folder)
    if edit:
        orders = folder / "orders.yaml"
        orders.write_text(orders.read_text(encoding="utf-8") + edit, encoding="utf-8")
    return folder


def test_a_no_change_reread_maps_nothing_and_a_mapping_change_maps_again(
        sandbox: TicketmaticSandbox, store: Store, tmp_path: Path, mapped: dict[str, int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = house(sandbox.url, tmp_path, account="rawskip")
    orders = len(sandbox.data("rawskip")["orders"])
    tickets = sum(len(o["tickets"]) for o in sandbox.data("rawskip")["orders"])
    v1, v2 = _mappings(tmp_path, "v1"), _mappings(tmp_path, "v2", "\n# reviewed\n")
    monkeypatch.setattr(TicketmaticConnector, "mappings_dir", classmethod(lambda cls: v1))

    first = run_sync(config, "ticketmatic", store=store, streams=["orders"])
    assert first.status == "succeeded" and mapped["orders"] == orders
    stored = list(store.export("cc-engine"))

    mapped.clear()
    reread = run_sync(config, "ticketmatic", store=store, streams=["orders"], full_refresh=True)
    (stream,) = reread.streams
    assert mapped.get("orders", 0) == 0, "unchanged raw records were mapped again"
    assert (stream.read, stream.unchanged, stream.inserted, stream.updated) == (orders, tickets, 0, 0)
    assert list(store.export("cc-engine")) == stored

    # Another mapping (here: only a comment added): every raw record is mapped again, once.
    monkeypatch.setattr(TicketmaticConnector, "mappings_dir", classmethod(lambda cls: v2))
    mapped.clear()
    remapped = run_sync(config, "ticketmatic", store=store, streams=["orders"], full_refresh=True)
    assert mapped["orders"] == orders and remapped.streams[0].unchanged == tickets
    mapped.clear()
    run_sync(config, "ticketmatic", store=store, streams=["orders"], full_refresh=True)
    assert mapped.get("orders", 0) == 0


def test_a_changed_raw_record_is_mapped_again_and_its_change_stored(
        sandbox: TicketmaticSandbox, store: Store, tmp_path: Path, mapped: dict[str, int]) -> None:
    import time as _time

    from connectors.ticketmatic import sandbox as tm_sandbox

    config = house(sandbox.url, tmp_path, account="rawchange")
    run_sync(config, "ticketmatic", store=store, streams=["orders"])
    order = next(o for o in sandbox.data("rawchange")["orders"] if len(o["tickets"]) >= 2)
    returned = str(order["tickets"][-1]["id"])
    _time.sleep(1.1)  # lastupdatets has one-second resolution
    with sandbox._data_lock:
        tm_sandbox._return_ticket(order, tm_sandbox._now())
    mapped.clear()
    report = run_sync(config, "ticketmatic", store=store, streams=["orders"], full_refresh=True)
    assert mapped["orders"] == 1  # only the changed order
    assert report.streams[0].updated >= 1
    tickets = {t["source"]["id"]: t for t in store.export("cc-engine", "ticket")}
    assert tickets[returned]["status"] == "refunded"


def test_a_rejected_raw_record_keeps_no_hash() -> None:
    """Its dead letter must be seen again on the next read, so it is always mapped."""
    from podium.store import DeadLetter

    split = RawSplit(todo=[], hashes={"1": "a", "2": "b"})
    assert split.to_store([DeadLetter("bad", raw={"orderid": 2, "x": 1})], "orderid") == {"1": "a"}


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pages each page transaction of a sync committed (``commit_page``'s ``pages``), in order."""
    seen: list[int] = []
    original = Store.commit_page

    def counting(self: Store, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("pages", 1))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "commit_page", counting)
    return seen


@pytest.mark.parametrize("hold_seconds", [3600.0, 0.0], ids=["held", "one-by-one"])
def test_the_unchanged_pages_of_a_reread_commit_together_with_every_count_and_the_last_state(
        sandbox: TicketmaticSandbox, store: Store, tmp_path: Path, commits: list[int], hold_seconds: float,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = house(sandbox.url, tmp_path, account="heldpages")  # 25 orders a page: 3 pages
    orders = len(sandbox.data("heldpages")["orders"])
    first = run_sync(config, "ticketmatic", store=store, streams=["orders"])
    assert first.status == "succeeded" and commits == [1, 1, 1]
    state = store.get_state("cc-engine", "ticketmatic", "orders")
    stored = list(store.export("cc-engine"))

    monkeypatch.setattr(engine, "PROGRESS_COMMIT_SECONDS", hold_seconds)
    commits.clear()
    shown: list[tuple[int, int]] = []
    reread = run_sync(config, "ticketmatic", store=store, streams=["orders"], full_refresh=True,
                      progress=lambda stream, report: shown.append((report.pages, report.read)))
    # Held: one transaction for the three pages; due at once: each page commits as it comes.
    assert commits == ([3] if hold_seconds else [1, 1, 1])
    assert shown == [(1, 25), (2, 50), (3, orders)]  # progress page by page either way
    (stream,) = reread.streams
    assert (stream.status, stream.pages, stream.read) == ("succeeded", 3, orders)
    (row,) = store.runs(reread.run_id)
    assert (row["pages"], row["read"], row["unchanged"], row["inserted"]) == (3, orders, stream.unchanged, 0)
    assert store.get_state("cc-engine", "ticketmatic", "orders") == state
    assert list(store.export("cc-engine")) == stored


def test_a_read_that_fails_after_unchanged_pages_commits_them_and_their_state(
        sandbox: TicketmaticSandbox, store: Store, tmp_path: Path, commits: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The state moves to the last page read before the failure, as if each page had committed alone."""
    config = house(sandbox.url, tmp_path, account="heldfail")
    run_sync(config, "ticketmatic", store=store, streams=["orders"])
    monkeypatch.setattr(engine, "PROGRESS_COMMIT_SECONDS", 3600.0)
    read = TicketmaticConnector.read
    states: list[Any] = []

    def two_pages_then_down(self: TicketmaticConnector, stream: str, state: Any) -> Iterator[Any]:
        for page in read(self, stream, state):
            if len(states) == 2:
                raise VendorDownError("vendor down after two pages")
            states.append(page.state)
            yield page

    monkeypatch.setattr(TicketmaticConnector, "read", two_pages_then_down)
    commits.clear()
    reread = run_sync(config, "ticketmatic", store=store, streams=["orders"], full_refresh=True)
    (stream,) = reread.streams
    assert (stream.status, stream.error_class, stream.pages, stream.read) == ("failed", "vendor_down", 2, 50)
    assert commits == [2]
    assert store.get_state("cc-engine", "ticketmatic", "orders") == states[1] != states[0]
    (row,) = store.runs(reread.run_id)
    assert (row["status"], row["pages"], row["read"]) == ("failed", 2, 50)
