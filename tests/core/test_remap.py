"""``podium remap``: after a mapping fix, the archived pages are mapped again into the store — with the
vendor gone and no credentials, the cursor where it was, records the mapping drops left and counted,
idempotent, and never beside a sync of the same house × connector."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.ticketmatic.connector import TicketmaticConnector
from connectors.ticketmatic.sandbox import TicketmaticSandbox
from podium.archive import Archive
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import run_sync
from podium.errors import ConfigError
from podium.mapping import MappingContext
from podium.paths import MAPPINGS_DIR
from podium.remap import run_remap
from podium.store import Store

KEY, SECRET = "PODIUM_CC_REMAP__TM_KEY", "PODIUM_CC_REMAP__TM_SECRET"
HOUSE_YAML = """\
house: cc-remap
name: CC Remap
kind: cultuurcentrum
connectors:
  ticketmatic:
    settings: {{account: remap, base_url: "{url}", page_size: 10}}
    credentials: {{env: {{access_key: {key}, secret_key: {secret}}}}}
"""


def drop_even_events(raw: dict[str, Any], ctx: MappingContext) -> list[dict[str, Any]]:
    """A ``pre`` hook for the events mapping: a 'fix' after which even-numbered events are no longer mapped."""
    return [] if int(raw.get("id", 1)) % 2 == 0 else [raw]


def house(url: str, tmp_path: Path) -> HouseConfig:
    return HouseConfig(key="cc-remap", name="CC Remap", kind="cultuurcentrum", timezone="Europe/Brussels",
                       path=tmp_path / "cc-remap.yaml",
                       connectors={"ticketmatic": ConnectorConfig(
                           "ticketmatic", True, None, None, {"account": "remap", "base_url": url, "page_size": 10},
                           {"env": {"access_key": KEY, "secret_key": SECRET}})})


def synced(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[HouseConfig, Archive, int]:
    """Two syncs (a first and a full re-read) from the sandbox, which is then stopped, and the credentials
    unset; from here on any vendor call would fail. Returns the house, the archive and the tickets."""
    monkeypatch.setenv(KEY, "sandbox-access-key")
    monkeypatch.setenv(SECRET, "sandbox-secret-key")
    archive = Archive((tmp_path / "archive").as_uri())
    with TicketmaticSandbox(events=30, contacts=60, orders=60) as sandbox:
        config = house(sandbox.url, tmp_path)
        assert run_sync(config, "ticketmatic", store=store, archive=archive).status == "succeeded"
        assert run_sync(config, "ticketmatic", store=store, archive=archive, full_refresh=True).status == "succeeded"
        tickets = sum(len(o["tickets"]) for o in sandbox.data("remap")["orders"])
    monkeypatch.delenv(KEY)
    monkeypatch.delenv(SECRET)
    return config, archive, tickets


def block_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """From now on any Python-level connection attempt fails the test (the stores' drivers do not use
    Python sockets); returns the attempts seen."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"remap tried to reach the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def changed_mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: str, old: str, new: str) -> None:
    folder = tmp_path / "fixed-mappings"
    if not folder.exists():
        shutil.copytree(MAPPINGS_DIR / "ticketmatic", folder)
    path = folder / f"{stream}.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setattr(TicketmaticConnector, "mappings_dir", classmethod(lambda cls: folder))


def states(store: Store) -> dict[str, Any]:
    return {s: store.get_state("cc-remap", "ticketmatic", s) for s in ("events", "contacts", "orders")}


