"""The command line as the operations team uses it every day: version, status that fits a terminal,
clear failures, one JSON convention, dead letters whose raw pages and replay refusals are spelled out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium import __version__
from podium.store import Store
from podium.store.store import DeadLetter

LONG_URI = ("file:///srv/podium/var/archive/gc-de-kring/recreatex/2026/02/11/"
            "persons/page-000042-5f0c2d8e9b7a4c1e8f3d2a6b.json.gz")


def podium(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podium.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})},
                          timeout=120, cwd=cwd)


@pytest.fixture
def store_env(tmp_path: Path) -> dict[str, str]:
    """A store with one failed run carrying a long error, and two open dead letters (one undecodable)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store(url)
    store.migrate()
    run = store.start_stream_run("run-1", "gc-de-kring", "recreatex", "persons", "contact")
    store.commit_page(run, [], [DeadLetter(reason="decode: invalid UTF-8 at byte 17", source_id="M-1"),
                                DeadLetter(reason="/email: 'no-at-sign' is not an 'email'", source_id="M-2",
                                           raw={"Id": "M-2", "Email": "no-at-sign"})],
                      None, read=2, archive_uri=LONG_URI)
    store.finish_stream_run(run, "failed", "vendor_down",
                            "the WebShop service answered 503 Service Unavailable for every retry " * 3)
    return {"PODIUM_DB_URL": url, "PODIUM_HOUSES_DIR": str(tmp_path / "no-houses-here")}


def test_version_names_the_installed_release() -> None:
    result = podium("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"podium {__version__}"


def test_a_sync_that_finds_no_house_says_where_it_looked_and_fails(tmp_path: Path) -> None:
    result = podium("sync", env={"PODIUM_HOUSES_DIR": str(tmp_path / "houses"),
                                 "PODIUM_DB_URL": f"sqlite:///{tmp_path / 'x.db'}"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "no house configs in" in result.stderr and str(tmp_path / "houses") in result.stderr


def test_status_fits_an_80_column_terminal_and_wide_shows_every_column(store_env: dict[str, str]) -> None:
    narrow = podium("status", env={**store_env, "PODIUM_CLI_WIDTH": "80"})
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    started = Store(store_env["PODIUM_DB_URL"]).status()[0]["started_at"][:16].replace("T", " ")
    assert any(started in line for line in lines), "the run's time is shown whole, never folded"
    assert "failed" in narrow.stdout and "vendor_down" in narrow.stdout
    wide = podium("status", "--wide", env={**store_env, "PODIUM_CLI_WIDTH": "250"})
    header = wide.stdout
    for column in ("read", "inserted", "updated", "unchanged", "owner", "cursor"):
        assert column in header
    assert "every retry the WebShop" in " ".join(wide.stdout.split()), "--wide shows the whole error"


def test_status_of_an_unknown_house_fails_naming_the_known_ones(store_env: dict[str, str]) -> None:
    result = podium("status", "--house", "gc-de-krin", env=store_env)
    assert result.returncode == 2
    assert "gc-de-krin" in result.stderr and "gc-de-kring" in result.stderr


def test_every_json_option_prints_one_json_array(store_env: dict[str, str], tmp_path: Path) -> None:
    house = tmp_path / "gc-json.yaml"
    house.write_text("house: gc-json\nname: GC JSON\nkind: gemeenschapscentrum\nconnectors:\n"
                     "  ticketmatic:\n    settings: {account: gcjson, base_url: 'http://127.0.0.1:9'}\n"
                     "    credentials: {conn_id: ticketmatic_gc_json}\n")
    outputs = {
        "connectors": podium("connectors", "--json"),
        "status": podium("status", "--json", env=store_env),
        "deadletters": podium("deadletters", "list", "--json", env=store_env),
        "check": podium("check", "--house", str(house), "--json", env=store_env),
    }
    for name, result in outputs.items():
        document = json.loads(result.stdout)
        assert isinstance(document, list) and document and all(isinstance(row, dict) for row in document), name
    (checked,) = json.loads(outputs["check"].stdout)
    assert outputs["check"].returncode == 1
    assert checked["connector"] == "ticketmatic" and checked["ok"] is False and checked["error_class"] == "config"
    assert "ticketmatic_gc_json" in checked["error"]


def test_dead_letters_print_raw_page_uris_whole_and_replay_says_why_not(store_env: dict[str, str]) -> None:
    listed = podium("deadletters", "list", env={**store_env, "PODIUM_CLI_WIDTH": "80"})
    assert listed.returncode == 0
    assert listed.stdout.count(LONG_URI) == 2, "each letter's raw page URI on one line, whole"
    replay = podium("deadletters", "replay", env=store_env)
    assert replay.returncode == 0, replay.stderr
    assert "not replayable 1" in replay.stdout and "still rejected 1" in replay.stdout
    (why,) = [line for line in replay.stdout.splitlines() if "not replayable:" in line]
    assert "could not be read as a record" in why and LONG_URI in why


def test_sync_progress_counts_vendor_records_against_their_total_and_canonical_records_apart(tmp_path: Path) -> None:
    """Ticketmatic announces ``nbrofresults``: the bar runs to it, in orders; tickets are counted as tickets."""
    from connectors.ticketmatic.sandbox import TicketmaticSandbox
    from podium.cli import progress_line
    from podium.config import load_house
    from podium.engine import StreamReport, run_sync

    with TicketmaticSandbox(events=5, contacts=5, orders=23) as sandbox:
        house_file = tmp_path / "cc-progress.yaml"
        house_file.write_text("house: cc-progress\nname: CC Progress\nkind: cultuurcentrum\nconnectors:\n"
                              f"  ticketmatic:\n    streams: [orders]\n    settings: {{account: progress, "
                              f"base_url: '{sandbox.url}', page_size: 10}}\n"
                              "    credentials: {conn_id: ticketmatic_cc_progress}\n")
        os.environ["AIRFLOW_CONN_TICKETMATIC_CC_PROGRESS"] = json.dumps(
            {"login": "sandbox-access-key", "password": "sandbox-secret-key"})
        seen: list[tuple[int, int | None, str]] = []

        def show(stream: str, report: StreamReport) -> None:
            stored = report.inserted + report.updated + report.unchanged
            seen.append((report.read, report.expected, progress_line("cc-progress", "ticketmatic", stream, report,
                                                                     stored)))
        try:
            store = Store(f"sqlite:///{tmp_path / 'p.db'}")
            store.migrate()
            report = run_sync(load_house(house_file), "ticketmatic", store=store, progress=show)
        finally:
            os.environ.pop("AIRFLOW_CONN_TICKETMATIC_CC_PROGRESS")
    assert report.status == "succeeded"
    assert [read for read, _, _ in seen] == [10, 20, 23], "one step per page, in orders read"
    assert {expected for _, expected, _ in seen} == {23}, "the bar's total is the vendor's nbrofresults"
    orders = report.streams[0]
    tickets = orders.inserted + orders.updated + orders.unchanged
    assert tickets > 23, "the sandbox's orders hold more than one ticket each"
    assert seen[-1][2] == f"cc-progress × ticketmatic × orders: 23 read → {tickets} tickets (+{tickets} ~0), 0 rejected"
