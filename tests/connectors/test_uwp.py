"""UWP data-product CSV drops: golden mappings on the real samples, the moto S3 sandbox, resume,
encodings, dead letters and the conformance suite.

Regenerate the expected goldens after a deliberate mapping change with ``PODIUM_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tracemalloc
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.uwp.connector import UwpConnector
from connectors.uwp.data import SAMPLES
from connectors.uwp.generate import write_drop
from connectors.uwp.sandbox import UwpSandbox
from connectors.uwp.streams import S3Source
from podium.canonical import validate
from podium.errors import AuthError, ConfigError, VendorDownError
from podium.mapping import MappingContext, load_mapping
from podium.parsing import CsvRecords
from podium.sdk.connector import Page, SyncContext
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(UwpConnector)  # golden cases: tests/connectors/test_golden.py
DROP = SAMPLES  # the real sample drop, as the vendor names its files
HOUSE = "cc-hasselt"
SAMPLE_FILES = {"activiteiten": "activiteit_results.csv", "participanten": "participant_results.csv",
                "deelnames": "deelname_results.csv"}


def map_records(stream: str, raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Map raw rows and assert every canonical record validates."""
    spec = UwpConnector.stream(stream)
    mapping = load_mapping(UwpConnector.mappings_dir(), "uwp", stream)
    out = []
    for raw in raws:
        records, errors = mapping.map(raw, MappingContext(HOUSE, "uwp"))
        assert not errors, errors
        for record in records:
            assert validate(spec.entity, record) == [], (record, validate(spec.entity, record))
        out.extend(records)
    return out


def rows_of(data: bytes) -> list[dict[str, Any]]:
    """Decoded rows of a CSV document (RecordErrors fail the test)."""
    rows = list(CsvRecords().decode(data))
    assert all(isinstance(r, dict) for r in rows), rows
    return [r for r in rows if isinstance(r, dict)]


def read_all(connector: UwpConnector, stream: str, state: dict[str, Any] | None = None
             ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[Page]]:
    pages = list(connector.read(stream, state))
    records = [r for page in pages for r in page.records]
    return records, (pages[-1].state if pages else state), pages


