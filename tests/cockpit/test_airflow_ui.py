"""The Airflow UI as docs/airflow.md tells an operator to run it: `scripts/airflow.sh start`, log in,
open "Podium fleet" in Airflow's navigation, see the failing house, drill down, `scripts/airflow.sh stop`
— in a real browser (Debian's chromium, headless, driven by Playwright), with screenshots kept as test
artefacts (``PODIUM_TEST_ARTIFACTS``, default ``var/test-artifacts``)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from tests.cockpit.conftest import SeededFleet

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PODIUM_TEST_ARTIFACTS", REPO / "var" / "test-artifacts"))

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def airflow_sh(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "scripts" / "airflow.sh"), *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def airflow_env(seeded_fleet: SeededFleet, tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") or k == "AIRFLOW__CORE__PLUGINS_FOLDER"}
    return {**keep, "AIRFLOW_HOME": str(tmp_path / "airflow"), "PODIUM_AIRFLOW_PORT": str(free_port()),
            "PODIUM_DB_URL": seeded_fleet.url, "PODIUM_HOUSES_DIR": str(seeded_fleet.houses_dir),
            "PODIUM_ARCHIVE_URL": os.environ["PODIUM_ARCHIVE_URL"]}


def test_start_log_in_see_the_failing_house_in_the_cockpit_and_stop_every_process(airflow_env: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "scripts/system-deps.sh installs Debian's chromium"
    url = f"http://127.0.0.1:{airflow_env['PODIUM_AIRFLOW_PORT']}"
    started = airflow_sh("start", "--no-sandboxes", env=airflow_env)
    pgid_file = Path(airflow_env["AIRFLOW_HOME"]) / "podium-airflow.pgid"
    pgid = pgid_file.read_text().strip() if pgid_file.exists() else None
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        found = re.search(r"Airflow is up: (\S+)\s+\(user admin, password (\S+)\)", started.stdout)
        assert found and found.group(1) == url, started.stdout
        password = found.group(2)
        plugins = requests.get(f"{url}/api/v2/plugins", timeout=30, headers={"Authorization": "Bearer " + requests.post(
            f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30).json()["access_token"]})
        assert "podium_cockpit" in {p["name"] for p in plugins.json()["plugins"]}
        assert requests.get(f"{url}/podium/api/matrix", timeout=30).status_code == 401, "no login, no cockpit"

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{url}/plugin/podium", timeout=180_000)
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", password)
                page.click("button:has-text('Sign in')")
                page.wait_for_url("**/plugin/podium**", timeout=180_000)
                frame = page.wait_for_selector("iframe", timeout=180_000).content_frame()
                assert frame is not None
                failing = frame.wait_for_selector('tr[data-house="gc-de-kring"] td[data-status="failed"]',
                                                  timeout=180_000)
                page.screenshot(path=str(ARTIFACTS / "cockpit-matrix.png"))
                assert "failed · auth" in failing.inner_text()
                assert frame.query_selector('tr[data-house="cc-hasselt"] td[data-status="rejections"]')
                navigation = page.locator('a[href$="/plugin/podium"], [aria-label="Podium fleet"], '
                                          '[title="Podium fleet"]')
                assert navigation.count() + page.get_by_text("Podium fleet").count() >= 1, \
                    "the cockpit is an entry of Airflow's navigation"

                failing.query_selector("a").click()
                frame.wait_for_selector("#advice", timeout=60_000)
                advice = frame.inner_text("#advice")
                assert "The vendor refused the credentials." in advice
                assert "Renew the credentials in the Airflow connection 'recreatex_gc_de_kring'" in advice
                page.screenshot(path=str(ARTIFACTS / "cockpit-pair.png"))
            finally:
                browser.close()
        assert (ARTIFACTS / "cockpit-matrix.png").stat().st_size > 10_000
    finally:
        stopped = airflow_sh("stop", env=airflow_env, timeout=120)
    assert stopped.returncode == 0 and "no process of group" in stopped.stdout, stopped.stdout + stopped.stderr
    processes = subprocess.run(["ps", "-e", "-o", "pgid=,stat=,args="], capture_output=True, text=True).stdout
    left = [line for line in processes.splitlines() if line.split()[0] == pgid and not line.split()[1].startswith("Z")]
    assert pgid and not left, f"processes left running: {left}"
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
