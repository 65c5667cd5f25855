"""The store on SQLite and PostgreSQL: upsert by content hash, counts, dead letters, and the
page + state transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from podium.ids import canonical_id
from podium.store import DeadLetter, Store, StoredRecord, content_hash, dumps
from podium.store.tables import sync_runs


def rec(source_id: str, title: str = "Hamlet", deleted: bool = False) -> StoredRecord:
    data: dict[str, Any] = {"id": canonical_id("h", "acme", "event", source_id), "entity": "event", "house": "h",
                            "source": {"system": "acme", "id": source_id}, "deleted": deleted,
                            "title": {"nl": title}, "calendar": "single", "start": "2026-05-01T20:00:00+02:00"}
    raw = dumps(data)
    return StoredRecord(data["id"], "event", "acme", source_id, deleted, None, raw, content_hash(raw))


def test_insert_update_unchanged_deleted_counts(store: Store) -> None:
    run = store.start_stream_run("r1", "h", "acme", "events", "event")
    counts = store.commit_page(run, [rec("1"), rec("2")], [], {"cursor": "a"}, read=2)
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)
    counts = store.commit_page(run, [rec("1"), rec("2", "Macbeth"), rec("3", deleted=True)], [], {"cursor": "b"},
                               read=3)
    assert (counts.inserted, counts.updated, counts.unchanged, counts.deleted) == (0, 1, 1, 1)
    assert store.get_state("h", "acme", "events") == {"cursor": "b"}
    exported = list(store.export(house="h"))
    assert [r["id"] for r in exported] == sorted(r["id"] for r in exported)
    assert {r["source"]["id"]: r["title"]["nl"] for r in exported} == {"1": "Hamlet", "2": "Macbeth", "3": "Hamlet"}
    store.finish_stream_run(run, "succeeded")
    (row,) = store.status("h")
    assert (row["read"], row["inserted"], row["updated"], row["unchanged"], row["deleted"]) == (5, 2, 1, 1, 1)
    assert row["state"] == {"cursor": "b"} and row["status"] == "succeeded"


def test_a_failing_page_commits_nothing_not_even_its_state(store: Store) -> None:
    run = store.start_stream_run("r1", "h", "acme", "events", "event")
    store.commit_page(run, [rec("1")], [], {"cursor": "a"}, read=1)
    broken = rec("2")
    broken.source_id = "x" * 10_000  # too long for the column on PostgreSQL; forced failure on SQLite below
    if store.engine.dialect.name == "sqlite":
        broken = rec("2")
        broken.data = None  # type: ignore[assignment]  # NOT NULL violation inside the transaction
    with pytest.raises(Exception):  # noqa: B017 — any database error
        store.commit_page(run, [rec("9"), broken], [DeadLetter("bad")], {"cursor": "b"}, read=2)
    assert store.get_state("h", "acme", "events") == {"cursor": "a"}
    assert [r["source"]["id"] for r in store.export()] == ["1"]
    assert store.dead_letters() == []


def test_dead_letters_keep_reason_path_and_raw(store: Store) -> None:
    run = store.start_stream_run("r1", "h", "acme", "events", "event")
    store.commit_page(run, [], [DeadLetter("invalid canonical record: /start: not a date-time", "7",
                                           "/properties/start/pattern", "/start", {"id": 7, "start": "gisteren"})],
                      {"cursor": "a"}, read=1, archive_uri="file:///tmp/a/00000.json.gz")
    (letter,) = store.dead_letters(house="h")
    assert letter["source_id"] == "7" and letter["schema_path"] == "/properties/start/pattern"
    assert '"gisteren"' in letter["raw"] and letter["archive_uri"].endswith("00000.json.gz")
    store.mark_dead_letters([letter["id"]], "replayed")
    assert store.dead_letters(house="h") == []


def test_interrupted_runs_are_closed(store: Store) -> None:
    store.start_stream_run("r1", "h", "acme", "events", "event")
    assert store.close_interrupted_runs("h", "acme") == 1
    assert store.status("h")[0]["status"] == "interrupted"


def test_migrate_is_idempotent(store_url: str) -> None:
    for _ in range(2):
        fresh = Store(store_url)
        fresh.migrate()
        fresh.dispose()


def test_children_that_vanish_from_a_reread_parent_are_retired(store: Store) -> None:
    """An event's dates (children of one vendor record): a date removed at the vendor becomes a
    tombstone; a parent with a rejected child retires nothing (the child may only be invalid)."""
    from podium.engine import PageProcessor
    from podium.mapping import MappingContext, compile_mapping
    from podium.sdk.connector import Page

    mapping = compile_mapping({
        "entity": "event", "each": "dates", "source_id": {"path": "id"}, "vanished": "deleted",
        "fields": {"title": {"path": "^.name", "transform": "lang_map"}, "calendar": {"value": "single"},
                   "start": {"path": "start", "transform": "local_datetime"}}}, "acme", "events")
    processor = PageProcessor(mapping, MappingContext("h", "acme"), "event", "uuid")

    def sync(dates: list[dict[str, str]]) -> Any:
        run = store.start_stream_run("r", "h", "acme", "events", "event")
        result = processor.process(Page(records=[{"uuid": "ev-1", "name": "Hamlet", "dates": dates}], state={}))
        return store.commit_page(run, result.records, result.dead, {}, read=1,
                                 complete_parents=result.complete_parents, vanished=mapping.vanished)

    sync([{"id": "ev-1#0", "start": "2026-03-28T20:00"}, {"id": "ev-1#1", "start": "2026-03-29T20:00"}])
    counts = sync([{"id": "ev-1#0", "start": "2026-03-28T20:00"}, {"id": "ev-1#2", "start": "gisteren"}])
    assert counts.deleted == 0 and counts.rejected == 1  # a rejected child: nothing is retired
    counts = sync([{"id": "ev-1#0", "start": "2026-03-28T20:00"}])
    assert (counts.deleted, counts.unchanged) == (1, 1)
    by_id = {r["source"]["id"]: r for r in store.export("h")}
    assert by_id["ev-1#1"]["deleted"] is True and by_id["ev-1#0"]["deleted"] is False
    assert sync([{"id": "ev-1#0", "start": "2026-03-28T20:00"}]).deleted == 0  # idempotent


def test_records_a_complete_read_no_longer_lists_get_the_unlisted_fields(store: Store) -> None:
    """A vendor list without a change filter (a mailing list): what a whole read did not serve is changed
    as the mapping's ``unlisted`` says, once; records of another house or connector are untouched."""
    run = store.start_stream_run("r1", "h", "acme", "events", "event")
    store.commit_page(run, [rec("1"), rec("2"), rec("3")], [], {}, read=3)
    elsewhere = rec("2")
    data = {**json.loads(elsewhere.data), "id": canonical_id("h2", "acme", "event", "2"), "house": "h2"}
    raw = dumps(data)
    elsewhere.id, elsewhere.data, elsewhere.hash = data["id"], raw, content_hash(raw)
    store.commit_page(store.start_stream_run("r1", "h2", "acme", "events", "event"), [elsewhere], [], {}, read=1)
    unlisted = {"status": "cancelled"}
    counts = store.retire_unlisted(store.start_stream_run("r2", "h", "acme", "events", "event"), {"1", "3"},
                                   unlisted)
    assert (counts.updated, counts.deleted) == (1, 0)
    by_id = {(r["house"], r["source"]["id"]): r for r in store.export()}
    assert by_id[("h", "2")]["status"] == "cancelled" and "status" not in by_id[("h", "1")]
    assert "status" not in by_id[("h2", "2")]
    assert store.retire_unlisted(store.start_stream_run("r3", "h", "acme", "events", "event"), {"1", "3"},
                                 unlisted).updated == 0  # already so: nothing written
    gone = store.retire_unlisted(store.start_stream_run("r4", "h", "acme", "events", "event"), {"1"},
                                 {"deleted": True})
    assert (gone.updated, gone.deleted) == (0, 2)


