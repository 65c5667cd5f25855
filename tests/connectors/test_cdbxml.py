"""CdbXML 3.3 connector: golden mappings of the real samples, unsafe XML, the local feed, the sandbox
(Search API v1 xmlview) and the conformance suite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from connectors.cdbxml.connector import DECODER, CdbXmlConnector, changedsince, local_cursor
from connectors.cdbxml.decoder import calendar_occurrences, parse_tariffs, summary_calendar
from connectors.cdbxml.generate import parse_size, write_feed
from connectors.cdbxml.sandbox import DEFAULT_API_KEY, CdbXmlSandbox
from podium.canonical import validate
from podium.errors import AuthError, ConfigError, UnsafeXmlError
from podium.mapping.engine import MappingContext, load_mapping
from podium.parsing import RecordError, element_to_dict
from podium.sdk.connector import SyncContext
from podium.testing import ConnectorConformance
from podium.testing.golden import golden_dir

GOLDEN = golden_dir(CdbXmlConnector)  # golden cases: tests/connectors/test_golden.py
SAMPLES = sorted(p for p in GOLDEN.glob("events.*.input.xml") if not p.name.startswith("events.sandbox-"))
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "cdbxml"
HOUSE = "cc-hasselt"


def map_document(data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """Decode a CdbXML document and map every record: (canonical records, error reasons)."""
    mapping = load_mapping(MAPPINGS, "cdbxml", "events")
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    for raw in DECODER.decode(data):
        if isinstance(raw, RecordError):
            errors.append(raw.reason)
            continue
        if raw.get("@_tag") == "nofrecords":
            continue
        canonical, failed = mapping.map(raw, MappingContext(HOUSE, "cdbxml"))
        records += canonical
        errors += [str(e) for e in failed]
    return records, errors


def sample(name: str) -> bytes:
    return (GOLDEN / f"events.{Path(name).stem}.input.xml").read_bytes()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CdbXmlSandbox]:
    box = CdbXmlSandbox()
    box.start()
    yield box
    box.stop()


def connector(box: CdbXmlSandbox | None = None, **settings: Any) -> CdbXmlConnector:
    config: dict[str, Any] = {"requests_per_second": 500, **settings}
    if box is not None:
        config = {"base_url": box.url, "api_key": box.api_key, **config}
    return CdbXmlConnector(config, SyncContext(house=HOUSE))


# -- golden mappings of the real samples -------------------------------------------------------------
def test_all_real_samples_are_copied() -> None:
    assert len(SAMPLES) == 18, "4 cultuurnet/Cdb + 14 udb3-cdbxml-service samples"


def test_every_event_sample_gives_valid_events_and_actors_are_skipped_with_a_reason() -> None:
    for path in SAMPLES:
        records, errors = map_document(path.read_bytes())
        case = path.name.removeprefix("events.")
        if case.startswith(("actor", "place")):
            assert records == [] and len(errors) == 1 and errors[0].startswith("actor, not an event"), path.name
        elif case.startswith("event-"):
            assert records and errors == [], path.name


def test_guide_example_in_the_32_namespace_maps_details_location_and_organiser() -> None:
    [record], errors = map_document(sample("event-cdbxml-3.3-guide-example-6-2.xml"))
    assert errors == []
    assert record["title"] == {"nl": "The Bonnefooi Acoustic Jam"}
    assert record["description"] == {"nl": "Weggelaten voor leesbaarheid...", "en": "Short description."}
    assert record["start"] == "2010-08-01T21:00:00+02:00" and record["calendar"] == "single"
    assert record["venue"] == {"name": "Café Bonnefooi", "source_id": "920e9755-94a0-42c1-8c8c-9d17f693d0be",
                               "address": {"street": "Steenstraat 8", "postal_code": "1000", "city": "Brussel",
                                           "country": "BE"}}
    assert record["organizer"] == {"name": "Café Bonnefooi"}
    assert record["external_ids"] == {"cdbxml_externalid": "SKB Import:SKB00001_216413"}
    assert record["extras"]["eventdetail_extras"]["performers"]["nl"]["performer"]["role"] == "Muzikant"


def test_timestamps_explode_into_occurrences_sharing_the_production() -> None:
    records, _ = map_document(sample("event.xml"))
    assert [r["source"]["id"] for r in records] == ["404EE8DE-E828-9C07-FE7D12DC4EB24480#2014-01-31T13:00",
                                                    "404EE8DE-E828-9C07-FE7D12DC4EB24480#2014-02-20T12:00"]
    assert {r["production"]["source_id"] for r in records} == {"404EE8DE-E828-9C07-FE7D12DC4EB24480"}
    assert records[0]["start"] == "2014-01-31T13:00:00+01:00" and records[0]["end"] == "2014-01-31T15:00:00+01:00"
    assert records[0]["categories"][0] == {"id": "0.50.6.0.0", "label": "film", "domain": "eventtype"}
    assert len({r["id"] for r in records}) == 2


def test_timestamps_sharing_a_seconds_index_are_one_multi_day_span() -> None:
    records, _ = map_document(sample("event-with-calendar-updated.xml"))
    assert [(r["start"], r["end"]) for r in records] == [
        ("2100-01-26T09:00:00+01:00", "2100-02-01T16:00:00+01:00"),
        ("2100-02-03T09:00:00+01:00", "2100-02-10T16:00:00+01:00")]


def test_permanent_calendar_has_no_start_and_keeps_opening_hours_in_extras() -> None:
    [record], _ = map_document(sample("event-with-opening-hours.xml"))
    assert record["calendar"] == "permanent" and "start" not in record
    assert record["extras"]["weekscheme"]["saturday"]["openingtime"]["@from"] == "12:00:00"


def test_pricedescription_tariffs_become_multilingual_prices() -> None:
    records, _ = map_document(sample("event-with-multilingual-price-info.xml"))
    assert records[0]["prices"] == [
        {"category": "base", "name": {"nl": "Basistarief", "fr": "Tarif de base", "en": "Base tariff"},
         "amount": 10.5, "currency": "EUR"},
        {"category": "tariff", "name": {"nl": "Werkloze dodo kwekers", "fr": "Werkloze dodo kwekers FR",
                                        "en": "Werkloze dodo kwekers EN"}, "amount": 7.76, "currency": "EUR"},
        {"category": "tariff", "name": {"nl": "Seniele senioren", "fr": "Seniele senioren FR",
                                        "en": "Seniele senioren EN"}, "amount": 0.0, "currency": "EUR"}]
    assert records[0]["title"] == {"nl": "Griezelfilm of horror", "fr": "Titel FR", "en": "Griezelfilm of horror"}


def test_parse_tariffs_is_all_or_nothing() -> None:
    assert parse_tariffs("Basistarief: 10,00 €; Kinderen: 5,00 €") == [("Basistarief", 10.0), ("Kinderen", 5.0)]
    assert parse_tariffs("Basistarief: € 1.250,50") == [("Basistarief", 1250.5)]
    assert parse_tariffs("135€/week/kind") is None
    assert parse_tariffs("Basistarief: 10,00 €; gratis voor vrienden") is None


def test_location_and_organiser_ids_and_free_entrance() -> None:
    records, _ = map_document(sample("event-with-place-and-organizer-with-external-ids-and-cdbids.xml"))
    assert records[0]["venue"]["source_id"] == "20ffb163-d5be-4a70-8f3a-fc853d17bbb4"
    assert records[0]["organizer"] == {"name": "DE Studio", "source_id": "c1fb0316-85a0-4dd3-9fa7-02410dff0e0f"}
    free, _ = map_document(sample("event-with-free-entrance.xml"))
    assert free[0]["prices"] == [{"category": "base", "name": {"nl": "Basistarief"}, "amount": 0.0,
                                  "currency": "EUR"}]


def test_deleted_event_gives_a_tombstone_per_occurrence() -> None:
    records, errors = map_document(sample("event-deleted.xml"))
    assert errors == [] and len(records) == 2
    assert all(r["deleted"] is True for r in records)
    assert records[0]["modified"] == "2016-04-15T09:01:47Z"


def test_eventlist_flat_items_map_what_they_carry() -> None:
    records, errors = map_document(sample("eventlist-cdbxml-3.2.xml"))
    assert errors == ["event has no dates: no <timestamp>, <period> or <permanent> in its calendar "
                      "(the list item's calendarsummary is empty)"]
    assert len({r["production"]["source_id"] for r in records}) == 49
    first = next(r for r in records if r["source"]["id"] == "f00539b9-bace-44ac-8a55-9688f4155c1f")
    assert first["title"] == {"nl": "Event met meerdere afbeeldingen"}
    assert (first["start"], first["end"]) == ("2013-12-12T18:00:00+01:00", "2013-12-12T20:00:00+01:00")
    assert first["venue"] == {"name": "Kunstencentrum Vooruit", "source_id": "6629",
                              "address": {"postal_code": "1000", "city": "Brussels", "country": "BE"}}
    assert first["categories"] == [{"label": "Concert", "domain": "eventtype"},
                                   {"label": "Pop en rock", "domain": "theme"}]
    two_dates = [r for r in records if r["production"]["source_id"] == "184ceff8-ee6a-4e5a-94dc-76827448453b"]
    assert [(r["source"]["id"][-17:], r["start"]) for r in two_dates] == [
        ("#2013-05-22T17:00", "2013-05-22T17:00:00+02:00"), ("#2013-05-30T14:00", "2013-05-30T14:00:00+02:00")]
    shared_hour = [r["start"] for r in records if r["production"]["source_id"] == "4c6d177c-792a-4f01-989a-9f1820106c75"]
    assert shared_hour == ["2013-03-11T19:30:00+01:00", "2013-03-15T19:30:00+01:00"]
    night = [r for r in records if r.get("start") == "2013-06-29T23:00:00+02:00"]
    assert night and night[0]["end"] == "2013-06-30T05:00:00+02:00"
    period = next(r for r in records if r["source"]["id"] == "bc26e210-5d0e-403e-8c25-8f62dc9a8ca5")
    assert period["calendar"] == "periodic" and period["end"] == "2013-08-30T23:59:59+02:00"
    assert any(p.get("prices") == [{"category": "base", "amount": 135.0, "currency": "EUR"}] for p in records)


def test_calendar_summary_parsing() -> None:
    assert summary_calendar("ma 11/03/13, vrij 15/03/13 om 19:30 ") == {"timestamps": {"timestamp": [
        {"date": "2013-03-11", "timestart": "19:30:00"}, {"date": "2013-03-15", "timestart": "19:30:00"}]}}
    assert summary_calendar("van 01/05/13 tot 01/12/13 \r\nzo, di (ma gesloten)") == {
        "periods": {"period": {"datefrom": "2013-05-01", "dateto": "2013-12-01"}}}
    assert summary_calendar("") is None


def test_calendar_period_fragment_without_namespace() -> None:
    """cultuurnet/Cdb's period.xml is a bare <calendar> fragment: it holds no event, so the feed decoder
    yields nothing, and its calendar explodes into one periodic occurrence."""
    data = sample("calendar-period-fragment.xml")
    assert list(DECODER.decode(data)) == []
    calendar = element_to_dict(etree.fromstring(data))
    assert calendar_occurrences(calendar) == [{
        "key": "2013-12-06", "calendar": "periodic", "start": "2013-12-06T00:00:00", "end": "2013-12-25T23:59:59",
        "weekscheme": calendar["period"]["weekscheme"]}]


# -- bad input -----------------------------------------------------------------------------------------
EVENT = ('<event cdbid="{id}" lastupdated="2025-03-01T10:00:00"><calendar><timestamps><timestamp>'
         '<date>{date}</date><timestart>20:00:00</timestart></timestamp></timestamps></calendar>'
         '<eventdetails><eventdetail lang="nl"><title>Voorstelling</title></eventdetail></eventdetails></event>')
NS = 'xmlns="http://www.cultuurdatabank.com/XMLSchema/CdbXSD/3.3/FINAL"'


def test_a_bad_record_is_a_mapping_error_and_never_costs_its_neighbours() -> None:
    body = "".join(EVENT.format(id=i, date=d) for i, d in (("a", "2025-03-29"), ("b", "29/03/2025"), ("c", "2025-03-30")))
    records, errors = map_document(f"<cdbxml {NS}>{body}</cdbxml>".encode())
    assert [r["source"]["id"] for r in records] == ["a", "c"]
    assert errors == ["calendar: timestamp 1: not a date: '29/03/2025'"]
    assert records[1]["start"] == "2025-03-30T20:00:00+02:00"  # the day summer time starts


def test_a_foreign_namespace_is_a_record_error() -> None:
    data = f'<cdbxml xmlns="urn:other">{EVENT.format(id="x", date="2025-01-01")}</cdbxml>'.encode()
    [item] = list(DECODER.decode(data))
    assert isinstance(item, RecordError) and "unsupported namespace 'urn:other'" in item.reason


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE cdbxml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<cdbxml><event cdbid="x"><eventdetails><eventdetail lang="nl"><title>&xxe;</title></eventdetail></eventdetails></event></cdbxml>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<cdbxml><event cdbid="x"><eventdetails><eventdetail lang="nl"><title>&lol2;</title></eventdetail></eventdetails></event></cdbxml>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE cdbxml SYSTEM "http://127.0.0.1:9/evil.dtd">
<cdbxml><event cdbid="x"/></cdbxml>"""


