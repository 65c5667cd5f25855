"""Pages mapped in worker processes, committed in order by one writer: the store ends exactly as the
single-process sync leaves it (records, dead letters, states, counts), on SQLite and PostgreSQL; a
mapping exception in a worker is one dead letter; a worker that dies loses and reorders nothing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from connectors.ticketmatic.connector import TicketmaticConnector
from connectors.ticketmatic.sandbox import TicketmaticSandbox
from podium.archive import Archive
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import SyncReport, run_sync
from podium.errors import ConfigError
from podium.mapping import MappingContext
from podium.paths import MAPPINGS_DIR
from podium.pipeline import PagePipeline, workers_setting
from podium.store import Store

POISON_ENV = "PODIUM_TEST_POISON_ORDERS"  # order ids whose mapping raises (read by the worker processes too)
CRASH_ENV = "PODIUM_TEST_CRASH_MARKER"  # a file: the first worker to map a poisoned order dies, once


def poison_pre(raw: dict[str, Any], ctx: MappingContext) -> list[dict[str, Any]]:
    """The orders mapping's ``pre`` hook in these tests: raises (or kills its process once) on chosen orders."""
    if str(raw.get("orderid")) in os.environ.get(POISON_ENV, "").split(","):
        marker = os.environ.get(CRASH_ENV)
        if marker and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()))
            os._exit(3)  # a worker killed mid-page (out of memory, a segfault in a C extension)
        raise RuntimeError(f"poisoned order {raw.get('orderid')}")
    return [raw]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[TicketmaticSandbox]:
    with TicketmaticSandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_CC_PARALLEL__TM_KEY", "sandbox-access-key")
    monkeypatch.setenv("PODIUM_CC_PARALLEL__TM_SECRET", "sandbox-secret-key")


@pytest.fixture
def poisoned_mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: TicketmaticSandbox) -> list[str]:
    """Today's Ticketmatic mappings, the orders one with the poison hook; two orders are poisoned."""
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR / "ticketmatic", folder)
    orders = folder / "orders.yaml"
    orders.write_text(orders.read_text(encoding="utf-8").replace(
        "\neach: tickets\n", "\npre: tests.core.test_parallel_sync:poison_pre\neach: tickets\n", 1), encoding="utf-8")
    monkeypatch.setattr(TicketmaticConnector, "mappings_dir", classmethod(lambda cls: folder))
    poisoned = [str(o["orderid"]) for o in sandbox.data("parallel")["orders"][3:40:30]]
    monkeypatch.setenv(POISON_ENV, ",".join(poisoned))
    return poisoned


def house(url: str, tmp_path: Path) -> HouseConfig:
    return HouseConfig(key="cc-parallel", name="CC Parallel", kind="cultuurcentrum", timezone="Europe/Brussels",
                       path=tmp_path / "cc-parallel.yaml",
                       connectors={"ticketmatic": ConnectorConfig(
                           "ticketmatic", True, None, None, {"account": "parallel", "base_url": url, "page_size": 7},
                           {"env": {"access_key": "PODIUM_CC_PARALLEL__TM_KEY",
                                    "secret_key": "PODIUM_CC_PARALLEL__TM_SECRET"}})})


def snapshot(store: Store, report: SyncReport) -> dict[str, Any]:
    """What a user sees of a sync: records, dead letters, states and the run's counts (ids and times aside)."""
    with store.engine.connect() as conn:
        states = sorted(conn.execute(sa.text("select stream, state from sync_state")).all())
        dead = sorted(conn.execute(sa.text(
            "select stream, source_id, reason, raw, status, seen_count from dead_letters")).all())
        runs = sorted(conn.execute(sa.text(
            "select stream, status, pages, read, inserted, updated, unchanged, rejected, deleted from sync_runs "
            "where run_id = :run"), {"run": report.run_id}).all())
    return {"records": list(store.export()), "states": [tuple(s) for s in states], "dead": [tuple(d) for d in dead],
            "runs": [tuple(r) for r in runs]}


def sync_twice(url: str, tmp_path: Path, store: Store, workers: int, name: str) -> dict[str, Any]:
    """A first sync, then a full re-read (every record seen again): the snapshot after each."""
    archive = Archive((tmp_path / f"archive-{name}").as_uri())
    first = run_sync(house(url, tmp_path), "ticketmatic", store=store, archive=archive, workers=workers)
    after_first = snapshot(store, first)
    again = run_sync(house(url, tmp_path), "ticketmatic", store=store, archive=archive, workers=workers,
                     full_refresh=True)
    return {"first": after_first, "reread": snapshot(store, again), "status": (first.status, again.status)}