def test_an_unchanged_bad_record_has_one_open_letter_however_often_it_is_seen(store: Store) -> None:
    bad = DeadLetter("mapping: start: not a date-time: 'soon'", source_id="7", raw={"id": 7, "start": "soon"})
    for run_id in ("r1", "r2", "r3"):
        run = store.start_stream_run(run_id, "h", "acme", "events", "event")
        counts = store.commit_page(run, [rec("1")], [bad], None, read=2)
        assert counts.rejected == 1  # rejected counts what this run could not store, seen before or not
    (letter,) = store.dead_letters(house="h", status=None)
    assert letter["status"] == "open" and letter["seen_count"] == 3 and letter["fingerprint"]
    assert store.status("h")[0]["dead_letters_open"] == 1


def test_a_changed_bad_record_supersedes_its_letter_and_a_stored_one_resolves_it(store: Store) -> None:
    run = store.start_stream_run("r1", "h", "acme", "events", "event")
    store.commit_page(run, [], [DeadLetter("bad", source_id="7", raw={"id": 7, "v": 1}),
                                DeadLetter("bad", source_id="8", raw={"id": 8})], None, read=2)
    store.commit_page(run, [], [DeadLetter("still bad", source_id="7", raw={"id": 7, "v": 2})], None, read=1)
    statuses = sorted((x["source_id"], x["status"]) for x in store.dead_letters(house="h", status=None))
    assert statuses == [("7", "open"), ("7", "superseded"), ("8", "open")]
    run = store.start_stream_run("r2", "h", "acme", "events", "event")  # a new run asks the store afresh
    store.commit_page(run, [rec("7")], [], None, read=1)  # the vendor fixed record 7
    statuses = sorted((x["source_id"], x["status"]) for x in store.dead_letters(house="h", status=None))
    assert statuses == [("7", "resolved"), ("7", "superseded"), ("8", "open")]
    (resolved,) = store.dead_letters(house="h", status="resolved")
    assert resolved["closed_at"] is not None


