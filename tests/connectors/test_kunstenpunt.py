"""Kunstenpunt connector: sandbox behaviour, the pitfalls of the API, `podium map` on the real responses,
and the conformance suite."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from connectors.kunstenpunt.connector import KunstenpuntConnector
from connectors.kunstenpunt.sandbox import KunstenpuntSandbox
from podium.canonical import validate
from podium.cli import main
from podium.errors import ConfigError
from podium.mapping.engine import MappingContext, load_mapping
from podium.sandbox import Refused, Request, Response
from podium.sdk.connector import SyncContext
from podium.testing import ConnectorConformance
from podium.testing.golden import golden_dir
from tests.conftest import SAMPLES

HOUSE = "toneelhuis"
TOTAL = "x_total_count"
EXPECTED_RESPONSES = SAMPLES / "kunstenpunt" / "expected_responses"
GOLDEN = golden_dir(KunstenpuntConnector)
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[KunstenpuntSandbox]:
    box = KunstenpuntSandbox(rate_limit=1000)
    box.start()
    yield box
    box.stop()


def config(box: KunstenpuntSandbox, **settings: Any) -> dict[str, Any]:
    return {"base_url": f"{box.url}/v1", "requests_per_second": 500, **settings}


def connector(box: KunstenpuntSandbox, **settings: Any) -> KunstenpuntConnector:
    return KunstenpuntConnector(config(box, **settings), SyncContext(house=HOUSE))


def read(conn: KunstenpuntConnector, stream: str) -> list[dict[str, Any]]:
    return [record for page in conn.read(stream, None) for record in page.records]


def mapped(stream: str, raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    mapping = load_mapping(KunstenpuntConnector.mappings_dir(), "kunstenpunt", stream)
    out: list[dict[str, Any]] = []
    for raw in raws:
        records, errors = mapping.map(raw, MappingContext(HOUSE, "kunstenpunt"))
        assert errors == [], errors
        out += records
    for record in out:
        assert validate(mapping.entity, record) == [], record
    return out


def list_requests(box: KunstenpuntSandbox, resource: str) -> list[dict[str, list[str]]]:
    return [query for method, path, query in box.requests if path == f"/v1/{resource}"]


# -- the sandbox behaves as the swagger says ---------------------------------------------------------
def test_lists_are_bare_arrays_with_the_total_in_the_x_total_count_header(sandbox: KunstenpuntSandbox) -> None:
    answer = requests.get(f"{sandbox.url}/v1/podiumvoorstellingen", params={"offset": 0, "limit": 3}, timeout=5)
    assert answer.status_code == 200
    assert isinstance(answer.json(), list) and len(answer.json()) == 3
    assert int(answer.headers[TOTAL]) == len(sandbox.database.voorstellingen)
    item = answer.json()[0]
    assert set(item) == {"id", "productie_titel", "productie_eigenaars", "ruimtes", "locaties", "datum", "gps"}
    assert DATE_ONLY.match(item["datum"])  # a date, no time


@pytest.mark.parametrize("query,field", [({"limit": 5}, "offset"), ({"offset": 0}, "limit"),
                                         ({"offset": "nul", "limit": 5}, "offset,limit")])
def test_offset_and_limit_are_required_and_refused_with_the_swaggers_error(sandbox: KunstenpuntSandbox,
                                                                           query: dict[str, Any], field: str) -> None:
    for resource in ("organiteiten", "podiumvoorstellingen"):
        answer = requests.get(f"{sandbox.url}/v1/{resource}", params=query, timeout=5)
        assert answer.status_code == 400
        assert answer.json()["code"] == 400 and answer.json()["fields"] == field  # Fout {code, message, fields}


def test_single_documents_and_an_unknown_id(sandbox: KunstenpuntSandbox) -> None:
    show_id = min(sandbox.database.voorstellingen)
    fiche = requests.get(f"{sandbox.url}/v1/podiumvoorstellingen/{show_id}", timeout=5).json()
    assert fiche["id"] == show_id and fiche["productie"]["id"] and fiche["productie"]["voorstellingen"]
    organisation = requests.get(f"{sandbox.url}/v1/organiteiten/361000", timeout=5).json()
    assert organisation["toonnaam"] == "Toneelhuis" and organisation["emails"]
    missing = requests.get(f"{sandbox.url}/v1/podiumvoorstellingen/999", timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == 404


def test_filters_by_organiteit_and_date(sandbox: KunstenpuntSandbox) -> None:
    base = f"{sandbox.url}/v1/podiumvoorstellingen"
    page = {"offset": 0, "limit": 500}
    toneelhuis = requests.get(base, params={**page, "organiteit_id": 361000}, timeout=5).json()
    assert toneelhuis and all("Toneelhuis" in item["productie_eigenaars"] for item in toneelhuis)
    iso = requests.get(base, params={**page, "from_date": "2026-03-01", "until_date": "2026-06-30"}, timeout=5)
    day_first = requests.get(base, params={**page, "from_date": "01/03/2026", "until_date": "30/06/2026"}, timeout=5)
    assert iso.json() == day_first.json()
    assert all("2026-03-01" <= item["datum"] <= "2026-06-30" for item in iso.json())
    assert requests.get(base, params={**page, "from_date": "maart"}, timeout=5).status_code == 400
    artist = min(a["artiest_id"] for c in sandbox.database.concerten.values() for a in c["artiesten"])
    abroad = requests.get(f"{sandbox.url}/v1/buitenlandse_concerten", params={**page, "organiteit_id": artist},
                          timeout=5).json()
    assert len(abroad) == 1 and abroad[0]["artiesten"] and abroad[0]["location"]


def test_a_burst_past_the_rate_limit_gets_429_with_retry_after() -> None:
    with KunstenpuntSandbox(rate_limit=5) as box:
        answers = [requests.get(f"{box.url}/v1/organiteiten", params={"offset": 0, "limit": 1}, timeout=5)
                   for _ in range(8)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and all(a.headers["Retry-After"] for a in limited)
    assert limited[0].json()["code"] == 429


def test_the_sandbox_data_is_seeded_and_flemish() -> None:
    first, second = KunstenpuntSandbox().database, KunstenpuntSandbox().database
    assert first == second
    names = {o["toonnaam"] for o in first.organiteiten.values()}
    assert {"Toneelhuis", "CC Hasselt", "De Warande"} <= names
    venues = {first.organiteiten[s["venue_id"]]["toonnaam"] for s in first.voorstellingen.values()}
    assert len(venues) >= 4  # performances in several venues


# -- pitfalls ----------------------------------------------------------------------------------------
def test_a_date_only_performance_starts_on_that_date_never_a_made_up_midnight(sandbox: KunstenpuntSandbox) -> None:
    raws = read(connector(sandbox, details=False), "podiumvoorstellingen")
    events = mapped("podiumvoorstellingen", raws)
    served = {str(raw["id"]): raw["datum"] for raw in raws}
    assert events and all(DATE_ONLY.match(e["start"]) for e in events)
    assert all(e["start"] == served[e["source"]["id"]] for e in events)
    assert not any("T" in e["start"] or "end" in e for e in events)
    # The 2017 staging server's dd/mm/yyyy: still a date, the day first.
    (staging,) = json.loads((GOLDEN / "podiumvoorstellingen.staging-2017-fiche.expected.json").read_text())
    assert staging["start"] == "2016-10-08"


@pytest.mark.parametrize("last_page", ["full", "short"])
def test_the_total_header_ends_paging_exactly(last_page: str) -> None:
    with KunstenpuntSandbox(rate_limit=1000, productions=12) as box:
        total = len(box.database.voorstellingen)
        # "full": the total is a multiple of the page size (a short-page rule would ask for an empty page);
        # "short": the last page is short and must still be read.
        page_size = next(n for n in range(5, total) if (total % n == 0) == (last_page == "full"))
        raws = read(connector(box, details=False, page_size=page_size), "podiumvoorstellingen")
        pages = list_requests(box, "podiumvoorstellingen")
    assert sorted(r["id"] for r in raws) == sorted(box.database.voorstellingen)  # no missed last page
    assert len(pages) == -(-total // page_size)  # no extra request after the last one
    assert [int(q["offset"][0]) for q in pages] == list(range(0, total, page_size))


def test_paging_ends_on_the_total_when_it_is_a_multiple_of_the_page_size() -> None:
    with KunstenpuntSandbox(rate_limit=1000) as box:
        total = len(box.database.organiteiten)  # 34 = 2 × 17
        raws = read(connector(box, details=False, page_size=17), "organiteiten")
        pages = list_requests(box, "organiteiten")
    assert total == 34 and len(raws) == total
    assert len(pages) == 2  # a short-page rule alone would ask for an empty third page


def test_an_organisation_is_a_contact_with_organization_and_a_person_has_names(sandbox: KunstenpuntSandbox) -> None:
    contacts = {c["source"]["id"]: c for c in mapped("organiteiten", read(connector(sandbox), "organiteiten"))}
    toneelhuis = contacts["361000"]
    assert toneelhuis["organization"] == "Toneelhuis"
    assert toneelhuis["email"] == "info@toneelhuis.be" and toneelhuis["phones"] == ["+3232248844"]
    assert "given_name" not in toneelhuis and "family_name" not in toneelhuis
    venue = contacts["363000"]
    assert venue["organization"] == "CC Hasselt" and venue["address"]["city"] == "Hasselt"
    people = [c for c in contacts.values() if "organization" not in c]
    assert len(people) == 16 and all(p["given_name"] and p["family_name"] and p["birth_year"] for p in people)
    particle = next(p for p in people if p["family_name"].startswith("Van den "))
    assert " " not in particle["given_name"]


def test_a_person_born_before_the_canonical_range_keeps_the_year_in_extras_and_is_not_rejected() -> None:
    # Kunstenpunt's music database describes composers born long before 1880 (contact.birth_year's minimum).
    (composer,) = mapped("organiteiten", [{"id": 1877001, "type": "Person", "toonnaam": "Peter Benoit",
                                           "startjaar": 1834, "locatie": "Harelbeke"}])
    assert (composer["given_name"], composer["family_name"]) == ("Peter", "Benoit")
    assert "birth_year" not in composer and composer["extras"]["startjaar"] == 1834


def test_every_performance_is_linked_to_its_production(sandbox: KunstenpuntSandbox) -> None:
    db = sandbox.database
    events = mapped("podiumvoorstellingen", read(connector(sandbox), "podiumvoorstellingen"))
    assert len(events) == len(db.voorstellingen)
    for event in events:
        show = db.voorstellingen[int(event["source"]["id"])]
        productie = db.producties[show["productie_id"]]
        assert event["production"] == {"source_id": str(productie["id"]), "title": {"nl": productie["titel"]}}
        company = next(o for o in productie["organiteiten"] if o["functie"] == "gezelschap")
        assert event["organizer"] == {"name": company["naam"], "source_id": str(company["id"])}
        assert event["venue"]["name"] == db.organiteiten[show["venue_id"]]["toonnaam"]
        assert event["categories"] == [{"id": str(productie["seizoen_beginjaar"]), "label": productie["seizoen"],
                                        "domain": "seizoen"}]
    by_production: dict[str, set[str]] = {}
    for event in events:
        by_production.setdefault(event["production"]["source_id"], set()).add(event["source"]["id"])
    assert len(by_production) == len(db.producties) and any(len(ids) > 1 for ids in by_production.values())


def test_without_details_a_performance_keeps_its_title_and_owner_but_no_production_id(
        sandbox: KunstenpuntSandbox) -> None:
    events = mapped("podiumvoorstellingen", read(connector(sandbox, details=False), "podiumvoorstellingen"))
    assert events and all("production" not in e and e["title"]["nl"] and e["organizer"]["name"] for e in events)


class _DetailNotFound(KunstenpuntSandbox):
    """A list id the detail path does not know (the 2017 staging server prefixed its detail ids)."""

    hidden = 0

    def route(self, request: Request) -> Response:
        if request.path == f"/v1/podiumvoorstellingen/{self.hidden}":
            raise Refused(404, f"podiumvoorstelling {self.hidden} niet gevonden")
        return super().route(request)


def test_a_detail_the_vendor_cannot_find_fails_the_stream_before_its_page_is_handed_on() -> None:
    with _DetailNotFound(rate_limit=1000, productions=2) as box:
        box.hidden = min(box.database.voorstellingen)
        with pytest.raises(ConfigError, match="404"):
            read(connector(box), "podiumvoorstellingen")
        # With details off the same page reads: the choice a house makes if the ids do not match.
        assert len(read(connector(box, details=False), "podiumvoorstellingen")) == len(box.database.voorstellingen)


# -- every shape the vendor serves ---------------------------------------------------------------------
STREAM_OF = {"bcs_.json": "buitenlandse_concerten"}


@pytest.mark.skipif(not EXPECTED_RESPONSES.is_dir(), reason="vendor samples not present")
@pytest.mark.parametrize("name", sorted(p.name for p in EXPECTED_RESPONSES.glob("*.json"))
                         if EXPECTED_RESPONSES.is_dir() else [])
def test_podium_map_reads_every_expected_response(name: str) -> None:
    stream = STREAM_OF.get(name, name.split(".")[0])
    result = CliRunner().invoke(main, ["map", "kunstenpunt", stream, str(EXPECTED_RESPONSES / name),
                                       "--house", HOUSE])
    assert "Traceback" not in result.output
    golden = GOLDEN / f"{stream}.expected-response-{name.removesuffix('.json').strip('_')}.expected.json"
    expected = json.loads(golden.read_text(encoding="utf-8"))
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    letters = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    if isinstance(expected, dict):  # the golden case proves a rejection: the same reasons, one per record
        assert result.exit_code == 3 and records == expected["records"]
        assert len(letters) == len(expected["errors"])
        assert all(error in letter["reason"] for letter, error in zip(letters, expected["errors"], strict=True))
    else:
        assert result.exit_code == 0 and records == expected


@pytest.mark.parametrize("stream,case", [("podiumvoorstellingen", "sandbox-fiche"),
                                         ("podiumvoorstellingen", "staging-2017-fiche"),
                                         ("organiteiten", "sandbox-person-fiche"),
                                         ("organiteiten", "sandbox-venue-fiche")])
def test_podium_map_reads_a_single_document(stream: str, case: str) -> None:
    result = CliRunner().invoke(main, ["map", "kunstenpunt", stream, str(GOLDEN / f"{stream}.{case}.input.json"),
                                       "--house", HOUSE])
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert record == json.loads((GOLDEN / f"{stream}.{case}.expected.json").read_text(encoding="utf-8"))[0]


def test_podium_connectors_lists_kunstenpunt_with_its_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    result = CliRunner().invoke(main, ["connectors"])
    line = next(line for line in result.output.splitlines() if "kunstenpunt" in line)
    assert "podiumvoorstellingen → event" in line and "organiteiten → contact" in line and "podium_none" in line


# -- the standard suite ----------------------------------------------------------------------------------
class TestKunstenpuntConformance(ConnectorConformance):
    connector_class = KunstenpuntConnector
    incremental = False  # no change filter: every sync reads the selection again, the hash skips repeats
    http_faults = True
    sandbox_options: dict[str, Any] = {"productions": 4, "rate_limit": 1000}

    def good_config(self, sandbox: KunstenpuntSandbox) -> dict[str, Any]:
        return config(sandbox)

    def bad_config(self, sandbox: KunstenpuntSandbox) -> dict[str, Any] | None:
        return None  # the API has no credentials to get wrong