def test_remap_after_a_mapping_fix_updates_the_records_without_the_vendor_and_is_idempotent(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    config, archive, tickets = synced(tmp_path, store, monkeypatch)
    no_network = block_network(monkeypatch)
    before = {r["id"]: r for r in store.export("cc-remap", "ticket")}
    cursors = states(store)
    changed_mappings(tmp_path, monkeypatch, "orders", "seat.zone: {path: tickettypename, transform: trim}",
                     "seat.zone: {path: tickettypename, transform: [trim, upper]}")

    report = run_remap(config, "ticketmatic", store=store, archive=archive, workers=1)

    assert report.status == "succeeded", report.as_dict()
    orders = next(s for s in report.streams if s.stream == "orders")
    after = {r["id"]: r for r in store.export("cc-remap", "ticket")}
    changed = {i for i, r in after.items() if r != before[i]}
    assert set(after) == set(before) and len(after) == tickets
    assert changed and all(after[i]["seat"]["zone"] == before[i]["seat"]["zone"].upper() for i in changed)
    assert orders.updated == len(changed) and orders.inserted == 0 and orders.rejected == 0
    assert orders.pages >= 2 * 6  # every archived page of both syncs, in order
    assert states(store) == cursors  # the cursor never moves on a remap
    assert report.not_reproduced == {"event": 0, "contact": 0, "ticket": 0}
    assert no_network == []

    again = run_remap(config, "ticketmatic", store=store, archive=archive, workers=2)  # and in worker processes
    assert again.status == "succeeded", again.as_dict()
    assert all(s.inserted == s.updated == s.deleted == s.rejected == 0 and s.unchanged for s in again.streams)
    assert {r["id"]: r for r in store.export("cc-remap", "ticket")} == after
    assert states(store) == cursors
    assert {row["trigger"] for row in store.runs(again.run_id)} == {"remap"}


def test_records_the_fixed_mapping_no_longer_produces_stay_and_are_counted(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    config, archive, _ = synced(tmp_path, store, monkeypatch)
    block_network(monkeypatch)
    events = list(store.export("cc-remap", "event"))
    changed_mappings(tmp_path, monkeypatch, "events", "\nsource_id: id\n",
                     "\npre: tests.core.test_remap:drop_even_events\nsource_id: id\n")

    report = run_remap(config, "ticketmatic", store=store, archive=archive, streams=["events"])

    assert report.status == "succeeded", report.as_dict()
    dropped = sum(1 for e in events if int(e["source"]["id"]) % 2 == 0)
    assert dropped and report.not_reproduced == {"event": dropped}
    assert list(store.export("cc-remap", "event")) == events  # left as stored: a mapping change is no tombstone


def test_remap_never_runs_beside_a_sync_of_the_same_house_and_connector(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    config, archive, _ = synced(tmp_path, store, monkeypatch)
    lease = store.try_lock_sync("cc-remap", "ticketmatic", "a-running-sync")
    assert lease is not None
    try:
        report = run_remap(config, "ticketmatic", store=store, archive=archive)
        assert report.status == "already_running"
        assert report.running_elsewhere is not None and report.running_elsewhere.run_id == "a-running-sync"
        assert store.runs(report.run_id) == []  # it did nothing
    finally:
        lease.release()
    assert run_remap(config, "ticketmatic", store=store, archive=archive).status == "succeeded"


def test_a_stream_completed_by_child_requests_is_not_remapped() -> None:
    from connectors.yesplan.connector import YesplanConnector

    with pytest.raises(ConfigError, match="child requests"):
        YesplanConnector.replay_page("events", b'{"data": []}', {})


def test_podium_remap_on_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "PODIUM_DB_URL": f"sqlite:///{tmp_path / 'podium.db'}",
           "PODIUM_ARCHIVE_URL": (tmp_path / "archive").as_uri()}
    house_file = tmp_path / "cc-remap.yaml"
    with TicketmaticSandbox(events=10, contacts=20, orders=20) as sandbox:
        house_file.write_text(HOUSE_YAML.format(url=sandbox.url, key=KEY, secret=SECRET))
        synced_run = subprocess.run([sys.executable, "-m", "podium.cli", "sync", "--house", str(house_file)],
                                    env={**env, KEY: "sandbox-access-key", SECRET: "sandbox-secret-key"},
                                    capture_output=True, text=True, timeout=300)
        assert synced_run.returncode == 0, synced_run.stderr
    remap = [sys.executable, "-m", "podium.cli", "remap", "--house", str(house_file), "--connector", "ticketmatic",
             "--json"]
    done = subprocess.run(remap, env=env, capture_output=True, text=True, timeout=300)  # no vendor, no credentials
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)  # every --json prints one array
    assert report["status"] == "succeeded" and report["changed_entities"] == []
    assert report["streams"]["orders"]["unchanged"] > 0

    store = Store(env["PODIUM_DB_URL"])
    lease = store.try_lock_sync("cc-remap", "ticketmatic", "a-running-sync")
    assert lease is not None
    try:
        busy = subprocess.run(remap, env=env, capture_output=True, text=True, timeout=300)
    finally:
        lease.release()
        store.dispose()
    assert busy.returncode == 4 and "already being synced" in busy.stderr + busy.stdout


def test_a_page_context_that_comes_from_the_settings_is_given_back_on_replay() -> None:
    """Recreatex answers in the language its settings ask for; the archived bytes do not say which."""
    from connectors.recreatex.connector import RecreatexConnector

    data = (Path(__file__).resolve().parents[2] / "connectors" / "recreatex" / "golden"
            / "culture_events.response.input.xml").read_bytes()
    page = RecreatexConnector.replay_page("culture_events", data, {"language": "fr"})
    assert page.records and page.context.language == "fr"
    assert RecreatexConnector.replay_page("culture_events", data, {}).context.language == "nl"


def test_the_produced_ids_are_counted_once_each_in_bounded_memory() -> None:
    """A remap replays every run's pages, so ids come again and again; past ``limit`` they go to sorted
    temporary files and are counted by merging them."""
    from podium.remap import DistinctIds

    ids = DistinctIds(limit=4)
    try:
        for page in (["c", "a", "b"], ["a", "d", "e"], ["b", "c", "f", "g"], ["g", "a"]):
            ids.update(page)
        assert len(ids._runs) >= 2  # spilled
        assert len(ids) == 7
        assert len(ids) == 7  # counting again reads the runs from their start
    finally:
        ids.close()
    small = DistinctIds()
    small.update(["x", "y", "x"])
    assert len(small) == 2 and not small._runs