@pytest.mark.parametrize("data", [XXE, LAUGHS, EXTERNAL_DTD], ids=["xxe", "billion-laughs", "external-dtd"])
def test_unsafe_xml_is_refused_with_a_clear_error(data: bytes, tmp_path: Path) -> None:
    with pytest.raises(UnsafeXmlError, match="unsafe XML refused"):
        list(DECODER.decode(data))
    feed = tmp_path / "feed.xml"
    feed.write_bytes(data)
    pages = list(connector(feed_path=str(feed)).read("events", None))
    assert [p.records for p in pages] == [[]]
    assert "unsafe XML refused" in pages[0].errors[0][0]


# -- the local feed ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def feed_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("feed") / "feed.xml"
    count = write_feed(path, 400_000)
    return path, count


def test_generator_writes_a_streaming_feed_of_the_asked_size(feed_file: tuple[Path, int]) -> None:
    path, count = feed_file
    assert path.stat().st_size >= 400_000 and count > 100
    assert parse_size("1G") == 1 << 30 and parse_size("200M") == 200 << 20 and parse_size("512") == 512
    records, errors = map_document(path.read_bytes())
    assert errors == [] and len({r["production"]["source_id"] for r in records}) == count


def test_local_file_feed_streams_in_batches_without_raw_for_large_files(feed_file: tuple[Path, int]) -> None:
    path, count = feed_file
    pages = list(connector(feed_path=str(path), batch_size=40, raw_max_bytes=1000).read("events", None))
    assert sum(len(p.records) for p in pages) == count
    assert all(p.raw is None for p in pages) and all(len(p.records) <= 40 for p in pages)
    assert pages[0].state["resume"] == {"file": "feed.xml", "skip": 40}
    assert "resume" not in pages[-1].state and pages[-1].state["cursor"]
    small = list(connector(feed_path=str(path), batch_size=10_000).read("events", None))
    assert small[0].raw == path.read_bytes()