def check_golden(name: str, actual: Any) -> None:
    path = GOLDEN / "fixtures" / name
    text = json.dumps(actual, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if os.environ.get("PODIUM_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == actual, f"golden {name} differs"


# -- the real sample drop read from a folder ------------------------------------------------------
def test_real_sample_drop_read_from_a_folder_joins_the_reference_tables() -> None:
    """Venue, organiser, prices, opening hours and performer come from the lookup CSVs, by id."""
    connector = UwpConnector({"folder": str(DROP)}, SyncContext(house=HOUSE))
    raws, state, pages = read_all(connector, "activiteiten")
    records = map_records("activiteiten", raws)
    check_golden("activiteiten.enriched.json", records)
    event = records[0]
    assert event["venue"] == {"source_id": "787d7420", "name": "Z33", "address": {
        "street": "Bonnefantenstraat 1", "postal_code": "3500", "city": "Hasselt", "country": "BE"}}
    assert event["organizer"] == {"source_id": "3b98fcf8", "name": "Z33"}
    assert [p["amount"] for p in event["prices"]] == [12.0, 0.0, 6.0, 0.0]
    assert event["prices"][0] == {"category": "base", "name": {"nl": "Basistarief", "fr": "Tarif de base"},
                                  "amount": 12.0, "currency": "EUR"}
    assert event["calendar"] == "periodic" and event["availability"] == "limited"
    assert event["extras"]["uitvoerder"]["uitvoerder_name_nl"] == "Lucy McKenzie"
    assert len(event["extras"]["beschikbaarheid"]) == 5
    assert state is not None and state["cursor"] == "2023-04-26T10:15:39Z"
    assert set(state["lookups"]) == {"locatie_results.csv", "organisator_results.csv", "uitvoerder_results.csv",
                                     "activiteit_prijsinfo_mapping.csv", "activiteit_beschikbaarheid_mapping.csv"}
    assert pages[0].raw is not None and rows_of(pages[0].raw)[0]["activiteit_id"] == "285c5de7"


def test_participation_links_to_the_canonical_event_and_contact() -> None:
    ticket = map_records("deelnames", rows_of((DROP / "deelname_results.csv").read_bytes()))[0]
    event = map_records("activiteiten", rows_of((DROP / "activiteit_results.csv").read_bytes()))[0]
    contact = map_records("participanten", rows_of((DROP / "participant_results.csv").read_bytes()))[0]
    assert ticket["event"]["id"] == event["id"] and ticket["contact"]["id"] == contact["id"]
    assert contact["birth_year"] == 1987 and contact["area"] == "LEUVEN-CENTRUM"
    assert "participant_birthyear" not in ticket.get("extras", {})


# -- the sandbox -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox() -> Any:
    box = UwpSandbox()
    box.start()
    yield box
    box.stop()


def s3_config(box: UwpSandbox, **extra: Any) -> dict[str, Any]:
    return {"bucket": box.bucket, "prefix": box.prefix, "endpoint_url": box.url,
            "access_key_id": box.access_key_id, "secret_access_key": box.secret_access_key, **extra}


def test_bad_credentials_fail_with_a_clear_auth_error(sandbox: UwpSandbox) -> None:
    wrong_secret = "not-the-secret-" + "x" * 25
    for config, code in [(s3_config(sandbox, secret_access_key=wrong_secret), "SignatureDoesNotMatch"),
                         (s3_config(sandbox, access_key_id="AKIAUNKNOWN000000000"), "InvalidAccessKeyId")]:
        connector = UwpConnector(config, SyncContext(house=HOUSE))
        with pytest.raises(AuthError) as caught:
            connector.check()
        assert code in str(caught.value) and "403" in str(caught.value)
        assert wrong_secret not in str(caught.value) and sandbox.secret_access_key not in str(caught.value)
    UwpConnector(s3_config(sandbox), SyncContext(house=HOUSE)).check()


def test_sandbox_drop_has_bom_cp1252_and_a_malformed_row_reported_not_fatal(
        sandbox: UwpSandbox, caplog: pytest.LogCaptureFixture) -> None:
    connector = UwpConnector(s3_config(sandbox), SyncContext(house=HOUSE))
    caplog.set_level(logging.WARNING, "podium.connectors.uwp")
    events, _, event_pages = read_all(connector, "activiteiten")
    people, _, people_pages = read_all(connector, "participanten")
    tickets, _, ticket_pages = read_all(connector, "deelnames")
    assert "(utf-8-sig)" in event_pages[0].label and "(cp1252)" in people_pages[0].label
    assert any("cp1252" in r.getMessage() for r in caplog.records)
    assert "ELSENE-VIJVERS / IXELLES-ÉTANGS" in {c.get("area") for c in map_records("participanten", people)}
    errors = [e for page in ticket_pages for e in page.errors]
    assert len(errors) == 1 and "10 fields, header has 9" in errors[0][0]
    assert len(tickets) == 151  # every good row around the broken one is kept
    mapped = map_records("activiteiten", events)
    assert {e["status"] for e in mapped} >= {"scheduled", "cancelled"}
    assert any(e["title"].get("fr") for e in mapped)
    night = next(e for e in mapped if e["start"].startswith("2025-03-29T22:00"))
    assert night["start"].endswith("+01:00") and night["end"] == "2025-03-30T05:00:00+02:00"
    assert night["calendar"] == "single"
    assert all(e["venue"].get("name") for e in mapped), "every activity's venue is joined"


def test_unchanged_files_are_skipped_by_key_and_etag_and_mutations_come_back(sandbox: UwpSandbox) -> None:
    box = UwpSandbox(bucket="incremental-house", prefix="")
    box.start()
    try:
        connector = UwpConnector(s3_config(box), SyncContext(house=HOUSE))
        states = {s: read_all(connector, s)[1] for s in SAMPLE_FILES}
        for stream, state in states.items():
            assert list(connector.read(stream, state)) == [], f"{stream}: unchanged files were read again"
        changed = set(box.mutate(2))
        for stream, state in states.items():
            raws, new_state, _ = read_all(connector, stream, state)
            key = UwpConnector.stream(stream).primary_key
            assert {r[key] for r in raws} <= changed and len(raws) == 2, (stream, [r[key] for r in raws])
            assert new_state is not None and state is not None and new_state["cursor"] > state["cursor"]
            future = read_all(connector, stream, {"cursor": "2999-01-01T00:00:00Z"})[0]
            assert future == []
    finally:
        box.stop()


def test_a_killed_sync_resumes_inside_a_file_without_loss_or_duplicates(sandbox: UwpSandbox) -> None:
    connector = UwpConnector(s3_config(sandbox, chunk_rows=20), SyncContext(house=HOUSE))
    full, _, pages = read_all(connector, "deelnames")
    assert len(pages) > 3
    killed_after = pages[2]
    assert killed_after.state["current"]["row"] == 60
    assert "cursor" not in killed_after.state, "the cursor must not move before the sync ends"
    rest, final, _rest_pages = read_all(connector, "deelnames", killed_after.state)
    seen = [r["deelname_id"] for p in pages[:3] for r in p.records] + [r["deelname_id"] for r in rest]
    assert seen == [r["deelname_id"] for r in full]
    assert final is not None and "current" not in final and final["cursor"]


def test_a_changed_reference_table_re_emits_every_activity(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    shutil.copytree(DROP, folder)
    connector = UwpConnector({"folder": str(folder)}, SyncContext(house=HOUSE))
    _, state, _ = read_all(connector, "activiteiten")
    assert list(connector.read("activiteiten", state)) == []
    locatie = folder / "locatie_results.csv"
    locatie.chmod(0o644)
    locatie.write_text(locatie.read_text(encoding="utf-8").replace(",Z33,", ",Z33 Huis voor kunst,"),
                       encoding="utf-8")
    raws, _, _ = read_all(connector, "activiteiten", state)
    assert [r["locatie"]["location_name_nl"] for r in raws] == ["Z33 Huis voor kunst"]


def test_any_bucket_name_gets_its_own_seeded_drop(sandbox: UwpSandbox) -> None:
    other = UwpConnector(s3_config(sandbox, bucket="de-warande", prefix="uwp/"), SyncContext(house="warande"))
    other.check()
    theirs = {r["activiteit_id"] for r in read_all(other, "activiteiten")[0]}
    ours = {r["activiteit_id"] for r in read_all(UwpConnector(s3_config(sandbox), SyncContext(house=HOUSE)),
                                                 "activiteiten")[0]}
    assert len(theirs) == 37 and theirs & ours == {"285c5de7"}  # only the real sample row is shared


def test_s3_listing_pages_through_continuation_tokens(sandbox: UwpSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S3Source, "list_page_size", 2)
    connector = UwpConnector(s3_config(sandbox), SyncContext(house=HOUSE))
    listed = connector.source.list()
    assert len(listed) == 8
    assert sum(1 for _, path, query in sandbox.requests if query.get("continuation-token")) >= 3


def test_s3_faults_are_retried_and_auth_faults_fail_at_once(sandbox: UwpSandbox) -> None:
    connector = UwpConnector(s3_config(sandbox, max_attempts=2), SyncContext(house=HOUSE))
    sandbox.inject(503, 1, retry_after=0)
    assert read_all(connector, "participanten")[0]
    sandbox.inject(500, 5)
    with pytest.raises(VendorDownError):
        connector.check()
    sandbox.clear_faults()
    sandbox.inject(403, 1)
    with pytest.raises(AuthError, match="403"):
        connector.check()


def test_config_needs_exactly_one_of_bucket_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        UwpConnector({}, SyncContext(house=HOUSE))
    with pytest.raises(ConfigError):
        UwpConnector({"bucket": "b", "folder": "f"}, SyncContext(house=HOUSE))
    with pytest.raises(ConfigError, match="does not exist"):
        UwpConnector({"folder": str(tmp_path / "missing")}, SyncContext(house=HOUSE)).check()


def test_an_undecodable_file_is_a_dead_letter_not_a_failed_sync(tmp_path: Path) -> None:
    shutil.copytree(DROP, tmp_path / "drop")
    (tmp_path / "drop" / "participant_results_2.csv").write_bytes(b"participant_id\n\x81\x8d\x8f\n")
    connector = UwpConnector({"folder": str(tmp_path / "drop")}, SyncContext(house=HOUSE))
    raws, state, pages = read_all(connector, "participanten")
    assert [r["participant_id"] for r in raws] == ["67db4b25"]
    assert any("cannot decode" in reason for page in pages for reason, _ in page.errors)
    assert state is not None and "participant_results_2.csv" in state["files"]


def test_cp1252_beyond_the_first_8_kb_is_still_detected(tmp_path: Path) -> None:
    """Shared CsvRecords fix: the encoding sniff reads 256 KB even from an 8 KB-buffered file."""
    path = tmp_path / "participant_results.csv"
    path.write_bytes(("participant_id,participant_statsector_name\n" + "a1,GENT\n" * 3000
                      + "a2,IXELLES-ÉTANGS\n").encode("cp1252"))
    decoder = CsvRecords()
    with path.open("rb") as handle:
        rows = [r for r in decoder.decode(handle) if isinstance(r, dict)]
    assert decoder.detected_encoding == "cp1252" and rows[-1]["participant_statsector_name"] == "IXELLES-ÉTANGS"


def test_local_folder_streams_a_large_drop_with_flat_memory(tmp_path: Path) -> None:
    sizes = write_drop(tmp_path / "big", 5 * 1024 * 1024)
    big = sizes["deelname_results.csv"]
    assert sum(sizes.values()) >= 5 * 1024 * 1024
    connector = UwpConnector({"folder": str(tmp_path / "big"), "chunk_rows": 250}, SyncContext(house=HOUSE))
    tracemalloc.start()
    rows = pages = max_raw = 0
    for page in connector.read("deelnames", None):
        rows += len(page.records)
        pages += 1
        max_raw = max(max_raw, len(page.raw or b""))
        del page
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rows > 30_000 and pages > 100
    assert max_raw < big / 50, "Page.raw holds one chunk, never the file"
    # Two chunks (the page being built and the one held back to carry the final state) + the sniff buffer.
    assert peak < big / 3, f"peak {peak:,} bytes for a {big:,} byte file"


# -- conformance -----------------------------------------------------------------------------------
try:
    from podium.testing import ConnectorConformance
except ImportError:  # the suite arrives with the core; until then the tests above still run
    ConnectorConformance = None  # type: ignore[assignment,misc]

if ConnectorConformance is not None:

    class TestUwpConformance(ConnectorConformance):
        connector_class = UwpConnector
        incremental = True
        http_faults = True  # the sandbox's WSGI layer injects S3-style faults in front of moto

        sandbox_options: ClassVar[dict[str, Any]] = {"bucket": "conformance-drop", "malformed_row": False}

        def good_config(self, sandbox: UwpSandbox) -> dict[str, Any]:
            return s3_config(sandbox)

        def bad_config(self, sandbox: UwpSandbox) -> dict[str, Any] | None:
            return s3_config(sandbox, secret_access_key="wrong-secret-for-the-conformance-suite-0")