@pytest.mark.parametrize("maps_here", [True, False], ids=["syncing-process-maps-too", "workers-map-all"])
def test_parallel_sync_stores_exactly_what_the_single_process_sync_stores(
        sandbox: TicketmaticSandbox, store: Store, tmp_path: Path, poisoned_mappings: list[str],
        monkeypatch: pytest.MonkeyPatch, maps_here: bool) -> None:
    monkeypatch.setattr(PagePipeline, "maps_here", maps_here)
    reference_store = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    reference_store.migrate()
    reference = sync_twice(sandbox.url, tmp_path, reference_store, 1, "single")
    reference_store.dispose()
    parallel = sync_twice(sandbox.url, tmp_path, store, 2, "parallel")

    assert reference["status"] == ("succeeded_with_rejections", "succeeded_with_rejections")
    orders = next(r for r in reference["first"]["runs"] if r[0] == "orders")
    assert orders[2] >= 10, f"too few pages to have several in flight: {orders}"
    assert parallel == reference
    # Each poisoned order is one open dead letter naming the exception; every other ticket is stored.
    letters = [d for d in parallel["reread"]["dead"] if d[0] == "orders"]
    assert sorted(d[1] for d in letters) == sorted(poisoned_mappings)
    assert all("RuntimeError: poisoned order" in d[2] and d[4] == "open" and d[5] == 2 for d in letters)
    tickets = sum(len(o["tickets"]) for o in sandbox.data("parallel")["orders"]
                  if str(o["orderid"]) not in poisoned_mappings)
    assert sum(1 for r in parallel["reread"]["records"] if r["source"]["system"] == "ticketmatic"
               and "order_id" in r) == tickets


def test_a_worker_that_dies_loses_and_reorders_no_page(sandbox: TicketmaticSandbox, tmp_path: Path,
                                                       poisoned_mappings: list[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    reference_store = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    reference_store.migrate()
    run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=reference_store, workers=1, streams=["orders"])
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, str(marker))
    monkeypatch.setattr(PagePipeline, "maps_here", False)  # the poisoned page must be a worker's, not this process's
    crashed_store = Store(f"sqlite:///{tmp_path / 'crashed.db'}")
    crashed_store.migrate()
    report = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=crashed_store, workers=2,
                      streams=["orders"])
    assert marker.exists(), "no worker died: the test did not test anything"
    assert report.status == "succeeded_with_rejections", report.as_dict()
    assert list(crashed_store.export()) == list(reference_store.export())
    assert crashed_store.get_state("cc-parallel", "ticketmatic", "orders") == \
        reference_store.get_state("cc-parallel", "ticketmatic", "orders")
    assert len(crashed_store.dead_letters(house="cc-parallel")) == len(poisoned_mappings)


def test_the_workers_setting() -> None:
    assert workers_setting(None) == 1
    assert workers_setting(3) == workers_setting("3") == 3
    assert workers_setting("auto") == max(1, min(os.cpu_count() or 1, 64))
    for wrong in (0, "many", 65):
        with pytest.raises(ConfigError, match="workers"):
            workers_setting(wrong)


