"""The ``podium`` command line as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "connectors" / "ticketmatic" / "golden"


def podium(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "podium.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_connectors_lists_every_builtin_with_streams_and_entities() -> None:
    result = podium("connectors", "--json")
    assert result.returncode == 0, result.stderr
    listed = {c["name"]: {s["name"]: s["entity"] for s in c["streams"]} for c in json.loads(result.stdout)}
    assert listed["ticketmatic"] == {"events": "event", "contacts": "contact", "orders": "ticket"}
    assert set(listed) >= {"ticketmatic", "yesplan", "recreatex", "cdbxml", "uwp", "uitdatabank"}
    declared = {c["name"]: (c["connection_type"], c["schedule"], c["pool_slots"]) for c in json.loads(result.stdout)}
    assert declared["ticketmatic"] == ("podium_hmac", "@hourly", 8)


def test_spec_prints_json_schema_and_unknown_connector_lists_known() -> None:
    spec = json.loads(podium("spec", "ticketmatic").stdout)
    assert spec["properties"]["secret_key"]["secret"] is True
    result = podium("spec", "no-such-vendor")
    assert result.returncode == 2 and "known: " in result.stderr and "ticketmatic" in result.stderr


def test_map_a_real_shaped_order_page_prints_one_valid_ticket_per_ticket() -> None:
    page = GOLDEN / "orders.page.input.json"
    result = podium("map", "ticketmatic", "orders", str(page))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    expected = sum(len(order["tickets"]) for order in json.loads(page.read_text())["data"])
    assert len(lines) == expected and all(r["entity"] == "ticket" for r in lines)


def test_map_reports_rejections_and_unreadable_input_with_exit_3_and_usage_errors_with_exit_2(tmp_path: Path) -> None:
    page = json.loads((GOLDEN / "orders.page.input.json").read_text())
    page["data"][0]["tickets"][0]["price"] = "gratis"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(page))
    result = podium("map", "ticketmatic", "orders", str(bad))
    assert result.returncode == 3
    rejected = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(rejected) == 1 and "gratis" in rejected[0]["reason"]
    assert len(result.stdout.splitlines()) == sum(len(o["tickets"]) for o in page["data"]) - 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [')
    result = podium("map", "ticketmatic", "orders", str(broken))
    assert result.returncode == 3 and "malformed JSON" in result.stderr
    assert podium("map", "ticketmatic", "orders", str(tmp_path / "missing.json")).returncode == 2


@pytest.mark.slow
def test_sync_status_export_and_deadletters_on_the_example_house(tmp_path: Path) -> None:
    from connectors.ticketmatic.sandbox import TicketmaticSandbox

    with TicketmaticSandbox() as sandbox:
        house = tmp_path / "cc-cli.yaml"
        house.write_text(f"""house: cc-cli
name: CC CLI
kind: cultuurcentrum
connectors:
  ticketmatic:
    streams: [events]
    settings: {{account: cli, base_url: "{sandbox.url}"}}
    credentials: {{conn_id: ticketmatic_cc_cli}}
""")
        env = {"PODIUM_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}", "PODIUM_HOUSES_DIR": str(tmp_path),
               "AIRFLOW_CONN_TICKETMATIC_CC_CLI": json.dumps({"login": "sandbox-access-key", "password": "sandbox-secret-key"})}
        check = podium("check", "--house", str(house), env=env)
        assert check.returncode == 0 and "ok" in check.stdout
        sync = podium("sync", "--house", "cc-cli", "--json", env=env)
        assert sync.returncode == 0, sync.stderr
        (report,) = json.loads(sync.stdout)
        assert report["status"] == "succeeded" and report["streams"]["events"]["inserted"] > 0
        status = json.loads(podium("status", "--json", env=env).stdout)
        assert status[0]["house"] == "cc-cli" and status[0]["status"] == "succeeded"
        exported = [json.loads(line) for line in podium("export", "--house", "cc-cli", env=env).stdout.splitlines()]
        assert len(exported) == report["streams"]["events"]["inserted"] + report["streams"]["events"]["deleted"]
        assert [r["id"] for r in exported] == sorted(r["id"] for r in exported)
        assert podium("deadletters", "list", env=env).returncode == 0
        bad_env = {**env, "AIRFLOW_CONN_TICKETMATIC_CC_CLI": json.dumps({"login": "sandbox-access-key",
                                                             "password": "wrong-secret-xyz"})}
        check = podium("check", "--house", str(house), env=bad_env)
        assert check.returncode == 1 and "[auth]" in check.stdout and "wrong-secret-xyz" not in check.stdout
