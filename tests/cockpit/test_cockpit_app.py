"""The cockpit's pages and JSON as an operator reads them (the FastAPI app without Airflow around it;
tests/cockpit/test_cockpit_browser.py loads it inside Airflow's API server in a real browser)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from plugins.podium_provider.cockpit.app import create_app
from podium.store import Store
from tests.cockpit.conftest import RAW_PAGE, SeededFleet


def client() -> TestClient:
    return TestClient(create_app(), follow_redirects=False)


def test_the_matrix_shows_every_configured_pair_with_its_last_sync(seeded_fleet: SeededFleet) -> None:
    matrix = client().get("/api/matrix").json()
    cells = {(c["house"], c["connector"]): c for c in matrix["cells"]}
    assert set(cells) == {("cc-hasselt", "ticketmatic"), ("cc-hasselt", "yesplan"), ("gc-de-kring", "recreatex"),
                          ("de-singel", "uwp")}
    assert cells[("gc-de-kring", "recreatex")]["status"] == "failed"
    assert cells[("gc-de-kring", "recreatex")]["error_class"] == "auth"
    assert cells[("cc-hasselt", "ticketmatic")]["status"] == "rejections"
    assert cells[("cc-hasselt", "ticketmatic")]["open_dead_letters"] == 1
    assert 3 * 3600 - 60 < cells[("cc-hasselt", "ticketmatic")]["cursor_lag_seconds"] < 3 * 3600 + 600
    assert cells[("de-singel", "uwp")]["status"] == "never"
    assert cells[("cc-hasselt", "yesplan")]["status"] == "succeeded"

    page = client().get("/").text
    failing = re.search(r'<tr data-house="gc-de-kring">.*?</tr>', page, re.S)
    assert failing and 'data-status="failed"' in failing.group(0) and "failed · auth" in failing.group(0)


def test_the_matrix_filters_by_house_kind_and_by_vendor(seeded_fleet: SeededFleet) -> None:
    only_gc = client().get("/api/matrix", params={"kind": "gemeenschapscentrum"}).json()
    assert {c["house"] for c in only_gc["cells"]} == {"gc-de-kring"}
    only_tm = client().get("/api/matrix", params={"connector": "ticketmatic"}).json()
    assert {(c["house"], c["connector"]) for c in only_tm["cells"]} == {("cc-hasselt", "ticketmatic")}
    page = client().get("/", params={"kind": "kunstenorganisatie"}).text
    assert 'data-house="de-singel"' in page and 'data-house="gc-de-kring"' not in page


def test_a_failing_pair_says_what_happened_and_names_the_connection_to_renew(seeded_fleet: SeededFleet) -> None:
    page = client().get("/pair/gc-de-kring/recreatex").text
    assert "The vendor refused the credentials." in page
    assert "Renew the credentials in the Airflow connection &#39;recreatex_gc_de_kring&#39;" in page
    assert "the WebShop refused the shop credentials (401)" in page
    assert client().get("/pair/nowhere/recreatex").status_code == 404


def test_dead_letters_show_reason_schema_path_and_their_raw_page_and_replay(seeded_fleet: SeededFleet) -> None:
    page = client().get("/pair/cc-hasselt/ticketmatic").text
    assert "is not a &#39;date-time&#39;" in page and "/properties/start/format" in page
    (letter_id,) = re.findall(r'/deadletter/(\d+)/raw-page', page)
    raw = client().get(f"/deadletter/{letter_id}/raw-page")
    assert raw.status_code == 200 and raw.content == RAW_PAGE
    assert client().get("/deadletter/999999/raw-page").status_code == 404

    replayed = client().post("/pair/cc-hasselt/ticketmatic/replay")
    assert replayed.status_code == 303
    follow = client().get(replayed.headers["location"])
    assert "still rejected 1" in follow.text, "the record is still bad with today's mapping"
    store = Store(seeded_fleet.url)
    assert [letter["status"] for letter in store.dead_letters(house="cc-hasselt", status=None)] == ["open"]
    store.dispose()


def test_reads_and_the_replay_are_guarded_by_the_access_dependencies_given(seeded_fleet: SeededFleet) -> None:
    from fastapi import HTTPException

    def refuse() -> None:
        raise HTTPException(status_code=403, detail="no")

    guarded = TestClient(create_app(read_access=lambda: None, write_access=refuse), follow_redirects=False)
    assert guarded.get("/").status_code == 200
    assert guarded.post("/pair/cc-hasselt/ticketmatic/replay").status_code == 403
    assert TestClient(create_app(read_access=refuse)).get("/api/matrix").status_code == 403
