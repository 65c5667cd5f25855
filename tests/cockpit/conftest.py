"""A small fleet in the store as the cockpit finds it on a morning: one house failing on its credentials,
one whose sync succeeded with rejected records (their raw page archived), one house never synced."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from podium.archive import Archive
from podium.store import Store
from podium.store.store import DeadLetter

HOUSES = {
    "cc-hasselt": ("Cultuurcentrum Hasselt", "cultuurcentrum", {"ticketmatic": "ticketmatic_cc_hasselt",
                                                                "yesplan": "yesplan_cc_hasselt"}),
    "gc-de-kring": ("Gemeenschapscentrum De Kring", "gemeenschapscentrum", {"recreatex": "recreatex_gc_de_kring"}),
    "de-singel": ("deSingel", "kunstenorganisatie", {"uwp": "uwp_de_singel"}),
}
RAW_PAGE = b'{"data": [{"id": 7, "name": "Jazz in de tuin", "startts": "not a time"}]}'


@dataclass
class SeededFleet:
    url: str
    houses_dir: Path
    archive_uri: str


@pytest.fixture
def seeded_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SeededFleet:
    houses_dir = tmp_path / "houses"
    houses_dir.mkdir()
    for key, (name, kind, connectors) in HOUSES.items():
        body = {"house": key, "name": name, "kind": kind,
                "connectors": {c: {"settings": {}, "credentials": {"conn_id": conn}} for c, conn in connectors.items()}}
        (houses_dir / f"{key}.yaml").write_text(json.dumps(body))
    url = f"sqlite:///{tmp_path / 'podium.db'}"
    monkeypatch.setenv("PODIUM_DB_URL", url)
    monkeypatch.setenv("PODIUM_HOUSES_DIR", str(houses_dir))
    monkeypatch.setenv("PODIUM_ARCHIVE_URL", (tmp_path / "archive").as_uri())
    store = Store(url)
    store.migrate()

    ok = store.start_stream_run("run-ok", "cc-hasselt", "ticketmatic", "events", "event")
    store.commit_page(ok, [], [], {"cursor": (datetime.now(UTC) - timedelta(hours=3)).isoformat()}, read=0)
    store.finish_stream_run(ok, "succeeded")
    uri = Archive().put("cc-hasselt", "ticketmatic", "events", "run-rej", 1, "json", RAW_PAGE)
    assert uri is not None
    rejected = store.start_stream_run("run-rej", "cc-hasselt", "ticketmatic", "events", "event")
    store.commit_page(rejected, [], [DeadLetter(reason="/start: 'not a time' is not a 'date-time'", source_id="7",
                                                schema_path="/properties/start/format",
                                                raw={"id": 7, "name": "Jazz in de tuin", "startts": "not a time"})],
                      None, read=1, archive_uri=uri)
    store.finish_stream_run(rejected, "succeeded")
    planning = store.start_stream_run("run-yp", "cc-hasselt", "yesplan", "events", "event")
    store.finish_stream_run(planning, "succeeded")

    failed = store.start_stream_run("run-auth", "gc-de-kring", "recreatex", "persons", "contact")
    store.finish_stream_run(failed, "failed", "auth", "the WebShop refused the shop credentials (401)")
    store.dispose()
    return SeededFleet(url=url, houses_dir=houses_dir, archive_uri=uri)