def test_letters_with_unstorable_text_are_kept_escaped(store: Store) -> None:
    """NUL (PostgreSQL refuses it), lone surrogates and deep nesting still make a letter, not a failed page."""
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    run = store.start_stream_run("r1", "h", "acme", "events", "event")
    dead = [DeadLetter("decode: invalid text \x00", source_id="a\x00", raw={"id": "a\x00", "name": "Ham\udcfflet"}),
            DeadLetter("decode: lone surrogate", source_id="b", raw={"id": "b", "name": "\ud83d"}),
            DeadLetter("invalid canonical record: deep", source_id="c", raw={"id": "c", "deep": deep})]
    store.commit_page(run, [rec("1")], dead, {"cursor": "x"}, read=4)
    letters = {x["source_id"]: x for x in store.dead_letters(house="h")}
    assert set(letters) == {"a\\x00", "b", "c"}
    raws = {key: json.loads(letter["raw"]) for key, letter in letters.items()}
    assert raws["a\\x00"] == {"id": "a\\x00", "name": "Ham\\udcfflet"} and raws["b"]["name"] == "\\ud83d"
    assert "nested deeper" in letters["c"]["raw"]
    assert store.get_state("h", "acme", "events") == {"cursor": "x"} and store.count_records("h") == 1


def test_migration_0004_keeps_one_open_letter_per_duplicated_record(store_url: str) -> None:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from podium.store import store as store_module

    old = sa.table("dead_letters", *(sa.column(name) for name in (
        "stream_run_id", "house", "connector", "stream", "source_id", "reason", "raw", "status", "created_at")))

    store = Store(store_url)
    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        now = store_module.now()
        connection.execute(sa.insert(old).values([
            {"stream_run_id": f"s{i}", "house": "h", "connector": "acme", "stream": "events", "source_id": "7",
             "reason": "bad", "raw": '{"id":7}', "status": "open", "created_at": now} for i in range(3)]))
    store.migrate()
    letters = store.dead_letters(house="h", status=None)
    assert sorted(x["status"] for x in letters) == ["duplicate", "duplicate", "open"]
    (kept,) = [x for x in letters if x["status"] == "open"]
    assert kept["seen_count"] == 3 and kept["fingerprint"]
    run = store.start_stream_run("r9", "h", "acme", "events", "event")
    store.commit_page(run, [], [DeadLetter("bad", source_id="7", raw={"id": 7})], None, read=1)
    assert len(store.dead_letters(house="h")) == 1  # the next sync finds the migrated letter
    store.dispose()