def test_local_feed_resumes_mid_file_and_reads_incrementally(feed_file: tuple[Path, int]) -> None:
    path, count = feed_file
    conn = connector(feed_path=str(path), batch_size=50)
    pages = list(conn.read("events", None))
    resumed = list(conn.read("events", pages[1].state))
    assert sum(len(p.records) for p in resumed) == count - 100
    again = list(conn.read("events", pages[-1].state))
    assert sum(len(p.records) for p in again) == 0


def test_local_folder_feed_reads_every_xml_file_in_name_order(tmp_path: Path) -> None:
    for name in ("b.xml", "a.xml"):
        (tmp_path / name).write_bytes(sample("event-with-price-info.xml"))
    (tmp_path / "notes.txt").write_text("not a feed")
    pages = list(connector(feed_path=str(tmp_path)).read("events", None))
    assert [p.label.split()[0] for p in pages] == ["file=a.xml", "file=b.xml"]
    assert pages[0].state["resume"] == {"file": "b.xml", "skip": 0}


def test_missing_settings_and_paths_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs one of: base_url \+ api_key \| feed_path"):
        connector().check()
    with pytest.raises(ConfigError, match="does not exist"):
        connector(feed_path=str(tmp_path / "nope.xml")).check()
    with pytest.raises(ConfigError, match=r"no \*\.xml"):
        connector(feed_path=str(tmp_path)).check()


