"""The writer commits behind the reading thread: page N commits (one transaction with its state) in a
thread of its own while page N+1 is read and mapped. Pages still commit strictly in order; a failed
commit commits no later page and leaves the state of the last committed one (the next sync resumes
there); a failed read still commits the pages read before it; progress and counts stay exact; and a
page split before an earlier page committed never skips a record by the hash stored before it."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.ticketmatic.connector import TicketmaticConnector
from connectors.ticketmatic.sandbox import TicketmaticSandbox
from podium.archive import Archive
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import run_sync
from podium.pipeline import CommitBehind
from podium.store import Store

PAGE_SIZE = 7


@pytest.fixture(scope="module")
def sandbox() -> Iterator[TicketmaticSandbox]:
    with TicketmaticSandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_CC_BEHIND__TM_KEY", "sandbox-access-key")
    monkeypatch.setenv("PODIUM_CC_BEHIND__TM_SECRET", "sandbox-secret-key")


def house(url: str, tmp_path: Path) -> HouseConfig:
    return HouseConfig(key="cc-behind", name="CC Behind", kind="cultuurcentrum", timezone="Europe/Brussels",
                       path=tmp_path / "cc-behind.yaml",
                       connectors={"ticketmatic": ConnectorConfig(
                           "ticketmatic", True, None, None,
                           {"account": "behind", "base_url": url, "page_size": PAGE_SIZE},
                           {"env": {"access_key": "PODIUM_CC_BEHIND__TM_KEY",
                                    "secret_key": "PODIUM_CC_BEHIND__TM_SECRET"}})})


def committed_pages(store: Store, run_id: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("select coalesce(sum(pages), 0) from sync_runs where run_id = :run"),
                                {"run": run_id}).scalar_one())


def reference_export(url: str, tmp_path: Path) -> list[dict[str, Any]]:
    """What an uninterrupted sync of the orders stores."""
    reference = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    reference.migrate()
    assert run_sync(house(url, tmp_path), "ticketmatic", store=reference, streams=["orders"]).status == "succeeded"
    exported = list(reference.export())
    reference.dispose()
    return exported


# -- the writer itself -------------------------------------------------------------------------------
def test_pages_commit_in_the_order_handed_over_with_at_most_depth_waiting() -> None:
    committed: list[int] = []
    handed: list[int] = []

    def commit(page: int) -> None:
        assert len(handed) - len(committed) <= 2, "more pages waiting than the depth allows"
        time.sleep(0.001 * (page % 3))
        committed.append(page)

    with CommitBehind(commit, depth=2) as writer:
        for page in range(40):
            writer.put(page)
            handed.append(page)
    assert committed == list(range(40))


def test_a_failed_commit_commits_no_later_page_and_is_raised_in_the_callers_thread() -> None:
    committed: list[int] = []

    def commit(page: int) -> None:
        if page == 3:
            raise RuntimeError("the database went away")
        committed.append(page)

    handed = 0
    with pytest.raises(RuntimeError, match="went away"), CommitBehind(commit, depth=2) as writer:
        for page in range(40):
            writer.put(page)
            handed += 1
    assert committed == [0, 1, 2]
    assert handed < 40  # the caller stopped handing out pages (and so stopped mapping them)


def test_the_callers_failure_commits_the_pages_handed_over_before_it() -> None:
    committed: list[int] = []
    with pytest.raises(ValueError, match="read failed"), CommitBehind(committed.append) as writer:
        writer.put(0)
        writer.put(1)
        raise ValueError("read failed")
    assert committed == [0, 1]


def test_a_commit_that_failed_before_the_callers_failure_is_the_one_raised() -> None:
    def commit(page: int) -> None:
        raise RuntimeError(f"commit of page {page} failed")

    with pytest.raises(RuntimeError, match="page 0") as failure, CommitBehind(commit) as writer:
        writer.put(0)
        time.sleep(0.05)
        raise ValueError("read failed")
    assert isinstance(failure.value.__context__, ValueError)


def test_without_a_thread_pages_commit_in_the_callers_thread() -> None:
    threads: list[int] = []
    with CommitBehind(lambda _: threads.append(threading.get_ident()), threaded=False) as writer:
        writer.put(0)
        assert threads == [threading.get_ident()]


# -- the engine with the writer ----------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_commit_stores_no_later_page_and_the_next_sync_resumes_after_the_last_committed(
        sandbox: TicketmaticSandbox, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        workers: int) -> None:
    expected = reference_export(sandbox.url, tmp_path)
    original = Store.commit_page
    tried: list[int] = []

    def failing(self: Store, *args: Any, **kwargs: Any) -> Any:
        tried.append(len(tried))
        if len(tried) == 4:
            raise RuntimeError("the database went away")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "commit_page", failing)
    report = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, streams=["orders"],
                      workers=workers)
    assert report.status == "failed" and report.first_error()[1] == "internal"
    assert len(tried) == 4, "a page after the failed one was committed"
    assert report.streams[0].pages == 3 == committed_pages(store, report.run_id)
    state = store.get_state("cc-behind", "ticketmatic", "orders")
    assert state is not None and state["resume"]["params"]["offset"] == 3 * PAGE_SIZE
    assert store.count_records("cc-behind", "ticket") == report.streams[0].inserted + report.streams[0].deleted

    monkeypatch.setattr(Store, "commit_page", original)
    again = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, streams=["orders"], workers=workers)
    assert again.status == "succeeded", again.as_dict()
    assert list(store.export()) == expected


def test_progress_follows_every_commit_in_order_with_its_counts(sandbox: TicketmaticSandbox, store: Store,
                                                               tmp_path: Path) -> None:
    seen: list[tuple[str, int, int, int]] = []
    report = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store,
                      progress=lambda stream, r: seen.append((stream, r.pages, r.read, r.inserted)))
    assert report.status == "succeeded", report.as_dict()
    for stream in report.streams:
        calls = [call[1:] for call in seen if call[0] == stream.stream]
        assert [pages for pages, _, _ in calls] == list(range(1, stream.pages + 1))
        assert calls[-1] == (stream.pages, stream.read, stream.inserted)
        assert [read for _, read, _ in calls] == sorted(read for _, read, _ in calls)
    orders = next(s for s in report.streams if s.stream == "orders")
    assert orders.pages >= 5 and committed_pages(store, report.run_id) == sum(s.pages for s in report.streams)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_record_served_changed_then_as_before_on_the_next_page_ends_as_served_last(
        sandbox: TicketmaticSandbox, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        workers: int) -> None:
    """Page 0 serves an order changed, page 1 serves it again as it was: page 1 is split (its raw
    hashes compared with the stored ones) while page 0 still waits for its commit (the writer commits
    behind; worker processes map pages read ahead). The order must be mapped again, not skipped as
    "unchanged since stored" by the hash page 0 is about to replace."""
    archive = Archive((tmp_path / "archive").as_uri())
    first = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, archive=archive, streams=["orders"])
    assert first.status == "succeeded"
    before = list(store.export())

    read = TicketmaticConnector.read

    def served_twice(self: TicketmaticConnector, stream: str, state: Any) -> Iterator[Any]:
        kept: Any = None
        for number, page in enumerate(read(self, stream, state)):
            if number == 0:
                kept = copy.deepcopy(page.records[0])
                changed = copy.deepcopy(kept)
                changed["tickets"][0]["price"] += 1
                page = replace(page, records=[changed, *page.records[1:]])
            elif number == 1:
                page = replace(page, records=[*page.records, kept])
            yield page

    commit_page = Store.commit_page

    def slow_first_commit(self: Store, run: Any, *args: Any, **kwargs: Any) -> Any:
        if run.counts.read == 0:  # page 0: page 1 is read and split meanwhile
            time.sleep(0.5)
        return commit_page(self, run, *args, **kwargs)

    monkeypatch.setattr(TicketmaticConnector, "read", served_twice)
    monkeypatch.setattr(Store, "commit_page", slow_first_commit)
    again = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, archive=archive, streams=["orders"],
                     full_refresh=True, workers=workers)
    assert again.status == "succeeded", again.as_dict()
    orders = again.streams[0]
    assert orders.updated == 2, "the changed ticket is stored on page 0 and stored back on page 1"
    assert list(store.export()) == before


def test_an_in_memory_sqlite_store_is_committed_from_the_reading_thread(sandbox: TicketmaticSandbox,
                                                                         tmp_path: Path) -> None:
    """Each thread would get a database of its own: the pages commit where they are read."""
    store = Store("sqlite:///:memory:")
    store.migrate()
    report = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, streams=["orders"])
    assert report.status == "succeeded", report.as_dict()
    assert store.count_records("cc-behind", "ticket") == report.streams[0].inserted > 0
    store.dispose()