def _pid_of_a_finished_process() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_one_sync_lock_per_house_and_connector_across_stores(store_url: str) -> None:
    """Four stores (as four workers would have) race for one lock: exactly one gets it."""
    stores = [Store(store_url) for _ in range(4)]
    stores[0].migrate()
    start = threading.Barrier(len(stores))
    leases: list[Any] = [None] * len(stores)

    def take(n: int) -> None:
        start.wait()
        leases[n] = stores[n].try_lock_sync("h", "acme", f"run-{n}")

    threads = [threading.Thread(target=take, args=(n,)) for n in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        (lease,) = [lease for lease in leases if lease is not None]
        holder = stores[0].sync_lock_holder("h", "acme")
        assert holder is not None and holder.run_id == lease.run_id
        assert holder.owner is not None and holder.owner.endswith(f":{os.getpid()}")
        other = stores[1].try_lock_sync("h", "other-connector", "run-x")
        assert other is not None, "another connector of the house is not blocked"
        other.release()
        assert stores[2].try_lock_sync("h", "acme", "run-y") is None
        lease.release()
        again = stores[3].try_lock_sync("h", "acme", "run-z")
        assert again is not None, "a released lock can be taken"
        again.release()
    finally:
        for store in stores:
            store.dispose()


def test_the_sqlite_lock_of_a_dead_sync_is_taken_over(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'podium.db'}")
    store.migrate()
    assert store.try_lock_sync("h", "acme", "killed-run") is not None  # never released: its process "dies"
    assert store.try_lock_sync("h", "acme", "next-run") is None
    with store.engine.begin() as conn:
        conn.execute(sa.text("update sync_locks set owner_pid = :pid"), {"pid": _pid_of_a_finished_process()})
    lease = store.try_lock_sync("h", "acme", "next-run")
    assert lease is not None
    holder = store.sync_lock_holder("h", "acme")
    assert holder is not None and holder.run_id == "next-run"
    lease.release()
    assert store.sync_lock_holder("h", "acme") is None
    store.dispose()


def test_a_running_run_reads_interrupted_once_its_owner_is_gone(store: Store) -> None:
    store.start_stream_run("r1", "h", "acme", "events", "event")
    (row,) = store.status("h")
    assert row["status"] == "running" and row["owner"].endswith(f":{os.getpid()}")

    def owner(**values: Any) -> str:
        with store.engine.begin() as conn:
            conn.execute(sa.update(sync_runs).values(**values))
        (row,) = store.status("h")
        return str(row["status"])

    dead = _pid_of_a_finished_process()
    assert owner(owner_pid=dead) == "interrupted"  # same host, pid gone: known at once
    assert f":{dead} stopped before finishing" in store.status("h")[0]["error"]
    now = datetime.now(UTC)
    assert owner(owner_host="another-worker", heartbeat_at=now) == "running"  # can't see it: trust the beat
    assert owner(heartbeat_at=now - timedelta(hours=1)) == "interrupted"


def test_a_held_lock_beats_a_heartbeat_while_the_sync_waits(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long page fetch commits nothing for a while: the background beat still shows the run alive."""
    from podium.store import locks

    monkeypatch.setattr(locks, "HEARTBEAT_EVERY", timedelta(milliseconds=20))
    lease = store.try_lock_sync("h", "acme", "r1")
    assert lease is not None
    store.start_stream_run("r1", "h", "acme", "events", "event")

    def heartbeats() -> tuple[Any, Any]:
        with store.engine.connect() as conn:
            return (conn.execute(sa.text("select heartbeat_at from sync_runs")).scalar_one(),
                    conn.execute(sa.text("select heartbeat_at from sync_locks")).scalar_one())

    first = heartbeats()
    with lease:
        for _ in range(6000):  # a hang guard (a minute), not a speed assertion
            now = heartbeats()
            if now[0] != first[0] and now[1] != first[1]:
                break
            threading.Event().wait(0.01)
        assert now[0] > first[0] and now[1] > first[1], "no heartbeat while the lock was held"
    assert store.sync_lock_holder("h", "acme") is None


def _rows(store: Store) -> list[dict[str, Any]]:
    """Every stored row of the records table, by key (what the store holds, beyond the export)."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select house, source_system, entity, source_id, id, content_hash, data, deleted, modified, parent_key,"
            " first_run_id, last_run_id, updated_at, revision from canonical_records"
            " order by house, source_system, entity, source_id")).mappings()
        return [dict(row) for row in rows]