# -- the sandbox (Search API v1 xmlview) -------------------------------------------------------------
def test_cursor_and_changedsince_formats() -> None:
    from zoneinfo import ZoneInfo

    brussels = ZoneInfo("Europe/Brussels")
    assert local_cursor("2999-01-01T00:00:00Z", brussels) == "2999-01-01T01:00:00"
    assert local_cursor("2025-07-01T10:00:00", brussels) == "2025-07-01T10:00:00"
    assert changedsince("2010-01-19T20:00:59") == "2010-01-19T20.00"


def test_wrong_or_missing_key_is_the_vendors_401_and_an_auth_error_without_the_secret(
        sandbox: CdbXmlSandbox) -> None:
    answer = requests.get(f"{sandbox.url}/api/events/xmlview", params={"key": "nope"}, timeout=5)
    assert answer.status_code == 401 and b"<code>Unauthorized</code>" in answer.content
    assert requests.get(f"{sandbox.url}/api/events/xmlview", timeout=5).status_code == 401
    with pytest.raises(AuthError) as caught:
        connector(sandbox, api_key="very-secret-wrong-key").check()
    assert "401" in str(caught.value) and "very-secret-wrong-key" not in str(caught.value)


def test_paging_with_page_and_pagelength(sandbox: CdbXmlSandbox) -> None:
    conn = connector(sandbox, page_length=25)
    pages = list(conn.read("events", None))
    assert [p.label for p in pages] == ["page=1", "page=2", "page=3"]
    assert [len(p.records) for p in pages] == [25, 25, 10]
    assert pages[0].state["resume"] == {"page": 2} and pages[-1].state["cursor"] == max(
        r["@lastupdated"] for p in pages for r in p.records)
    sent = [q for _, path, q in sandbox.requests if path == "/api/events/xmlview"][-3:]
    assert [q["page"] for q in sent] == [["1"], ["2"], ["3"]] and all(q["key"] == ["***"] for q in sent)
    resumed = list(conn.read("events", pages[0].state))
    assert [p.label for p in resumed] == ["page=2", "page=3"]


