"""Every shape a vendor serves: each stream declares the document shapes it accepts (a list page, a
single record, namespace versions) and has a golden case for each; ``podium map`` reads them all.

The shapes a stream declares are its decoder's (``podium.parsing.document_shapes``); a golden case's
shape is what the decoder reads it as (``podium.parsing.shape_of``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from podium.cli import main
from podium.parsing import LIST_PAGE, SINGLE_RECORD, document_shapes, shape_of
from podium.registry import all_connectors, builtin_names
from podium.testing.golden import GoldenCase, golden_cases, map_case

CONNECTORS = all_connectors()
REPO = Path(__file__).resolve().parents[2]

BOTH = {LIST_PAGE, SINGLE_RECORD}
# The six connectors built before issue 9, and the shapes each vendor serves per stream (sources in each
# connector's README): a single record alone where the vendor has one (GET /events/{id}; a Recreatex
# Find* by Id answers its one record), list pages everywhere; a UWP drop is CSV files only.
EXISTING: dict[str, dict[str, set[str]]] = {
    "ticketmatic": {"events": BOTH, "contacts": BOTH, "orders": BOTH},
    "yesplan": {"events": BOTH},
    "uitdatabank": {"events": BOTH},
    "recreatex": {"culture_events": BOTH, "persons": BOTH, "reservations": BOTH},
    "cdbxml": {"events": BOTH},
    "uwp": {"activiteiten": {LIST_PAGE}, "participanten": {LIST_PAGE}, "deelnames": {LIST_PAGE}},
}
STREAMS = [(name, spec.name) for name in sorted(builtin_names()) for spec in CONNECTORS[name].streams]


def cases_of(connector: str, stream: str) -> list[GoldenCase]:
    return [case for case in golden_cases(CONNECTORS[connector]) if case.stream == stream]


def case_shape(case: GoldenCase) -> str:
    return shape_of(case.connector.stream(case.stream).decoder, case.input.read_bytes())


@pytest.mark.parametrize("connector, stream", STREAMS, ids=[f"{c}/{s}" for c, s in STREAMS])
def test_every_declared_shape_of_a_stream_has_a_golden_case(connector: str, stream: str) -> None:
    declared = {shape.kind for shape in document_shapes(CONNECTORS[connector].stream(stream).decoder)}
    covered = {case_shape(case) for case in cases_of(connector, stream)}
    assert declared <= covered, f"{connector}/{stream}: no golden case for {sorted(declared - covered)}"


@pytest.mark.parametrize("connector", sorted(EXISTING))
def test_existing_streams_declare_what_their_vendor_serves_and_have_a_golden_case_of_each(connector: str) -> None:
    cls = CONNECTORS[connector]
    declared = {spec.name: {s.kind for s in document_shapes(spec.decoder)} for spec in cls.streams}
    assert declared == EXISTING[connector]
    for stream, kinds in EXISTING[connector].items():
        shapes = {case.name: case_shape(case) for case in cases_of(connector, stream)}
        assert set(shapes.values()) == kinds, (f"{connector}/{stream}", shapes)


# A record served alone maps exactly as the same record inside a list page (both are golden cases).
SAME_AS_IN_PAGE = [
    ("uitdatabank", "events", "read-example-1-single", "event-with-read-example"),
    ("uitdatabank", "events", "read-example-2-single", "event-with-read-example"),
    ("uitdatabank", "events", "read-example-3-single", "event-with-read-example"),
    ("yesplan", "events", "single", "page"),
    ("ticketmatic", "contacts", "single", "sandbox-page"),
    ("ticketmatic", "orders", "single", "page"),  # a single order carries its own lookup
    ("recreatex", "culture_events", "by-id-v3.8", "response"),
    ("recreatex", "persons", "by-id-v3.8", "response"),
    ("recreatex", "reservations", "by-id-v3.8", "response"),
]


@pytest.mark.parametrize("connector, stream, single, page", SAME_AS_IN_PAGE,
                         ids=[f"{c}/{s}.{one}" for c, s, one, _ in SAME_AS_IN_PAGE])
def test_a_single_record_maps_as_it_does_in_a_list_page(connector: str, stream: str, single: str, page: str) -> None:
    cases = {case.name: case for case in cases_of(connector, stream)}
    alone, errors = map_case(cases[single])
    assert errors == [] and alone
    assert case_shape(cases[single]) == SINGLE_RECORD and case_shape(cases[page]) == LIST_PAGE
    in_page, _ = map_case(cases[page])
    sources = [record["source"]["id"] for record in in_page]
    first = sources.index(alone[0]["source"]["id"])
    assert in_page[first:first + len(alone)] == alone


def test_recreatex_reads_every_webshop_version_namespace_public_code_shows() -> None:
    from connectors.recreatex.soap import DOCUMENTED_VERSIONS

    seen: dict[str, set[str]] = {}
    for stream in ("culture_events", "persons", "reservations"):
        decoder = CONNECTORS["recreatex"].stream(stream).decoder
        for case in cases_of("recreatex", stream):
            for item in decoder.decode(case.input.read_bytes()):
                assert isinstance(item, dict), (case.id, item)
                seen.setdefault(item["@_namespace"], set()).add(case.id)
    for version in DOCUMENTED_VERSIONS:
        assert f"http://www.recreatex.be/webshop/v{version}/" in seen, f"no golden case in WebShop v{version}"


def test_recreatex_refuses_records_outside_the_webshop_namespaces() -> None:
    from podium.parsing import RecordError

    response = (REPO / "connectors/recreatex/golden/culture_events.by-id-v3.8.input.xml").read_bytes()
    decoder = CONNECTORS["recreatex"].stream("culture_events").decoder
    for namespace in ("http://www.recreatex.be/webshop/", "http://www.recreatex.be/webshop/v3.8/x/",
                      "http://example.org/webshop/v3.8/"):
        moved = response.replace(b"http://www.recreatex.be/webshop/v3.8/", namespace.encode())
        [item] = list(decoder.decode(moved))
        assert isinstance(item, RecordError) and "unsupported namespace" in item.reason


def test_cdbxml_reads_pages_and_single_events_in_3_2_and_3_3() -> None:
    decoder = CONNECTORS["cdbxml"].stream("events").decoder
    found: set[tuple[str, str]] = set()
    for case in cases_of("cdbxml", "events"):
        data = case.input.read_bytes()
        versions = {item["@_namespace"].split("/")[-2] for item in decoder.decode_document(data)
                    if isinstance(item, dict) and item.get("@_namespace")}
        found |= {(version, shape_of(decoder, data)) for version in versions}
    assert {("3.2", LIST_PAGE), ("3.2", SINGLE_RECORD), ("3.3", LIST_PAGE), ("3.3", SINGLE_RECORD)} <= found


def run_map(connector: str, stream: str, path: Path) -> tuple[int, list[dict[str, object]], list[str]]:
    result = CliRunner().invoke(main, ["map", connector, stream, str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, records, [line for line in result.stderr.splitlines() if line.strip()]


def test_podium_map_reads_a_single_uitdatabank_event_as_get_events_id_serves_it() -> None:
    """The issue's case: the apidocs read example served alone was refused ("no 'member' list").

    The input is ``examples[0]`` of cultuurnet/apidocs ``projects/uitdatabank/models/event-with-read-example.json``.
    """
    single = REPO / "connectors/uitdatabank/golden/events.read-example-1-single.input.json"
    event = json.loads(single.read_text(encoding="utf-8"))
    code, records, errors = run_map("uitdatabank", "events", single)
    assert (code, errors) == (0, [])
    assert [r["source"]["id"] for r in records] == [event["@id"].rsplit("/", 1)[-1]]


@pytest.mark.parametrize("connector, stream, broken", [
    ("uitdatabank", "events", {"totalItems": 2, "@id": "https://io.uitdatabank.be/events/1"}),
    ("uitdatabank", "events", {"member": None, "@id": "https://io.uitdatabank.be/events/1"}),
    ("ticketmatic", "orders", {"nbrofresults": 3, "orderid": 10045}),
    ("ticketmatic", "events", {"data": "nope", "id": 777714}),
    ("yesplan", "events", {"pagination": {"next": None}, "id": "412087553-1612345678"}),
    ("yesplan", "events", {"name": "no identity, no list"}),
    # Error bodies are no record either: publiq's RFC 7807 problem, Ticketmatic's RequestError.
    ("uitdatabank", "events", {"type": "https://api.publiq.be/probs/auth/unauthorized", "title": "Unauthorized",
                               "status": 401}),
    ("ticketmatic", "orders", {"code": 401, "message": "Unauthorized"}),
])
def test_podium_map_still_refuses_a_broken_list_page_in_one_line(tmp_path: Path, connector: str, stream: str,
                                                                broken: dict[str, object]) -> None:
    page = tmp_path / "page.json"
    page.write_text(json.dumps(broken), encoding="utf-8")
    code, records, errors = run_map(connector, stream, page)
    assert (code, records, len(errors)) == (3, [], 1), errors
    assert errors[0].startswith("error: ") and f"{connector}/{stream} accepts a {LIST_PAGE}" in errors[0]


def test_podium_connectors_lists_the_shapes_each_stream_reads() -> None:
    result = CliRunner().invoke(main, ["connectors", "--json"])
    assert result.exit_code == 0, result.output
    shapes = {(c["name"], s["name"]): s["shapes"] for c in json.loads(result.stdout) for s in c["streams"]}
    assert shapes[("uitdatabank", "events")] == ["list page: the records in 'member'",
                                                 "single record: one JSON object with '@id' and no 'member'"]
    assert all(shape.startswith(LIST_PAGE) for shape in shapes[("uwp", "deelnames")])
    assert "webshop" in shapes[("recreatex", "persons")][0]