def test_an_unchanged_page_writes_nothing_and_counts_nothing_changed(store: Store) -> None:
    first = store.start_stream_run("run-1", "h", "acme", "events", "event")
    store.commit_page(first, [rec("1"), rec("2")], [], {"cursor": "a"}, read=2)
    before = _rows(store)
    again = store.start_stream_run("run-2", "h", "acme", "events", "event")
    counts = store.commit_page(again, [rec("1"), rec("2")], [], {"cursor": "b"}, read=2)
    assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (0, 0, 0, 2)
    assert _rows(store) == before  # not rewritten: still the first run's, first revision, same time
    assert {row["last_run_id"] for row in before} == {"run-1"} and {row["revision"] for row in before} == {1}
    assert store.get_state("h", "acme", "events") == {"cursor": "b"}  # the page's state is committed


def test_a_changed_record_is_updated_in_place(store: Store) -> None:
    first = store.start_stream_run("run-1", "h", "acme", "events", "event")
    store.commit_page(first, [rec("1"), rec("2")], [], None, read=2)
    second = store.start_stream_run("run-2", "h", "acme", "events", "event")
    counts = store.commit_page(second, [rec("1", "Macbeth"), rec("2")], [], None, read=2)
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
    rows = {row["source_id"]: row for row in _rows(store)}
    assert len(rows) == 2
    assert orjson_loads(rows["1"]["data"])["title"] == {"nl": "Macbeth"}
    assert (rows["1"]["first_run_id"], rows["1"]["last_run_id"], rows["1"]["revision"]) == ("run-1", "run-2", 2)
    assert (rows["2"]["last_run_id"], rows["2"]["revision"]) == ("run-1", 1)
    assert store.get_record(rec("1").id)["title"] == {"nl": "Macbeth"}  # type: ignore[index]


def test_rows_stored_by_another_writer_after_the_lookup_are_upserted_not_lost(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL COPies the rows its look-up found absent; a key stored meanwhile (by a writer the sync
    lock should have kept out) rolls the page back and writes it again by upserts: same counts, rows, state."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the COPY of new rows is PostgreSQL's")
    from podium.store import store as store_module

    first = store.start_stream_run("run-1", "h", "acme", "events", "event")
    store.commit_page(first, [rec("1"), rec("2")], [], {"cursor": "a"}, read=2, source_hashes={"1": "x", "2": "y"})
    # Every look-up answers "nothing stored yet", as it would have just before another writer committed.
    look_up = store_module._PostgresPageWriter.begin_page

    def look_up_too_early(self: Any, *args: Any) -> None:
        look_up(self, *args)
        self._stored, self._stored_sources = {}, {}

    monkeypatch.setattr(store_module._PostgresPageWriter, "begin_page", look_up_too_early)
    second = store.start_stream_run("run-2", "h", "acme", "events", "event")
    counts = store.commit_page(second, [rec("1"), rec("2", "Macbeth"), rec("3")], [], {"cursor": "b"}, read=3,
                               source_hashes={"1": "x", "2": "z", "3": "w"})
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 1)
    rows = {row["source_id"]: row for row in _rows(store)}
    assert {key: (row["revision"], row["last_run_id"]) for key, row in rows.items()} == {
        "1": (1, "run-1"), "2": (2, "run-2"), "3": (1, "run-2")}
    assert store.get_state("h", "acme", "events") == {"cursor": "b"}
    with store.engine.connect() as conn:
        assert dict(conn.execute(sa.text("select source_key, raw_hash from source_records")).all()) == {
            "1": "x", "2": "z", "3": "w"}
    (run,) = [r for r in store.runs("run-2")]
    assert (run["pages"], run["inserted"], run["updated"], run["unchanged"]) == (1, 1, 1, 1)

    def sources_look_up_too_early(self: Any, *args: Any) -> None:  # the records' look-up is right this time
        look_up(self, *args)
        self._stored_sources = {}

    monkeypatch.setattr(store_module._PostgresPageWriter, "begin_page", sources_look_up_too_early)
    third = store.start_stream_run("run-3", "h", "acme", "events", "event")
    counts = store.commit_page(third, [rec("4")], [], {"cursor": "c"}, read=1, source_hashes={"1": "x2", "4": "v"})
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 0, 0)
    assert store.get_state("h", "acme", "events") == {"cursor": "c"}
    with store.engine.connect() as conn:
        assert dict(conn.execute(sa.text("select source_key, raw_hash from source_records")).all()) == {
            "1": "x2", "2": "z", "3": "w", "4": "v"}