def test_changedsince_filters_and_the_cursor_drops_the_overlap(sandbox: CdbXmlSandbox) -> None:
    events = sandbox.dataset()
    middle = sorted(e.lastupdated for e in events)[30]
    params = {"key": DEFAULT_API_KEY, "changedsince": changedsince(middle), "pagelength": "100"}
    answer = requests.get(f"{sandbox.url}/api/events/xmlview", timeout=5, params=params)
    served = answer.content.count(b"<event ")
    assert served >= 30  # minute precision: the cursor's own minute comes back
    raws = [r for p in connector(sandbox).read("events", {"cursor": middle}) for r in p.records]
    assert len(raws) == 29 and all(r["@lastupdated"] > middle for r in raws)


def test_429_answers_the_rsp_envelope_and_is_waited_out(sandbox: CdbXmlSandbox) -> None:
    assert b"TooManyRequests" in sandbox.rate_limited().body
    sandbox.inject(429, 1, retry_after=1)
    started = time.monotonic()
    pages = list(connector(sandbox).read("events", None))
    assert time.monotonic() - started >= 0.9 and pages[0].records


def test_sandbox_data_has_dst_series_night_shows_periods_cancellations_and_tombstones(
        sandbox: CdbXmlSandbox) -> None:
    raws = [r for p in connector(sandbox).read("events", None) for r in p.records]
    mapping = load_mapping(MAPPINGS, "cdbxml", "events")
    records = []
    for raw in raws:
        out, errors = mapping.map(raw, MappingContext(HOUSE, "cdbxml"))
        assert errors == []
        records += out
    assert all(validate("event", r) == [] for r in records)
    starts = {r.get("start") for r in records}
    assert "2025-03-30T15:00:00+02:00" in starts and "2025-03-28T20:15:00+01:00" in starts  # spring switch
    assert "2025-10-26T15:00:00+01:00" in starts and "2025-10-25T20:15:00+02:00" in starts  # autumn switch
    night = next(r for r in records if r.get("start") == "2025-03-29T23:00:00+01:00")
    assert night["end"] == "2025-03-30T05:00:00+02:00"
    assert {"single", "periodic", "permanent"} <= {r.get("calendar") for r in records}
    assert any(r["status"] == "cancelled" for r in records) and any(r["deleted"] for r in records)
    assert any(r["title"].get("fr") for r in records)
    assert any(p.get("name", {}).get("fr") == "Tarif social UiTPAS" for r in records for p in r.get("prices", []))