def test_the_workers_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_SYNC_WORKERS", "2")
    assert workers_setting(None) == 2 and workers_setting(1) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_read_that_fails_mid_stream_still_commits_every_page_read_before_it(
        sandbox: TicketmaticSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """With workers, pages are read ahead; when the vendor fails, those already read are committed
    before the stream fails, exactly as in process — the next sync resumes after them."""
    from podium.errors import VendorDownError

    original = TicketmaticConnector.read

    def failing(self: TicketmaticConnector, stream: str, state: Any) -> Iterator[Any]:
        for number, page in enumerate(original(self, stream, state)):
            if number == 5:
                raise VendorDownError("the vendor went away")
            yield page

    monkeypatch.setattr(TicketmaticConnector, "read", failing)
    store = Store(f"sqlite:///{tmp_path / 'podium.db'}")
    store.migrate()
    report = run_sync(house(sandbox.url, tmp_path), "ticketmatic", store=store, workers=workers, streams=["orders"])
    assert report.status == "failed" and report.first_error()[1] == "vendor_down"
    assert report.streams[0].pages == 5
    state = store.get_state("cc-parallel", "ticketmatic", "orders")
    assert state is not None and state["resume"]["params"]["offset"] == 5 * 7


def test_a_house_sets_the_workers_of_a_connector(tmp_path: Path) -> None:
    from podium.config import parse_house

    def connector(workers: Any) -> dict[str, Any]:
        return {"house": "cc-parallel", "name": "CC Parallel", "kind": "cultuurcentrum", "connectors": {
            "ticketmatic": {"settings": {"account": "parallel"}, "workers": workers, "credentials": {"env": {
                "access_key": "PODIUM_CC_PARALLEL__TM_KEY", "secret_key": "PODIUM_CC_PARALLEL__TM_SECRET"}}}}}

    path = tmp_path / "cc-parallel.yaml"
    assert parse_house(connector(4), path).connectors["ticketmatic"].workers == 4
    assert parse_house(connector("auto"), path).connectors["ticketmatic"].workers == "auto"
    for wrong in (0, "many"):
        with pytest.raises(ConfigError, match="workers"):
            parse_house(connector(wrong), path)


def test_a_stream_with_nothing_to_map_starts_no_worker_processes() -> None:
    """An incremental re-sync usually reads one empty page: starting spawned workers for it costs seconds."""
    from podium.pipeline import PagePipeline, StreamMapping
    from podium.sdk.connector import Page

    stream = StreamMapping(str(TicketmaticConnector.mappings_dir()), "ticketmatic", "orders", "ticket", "orderid", "h", "Europe/Brussels")
    processor = stream.processor()
    with PagePipeline(2) as pipeline:
        mapped = list(pipeline.run([Page(records=[], state={"cursor": "x"})], stream, processor, lambda *_: None))
        assert pipeline._pool is None
    assert [(m.seq, m.page.state, m.result.read, m.result.records) for m in mapped] == [(0, {"cursor": "x"}, 0, [])]


# -- the pipeline itself: who maps which page -------------------------------------------------------------
def _orders_pipeline_parts(sandbox: TicketmaticSandbox) -> tuple[Any, Any, list[Any]]:
    """The orders stream's mapping (as a worker rebuilds it and as this process runs it) and pages of
    sandbox orders, three per page."""
    from podium.engine import PageProcessor, stream_mapping
    from podium.mapping import load_mapping
    from podium.sdk.connector import Page

    ctx = MappingContext(house="cc-parallel", system="ticketmatic", timezone=ZoneInfo("Europe/Brussels"))
    spec = TicketmaticConnector.stream("orders")
    processor = PageProcessor(load_mapping(TicketmaticConnector.mappings_dir(), "ticketmatic", "orders"), ctx,
                              spec.entity, spec.primary_key)
    orders = sandbox.data("parallel")["orders"]
    pages = [Page(records=orders[i:i + 3], state={"offset": i}) for i in range(0, 60, 3)]
    return stream_mapping(TicketmaticConnector, "orders", ctx), processor, pages


def _as_stored(result: Any) -> tuple[Any, ...]:
    return result.records, result.dead, result.read, result.complete_parents


def test_a_stream_with_one_page_of_records_starts_no_worker(sandbox: TicketmaticSandbox) -> None:
    from podium.sdk.connector import Page

    stream, processor, pages = _orders_pipeline_parts(sandbox)
    served = [Page(records=[], state={}), pages[0], Page(records=[], state={"end": True})]
    with PagePipeline(2) as pipeline:
        mapped = list(pipeline.run(served, stream, processor, lambda seq, page: None))
        assert pipeline._pool is None and pipeline.handed_out == 0 and pipeline.mapped_here == 1
    assert [m.seq for m in mapped] == [0, 1, 2]
    assert [_as_stored(m.result) for m in mapped] == [_as_stored(processor.process(p)) for p in served]


def test_the_syncing_process_maps_while_the_worker_starts_then_hands_pages_out(
        sandbox: TicketmaticSandbox) -> None:
    """workers=2: this process and one spawned worker. The first page with records is mapped here (no
    pool yet), the next ones too while the worker starts; once it is ready it gets pages; every page
    comes back in order, mapped exactly as in process."""
    import time

    stream, processor, pages = _orders_pipeline_parts(sandbox)
    pipeline = PagePipeline(2)
    assert pipeline.spawned == 1

    def served() -> Iterator[Any]:
        for number, page in enumerate(pages):
            if number == 3:  # the pool started at page 1: wait for its worker, as a long sync would
                deadline = time.monotonic() + 120
                while not pipeline.workers_ready() and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert pipeline.workers_ready() == 1
            yield page

    with pipeline:
        mapped = list(pipeline.run(served(), stream, processor, lambda seq, page: f"uri-{seq}"))
        assert pipeline.mapped_here >= 2 and pipeline.handed_out >= 1
        assert pipeline.mapped_here + pipeline.handed_out == len(pages)
    assert [(m.seq, m.archive_uri, m.page.state) for m in mapped] == \
        [(n, f"uri-{n}", p.state) for n, p in enumerate(pages)]
    assert [_as_stored(m.result) for m in mapped] == [_as_stored(processor.process(p)) for p in pages]


def test_a_mapping_worker_imports_neither_the_store_engine_nor_the_http_stack() -> None:
    """What a worker imports (its start is CPU the sync pays per worker): mapping, not SQLAlchemy, Alembic,
    the connector SDK (requests) or the engine."""
    import subprocess
    import sys

    probe = ("import sys, podium.pipeline, podium.processing, podium.mapping\n"
             "print(sorted(m for m in ('sqlalchemy', 'alembic', 'requests', 'podium.sdk', 'podium.engine', "
             "'podium.store.store', 'psutil') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert out.stdout.strip() == "[]"