def test_the_sqlite_wal_starts_again_during_a_long_load_instead_of_growing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The background checkpoints never complete against a writer that keeps committing; once the WAL is
    long the writer completes one between two pages, and the WAL is written from its beginning again."""
    from podium.store import store as store_module

    monkeypatch.setattr(store_module._WalCheckpointer, "RESTART_FRAMES", 64)
    monkeypatch.setattr(store_module._WalCheckpointer, "INTERVAL_S", 0.005)
    store = Store(f"sqlite:///{tmp_path / 'long.db'}")
    store.migrate()
    run = store.start_stream_run("run-1", "h", "acme", "events", "event")
    try:
        for page in range(200):  # ~2,400 WAL frames (~10 MB) of records
            store.commit_page(run, [rec(f"{page}-{n}", "x" * 2000) for n in range(20)], [], {"page": page}, read=20)
        # The WAL header's checkpoint sequence number counts the times the WAL started again.
        restarts = int.from_bytes((tmp_path / "long.db-wal").read_bytes()[12:16], "big")
    finally:
        store.finish_stream_run(run, "succeeded")
        store.dispose()
    assert store.count_records() == 4000
    assert restarts >= 3


def orjson_loads(data: str) -> Any:
    return json.loads(data)


def _sync_pages(store: Store) -> list[Any]:
    """The same pages into a store: new records, a changed one, an unchanged one, a deletion, a child
    retired by its re-read parent, dead letters and raw hashes; returns the counts of each page."""
    from podium.engine import PageProcessor
    from podium.mapping import MappingContext, compile_mapping
    from podium.sdk.connector import Page

    mapping = compile_mapping({
        "entity": "event", "each": "dates", "source_id": {"path": "id"}, "vanished": "deleted",
        "fields": {"title": {"path": "^.name", "transform": "lang_map"}, "calendar": {"value": "single"},
                   "start": {"path": "start", "transform": "local_datetime"}}}, "acme", "events")
    processor = PageProcessor(mapping, MappingContext("h", "acme"), "event", "uuid")
    pages = [
        [{"uuid": "ev-1", "name": "Hamlet", "dates": [{"id": "ev-1#0", "start": "2026-03-28T20:00"},
                                                      {"id": "ev-1#1", "start": "2026-03-29T20:00"}]},
         {"uuid": "ev-2", "name": "Lear", "dates": [{"id": "ev-2#0", "start": "2026-04-01T20:00"}]}],
        [{"uuid": "ev-1", "name": "Hamlet", "dates": [{"id": "ev-1#0", "start": "2026-03-28T20:00"}]},
         {"uuid": "ev-2", "name": "King Lear", "dates": [{"id": "ev-2#0", "start": "2026-04-01T20:00"},
                                                         {"id": "ev-2#1", "start": "gisteren"}]}],
    ]
    counts = []
    for number, records in enumerate(pages):
        run = store.start_stream_run(f"run-{number}", "h", "acme", "events", "event")
        result = processor.process(Page(records=records, state={}))
        counts.append(store.commit_page(run, result.records, result.dead, {"page": number}, read=len(records),
                                        complete_parents=result.complete_parents, vanished=mapping.vanished,
                                        source_hashes={r["uuid"]: f"hash-{number}-{r['uuid']}" for r in records}))
    return counts


def test_postgresql_copy_path_and_sqlite_path_store_the_same(store: Store, tmp_path: Path) -> None:
    """The same pages through PostgreSQL's COPY + INSERT … SELECT and SQLite's multi-row upsert."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("compares the PostgreSQL write path with SQLite's")
    sqlite = Store(f"sqlite:///{tmp_path / 'same.db'}")
    sqlite.migrate()
    try:
        assert _sync_pages(store) == _sync_pages(sqlite)

        def contents(of: Store) -> dict[str, Any]:
            with of.engine.connect() as conn:
                sources = sorted(tuple(r) for r in conn.execute(sa.text(
                    "select house, connector, stream, source_key, raw_hash, records from source_records")))
                letters = sorted(tuple(r) for r in conn.execute(sa.text(
                    "select source_id, reason, status, seen_count from dead_letters")))
            rows = [{k: v for k, v in row.items() if k != "updated_at"} for row in _rows(of)]
            return {"rows": rows, "sources": sources, "letters": letters, "export": list(of.export())}

        on_postgres, on_sqlite = contents(store), contents(sqlite)
        assert on_postgres == on_sqlite
        retired = next(r for r in on_postgres["rows"] if r["source_id"] == "ev-1#1")
        assert retired["deleted"] and retired["revision"] == 2  # the vanished date, on both stores
        assert len(on_postgres["sources"]) == 2
    finally:
        sqlite.dispose()