def test_any_organiser_gets_its_own_deterministic_data(sandbox: CdbXmlSandbox) -> None:
    hasselt = [r for p in connector(sandbox, organiser="CC Hasselt").read("events", None) for r in p.records]
    again = [r for p in connector(sandbox, organiser="CC Hasselt").read("events", None) for r in p.records]
    warande = [r for p in connector(sandbox, organiser="De Warande").read("events", None) for r in p.records]
    assert hasselt == again
    assert {r["@cdbid"] for r in hasselt}.isdisjoint({r["@cdbid"] for r in warande})
    assert {r["location"]["label"]["#text"] for r in hasselt} == {"CC Hasselt"}


def test_mutate_bumps_single_date_events_of_every_dataset(today: date) -> None:
    box = CdbXmlSandbox()
    box.dataset("CC Strombeek")
    newest = max(e.lastupdated for events in box._datasets.values() for e in events)
    changed = box.mutate(2)
    assert len(changed) == 4
    bumped = [e for events in box._datasets.values() for e in events if e.cdbid in changed]
    # after every change already served, so a changedsince read finds them; dated today when today is later
    assert all(e.lastupdated > newest and e.occurrences == 1 for e in bumped)
    if today.isoformat() > newest[:10]:
        assert all(e.lastupdated.startswith(today.isoformat()) for e in bumped)


# -- the conformance suite ---------------------------------------------------------------------------
class TestCdbXmlConformance(ConnectorConformance):
    connector_class = CdbXmlConnector
    incremental = True
    http_faults = True


    def good_config(self, sandbox: CdbXmlSandbox) -> dict[str, Any]:
        return {"base_url": sandbox.url, "api_key": sandbox.api_key, "requests_per_second": 500}

    def bad_config(self, sandbox: CdbXmlSandbox) -> dict[str, Any]:
        return {"base_url": sandbox.url, "api_key": "not-the-sandbox-key", "requests_per_second": 500}


def test_format_transform_fills_an_address_and_leaves_out_missing_parts() -> None:
    from podium.mapping.transforms import TRANSFORMS

    street = TRANSFORMS["format"]("{street} {housenr}")
    assert street({"street": "Kunstlaan", "housenr": "5"}, None) == "Kunstlaan 5"
    assert street({"street": {"#text": "Vlamingstraat"}}, None) == "Vlamingstraat"
    with pytest.raises(ValueError):
        street("Kunstlaan 5", None)


def test_the_decoder_parses_vendor_text_and_the_mapping_is_data() -> None:
    """Calendar, tariffs and refusals come out of the decoder as plain fields; events.yaml has no hook."""
    (event,) = [r for r in DECODER.decode(sample("event-with-multilingual-price-info.xml"))
                if not isinstance(r, RecordError) and r.get("@_tag") == "event"]
    assert "calendar" not in event and event["occurrences"]
    occurrence = event["occurrences"][0]
    assert occurrence["production"] == event["@cdbid"] and occurrence["start"][:4].isdigit()
    assert all(isinstance(price["amount"], float) for price in occurrence["prices"]) and occurrence["prices"]
    (actor,) = [r for r in DECODER.decode(sample("actor-with-translated-title.xml")) if not isinstance(r, RecordError)]
    assert actor["refused"].startswith("actor, not an event") and "occurrences" not in actor
    spec = (MAPPINGS / "events.yaml").read_text(encoding="utf-8")
    assert not any(line.startswith(("pre:", "post:", "function:")) for line in spec.splitlines())