def test_migration_0006_keeps_every_record_under_its_natural_key(store_url: str) -> None:
    """Records stored before 0006 (keyed by id) are the same records after it: a re-read finds them
    unchanged, a changed one is updated in place, none is duplicated."""
    from alembic import command
    from alembic.config import Config

    from podium.store import store as store_module

    store = Store(store_url)
    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    old = sa.table("canonical_records", *(sa.column(name) for name in (
        "id", "house", "entity", "source_system", "source_id", "content_hash", "data", "deleted", "updated_at")))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.execute(sa.insert(old).values([
            {"id": r.id, "house": "h", "entity": "event", "source_system": "acme", "source_id": r.source_id,
             "content_hash": r.hash, "data": r.data.decode(), "deleted": False, "updated_at": store_module.now()}
            for r in (rec("1"), rec("2"))]))
    store.migrate()
    try:
        run = store.start_stream_run("r9", "h", "acme", "events", "event")
        counts = store.commit_page(run, [rec("1"), rec("2", "Macbeth")], [], None, read=2)
        assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
        assert [(row["source_id"], row["revision"]) for row in _rows(store)] == [("1", 1), ("2", 2)]
    finally:
        store.dispose()


@pytest.mark.parametrize("case", ["children re-served", "parent re-served with new children",
                                  "parent first served with a rejection"])
def test_a_first_load_that_meets_its_own_rows_again_stores_as_the_full_path(
        store: Store, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """A first load skips its look-ups and the vanished-children check (nothing stored to compare); a page that
    serves a parent again within that load (its children, or only its raw key, stored by an earlier page; or
    a parent whose first page rejected a child, so no raw hash of it was stored) still gets the full path:
    the same counts, the vanished child retired."""
    from podium.engine import PageProcessor
    from podium.mapping import MappingContext, compile_mapping
    from podium.sdk.connector import Page
    from podium.store import store as store_module

    mapping = compile_mapping({
        "entity": "event", "each": "dates", "source_id": {"path": "id"}, "vanished": "deleted",
        "fields": {"title": {"path": "^.name", "transform": "lang_map"}, "calendar": {"value": "single"},
                   "start": {"path": "start", "transform": "local_datetime"}}}, "acme", "events")
    processor = PageProcessor(mapping, MappingContext("h", "acme"), "event", "uuid")
    day = {"id": "ev-1#0", "start": "2026-03-28T20:00"}
    other = {"id": "ev-2#0", "start": "2026-04-01T20:00"}
    second = {"children re-served": [{"uuid": "ev-1", "name": "Hamlet", "dates": [day]}],
              "parent re-served with new children": [
                  {"uuid": "ev-1", "name": "Hamlet", "dates": [{"id": "ev-1#7", "start": "2026-05-01T20:00"}]}],
              "parent first served with a rejection": [
                  {"uuid": "ev-1", "name": "Hamlet", "dates": [{"id": "ev-1#7", "start": "2026-05-01T20:00"}]}]}[case]
    first_dates = [day, {"id": "ev-1#1", "start": "2026-03-29T20:00"}]
    if case == "parent first served with a rejection":
        first_dates = [day, {"id": "ev-1#1", "start": "gisteren"}]
    pages = [[{"uuid": "ev-1", "name": "Hamlet", "dates": first_dates}, {"uuid": "ev-2", "name": "Lear",
                                                                       "dates": [other]}], second]
    checks: list[int] = []
    retire = store_module._PageWriter.retire_vanished

    def counted(self: Any, *args: Any) -> None:
        checks.append(len(args[1]))
        retire(self, *args)

    monkeypatch.setattr(store_module._PageWriter, "retire_vanished", counted)
    run = store.start_stream_run("run-1", "h", "acme", "events", "event")
    counts = []
    for number, records in enumerate(pages):
        result = processor.process(Page(records=records, state={}))
        complete = set(result.complete_parents)
        counts.append(store.commit_page(
            run, result.records, result.dead, {"page": number}, read=len(records),
            complete_parents=result.complete_parents, vanished=mapping.vanished,
            source_hashes={r["uuid"]: f"hash-{number}-{r['uuid']}" for r in records if r["uuid"] in complete}))
    store.finish_stream_run(run, "succeeded")
    assert checks == [1]  # the first page checked nothing; the second page did
    by_id = {r["source"]["id"]: r for r in store.export("h")}
    if case == "children re-served":
        assert [(c.inserted, c.unchanged, c.deleted) for c in counts] == [(3, 0, 0), (0, 1, 1)]
        assert by_id["ev-1#1"]["deleted"] is True and by_id["ev-1#0"]["deleted"] is False
    elif case == "parent re-served with new children":
        assert [(c.inserted, c.unchanged, c.deleted) for c in counts] == [(3, 0, 0), (1, 0, 2)]
        assert by_id["ev-1#0"]["deleted"] is True and by_id["ev-1#1"]["deleted"] is True
    else:
        assert [(c.inserted, c.rejected, c.deleted) for c in counts] == [(2, 1, 0), (1, 0, 1)]
        assert by_id["ev-1#0"]["deleted"] is True and "ev-1#1" not in by_id
    assert by_id["ev-2#0"]["deleted"] is False and by_id["ev-1#7" if "#7" in str(second) else "ev-1#0"]
    with store.engine.connect() as conn:
        assert dict(conn.execute(sa.text("select source_key, raw_hash from source_records")).all()) == {
            "ev-1": "hash-1-ev-1", "ev-2": "hash-0-ev-2"}
    (row,) = store.runs("run-1")
    assert (row["pages"], row["inserted"], row["deleted"]) == (2, sum(c.inserted for c in counts),
                                                               sum(c.deleted for c in counts))


def test_a_new_sqlite_database_has_16_kib_pages_and_the_checkpointer_survives_an_unreadable_one(
        tmp_path: Path) -> None:
    """16 KiB pages for a new file; the WAL checkpointer scales its restart length to them, and assumes
    SQLite's default 4 KiB when the page size cannot be read (a checkpoint must never stop a sync)."""
    from podium.store import store as store_module

    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    store.migrate()
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 16384
    finally:
        store.dispose()
    checkpointer = store_module._WalCheckpointer(str(tmp_path / "new.db"))
    checkpointer.stop()
    assert checkpointer.restart_frames == store_module._WalCheckpointer.RESTART_FRAMES // 4
    (tmp_path / "not-a-db").write_bytes(b"x" * 4096)  # "file is not a database"
    assert store_module._WalCheckpointer._page_size(str(tmp_path / "not-a-db")) == 4096
