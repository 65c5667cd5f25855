"""The mapping format: its JSON Schema, load-time errors with file and line, the data constructs that
replaced the Python hooks, the sector transforms, and a canonical -> vendor (outbound) mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from podium import canonical
from podium.errors import ConfigError
from podium.ids import canonical_id
from podium.mapping import TRANSFORMS, MappingContext, compile_mapping, load_mapping
from podium.mapping.schema import load_mapping_document, mapping_schema
from podium.parsing.base import PageContext

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = sorted((ROOT / "mappings").glob("**/*.yaml"))
GOLDEN = ROOT / "tests" / "golden" / "outbound"
CTX = MappingContext(house="cc-hasselt", system="acme")


def one(fields: dict[str, Any], raw: dict[str, Any], **top: Any) -> dict[str, Any]:
    """The canonical record one raw record maps to under ``fields`` (errors fail the test)."""
    records, errors = compile_mapping({"entity": "event", "source_id": "id", "fields": fields, **top},
                                      "acme", "events").map({"id": 1, **raw}, CTX)
    assert errors == []
    return records[0]


# -- schema and load-time errors ----------------------------------------------------------------------
@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: str(p.relative_to(ROOT / "mappings")))
def test_every_mapping_file_validates_against_the_schema_and_compiles(path: Path) -> None:
    spec = load_mapping_document(path)
    compile_mapping(spec, path.parent.name, path.stem, str(path))


def test_the_schema_lists_exactly_the_registered_transforms() -> None:
    assert sorted(mapping_schema()["$defs"]["transformName"]["enum"]) == sorted(TRANSFORMS)


def test_a_mistyped_mapping_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(
        "entity: ticket\nsource_id: id\nfields:\n  status: {path: s, tranform: int}\n"
        "  price.amount: {path: p, transform: nmber}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_mapping(tmp_path, "acme", "orders")
    message = str(raised.value)
    assert f"{tmp_path / 'orders.yaml'}:4: fields.status: " in message and "'tranform' was unexpected" in message
    assert f"{tmp_path / 'orders.yaml'}:5: fields.price.amount.transform: 'nmber' is not one of" in message


# -- constructs -----------------------------------------------------------------------------------------
def test_case_takes_the_first_matching_branch_and_an_error_branch_rejects_the_record() -> None:
    status = {"case": [{"when": {"path": "code", "equals": 3}, "value": "cancelled"},
                       {"when": {"path": "code", "not_in": [1, 2]}, "error": "unknown code {code}"},
                       {"when": {"path": "scanned", "in": [1, 2]}, "value": "scanned"},
                       {"value": "sold"}]}
    assert one({"status": status}, {"code": 3})["status"] == "cancelled"
    assert one({"status": status}, {"code": "2", "scanned": 1})["status"] == "scanned"
    assert one({"status": status}, {"code": 1})["status"] == "sold"
    _, errors = compile_mapping({"entity": "event", "source_id": "id", "fields": {"status": status}},
                                "acme", "events").map({"id": 1, "code": 99}, CTX)
    assert [str(e) for e in errors] == ["status: unknown code 99"]


def test_lookup_reads_the_page_table_named_by_a_field_of_the_record() -> None:
    places = {"7": {"street1": "Kerkstraat 1", "street2": "bus 2", "zip": "3500"}}
    fields = {"venue.address.street": {"join": [{"lookup": "places", "key": "placeid", "path": "street1"},
                                                {"lookup": "places", "key": "placeid", "path": "street2"}]},
              "venue.address.postal_code": {"lookup": "places", "key": "placeid", "path": "zip"},
              "venue.name": {"lookup": "places", "key": "missing", "path": "name"}}
    mapping = compile_mapping({"entity": "event", "source_id": "id", "fields": fields}, "acme", "events")
    ctx = MappingContext(house="cc-hasselt", system="acme", page=PageContext(tables={"places": places}))
    (record,), errors = mapping.map({"id": 1, "placeid": 7}, ctx)
    assert errors == [] and record["venue"] == {"address": {"street": "Kerkstraat 1 bus 2", "postal_code": "3500"}}
    assert "extras" not in record  # the tables are the page's, never a field of the record
    (bare,), _ = mapping.map({"id": 1, "placeid": 7}, CTX)  # a page without tables: nothing to look up
    assert "venue" not in bare


def test_language_of_the_page_tags_texts_and_a_page_without_one_reads_as_dutch() -> None:
    mapping = compile_mapping({"entity": "event", "source_id": "id",
                               "fields": {"title": {"path": "name", "language_of": "$page.language"}}},
                              "acme", "events")
    french = MappingContext(house="cc-hasselt", system="acme", page=PageContext(language="FR"))
    assert mapping.map({"id": 1, "name": "Le Cid"}, french)[0][0]["title"] == {"fr": "Le Cid"}
    assert mapping.map({"id": 1, "name": "De Cid"}, CTX)[0][0]["title"] == {"nl": "De Cid"}


def test_the_former_tables_key_is_refused_by_the_schema(tmp_path: Path) -> None:
    (tmp_path / "events.yaml").write_text('entity: event\nsource_id: id\ntables: "@_lookup"\nfields: {}\n',
                                          encoding="utf-8")
    with pytest.raises(ConfigError, match="tables"):
        load_mapping(tmp_path, "acme", "events")


def test_aggregates_over_a_projected_list_and_absent_values() -> None:
    raw = {"blocks": [{"seats": "100"}, {"seats": 50}, {"other": 1}], "zero": [{"n": 0}], "productionid": 0}
    record = one({"capacity": {"path": "blocks[].seats", "transform": "int", "aggregate": "sum"},
                  "extras.blocks": {"path": "blocks[].seats", "aggregate": "count"},
                  "extras.smallest": {"path": "blocks[].seats", "transform": "int", "aggregate": "min"},
                  "extras.zero": {"path": "zero[].n", "aggregate": "sum", "absent": [0]},
                  "production.source_id": {"path": "productionid", "transform": "string", "absent": ["0"]}}, raw)
    assert record["capacity"] == 150 and record["extras"]["blocks"] == 2 and record["extras"]["smallest"] == 50
    assert "zero" not in record["extras"] and "production" not in record


def test_a_language_map_from_several_paths_leaves_empty_languages_out() -> None:
    raw = {"name": "<b>De  Kersentuin</b>", "tr": {"namefr": "La Cerisaie", "nameen": ""}}
    record = one({"title": {"langs": {"nl": ["name", "tr.namenl"], "fr": "tr.namefr", "en": "tr.nameen"},
                            "transform": "strip_html"}}, raw)
    assert record["title"] == {"nl": "De Kersentuin", "fr": "La Cerisaie"}


def test_first_of_when_and_each_with_where_distinct_and_position() -> None:
    raw = {"holder": 0, "buyer": 42, "rows": [{"t": 1, "p": 10}, {"t": 1, "p": 11}, {"t": 0, "p": 5},
                                               {"t": 2, "p": 8}], "locations": [{"id": 1}]}
    record = one({"contact.source_id": {"first_of": [{"path": "holder", "transform": "string", "absent": ["0"]},
                                                     {"path": "buyer", "transform": "string"}]},
                  "prices": {"each": "rows", "where": {"path": "t", "not_in": [0]}, "distinct": "t",
                             "fields": {"category": {"position": True, "map": {"0": "base"}, "default": "tariff"},
                                        "amount": "p"}},
                  "extras.all_locations": {"path": "locations", "when": {"path": "locations.1", "empty": False}}},
                 raw)
    assert record["contact"] == {"source_id": "42"}
    assert record["prices"] == [{"category": "base", "amount": 10}, {"category": "tariff", "amount": 8}]
    assert "all_locations" not in record.get("extras", {})


@pytest.mark.parametrize(("capacity", "left", "expected"), [
    (100, 0, "sold_out"), (100, 5, "limited"), (100, 10, "available"), (None, 3, None), (100, None, None)])
def test_availability_from_capacity_and_seats_left(capacity: Any, left: Any, expected: str | None) -> None:
    record = one({"availability": {"availability": {"capacity": "cap", "left": "left", "needs_capacity": True}}},
                 {"cap": capacity, "left": left})
    assert record.get("availability") == expected


def test_link_adds_the_canonical_ids_of_the_referenced_records_for_any_entity() -> None:
    mapping = compile_mapping({"entity": "event", "source_id": "id", "link": {"organizer": "contact"},
                               "fields": {"organizer.source_id": {"path": "org", "transform": "string"}}},
                              "acme", "events")
    [record], _ = mapping.map({"id": 1, "org": 9}, CTX)
    assert "id" not in record["organizer"]  # the mapped record holds the vendor's reference only
    mapping.link(record, CTX)
    assert record["organizer"] == {"source_id": "9", "id": canonical_id("cc-hasselt", "acme", "contact", "9")}


# -- sector transforms ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "code"), [("België", "BE"), ("belgie", "BE"), ("Belgique", "BE"),
                                            ("Belgien", "BE"), ("Pays-Bas", "NL"), ("Duitsland", "DE"),
                                            ("Luxembourg", "LU"), ("be", "BE")])
def test_country_names_in_four_languages_come_from_cldr(name: str, code: str) -> None:
    assert TRANSFORMS["country"](None)(name, CTX) == code


def test_country_name_belgian_street_html_text_and_announced_status() -> None:
    assert TRANSFORMS["country_name"]("fr")("NL", CTX) == "Pays-Bas"
    parts = [TRANSFORMS["be_street"](part)("Kerkstraat 12 bus 3", CTX) for part in ("street", "number", "box")]
    assert parts == ["Kerkstraat", "12", "3"]
    assert TRANSFORMS["be_street"]("number")("Rue de la Loi 16/2", CTX) == "16"
    assert TRANSFORMS["html_text"](None)("<p>Tom &amp; Jerry&nbsp;</p>", CTX) == "Tom & Jerry"
    announced = TRANSFORMS["announced_status"](None)
    assert [announced(t, CTX) for t in ("GEANNULEERD: Hamlet", "Annulé", "Uitgesteld - x", "Hamlet")] == \
        ["cancelled", "cancelled", "postponed", None]
    assert TRANSFORMS["announced_status"]("cancelled")("Uitgesteld", CTX) is None


# -- both ways: canonical -> vendor ------------------------------------------------------------------------
def test_items_splices_an_each_element_after_fixed_entries() -> None:
    mapping = compile_mapping({"entity": "contact", "source_id": {"path": "id"}, "fields": {
        "family_name": "name",
        "consents": {"items": [
            {"fields": {"channel": {"value": "email"}, "granted": {"value": True}}},
            {"each": "subs", "fields": {"channel": {"value": "email"}, "purpose": "id", "granted": {"value": True}}},
        ]}}}, "acme", "contacts")
    ctx = MappingContext("h", "acme")
    (record,), _ = mapping.map({"id": 1, "name": "Maes", "subs": [{"id": "a"}, {"id": "b"}]}, ctx)
    assert record["consents"] == [{"channel": "email", "granted": True},
                                  {"channel": "email", "purpose": "a", "granted": True},
                                  {"channel": "email", "purpose": "b", "granted": True}]
    (alone,), _ = mapping.map({"id": 2, "name": "Claes"}, ctx)
    assert alone["consents"] == [{"channel": "email", "granted": True}]


def test_unlisted_is_compiled_like_vanished_and_refused_when_malformed() -> None:
    spec = {"entity": "contact", "source_id": {"path": "id"}, "fields": {"family_name": "name"}}
    assert compile_mapping({**spec, "unlisted": "deleted"}, "acme", "contacts").unlisted == {"deleted": True}
    assert compile_mapping(spec, "acme", "contacts").unlisted is None
    with pytest.raises(ConfigError, match="unlisted must be"):
        compile_mapping({**spec, "unlisted": {"set": {}}}, "acme", "contacts")


def test_outbound_contact_mapping_matches_its_golden_bodies() -> None:
    contacts = json.loads((GOLDEN / "flexmail_contacts.input.json").read_text(encoding="utf-8"))
    for contact in contacts:
        assert canonical.validate("contact", contact) == []
    mapping = load_mapping(ROOT / "mappings" / "outbound" / "flexmail", "flexmail", "contacts")
    out = []
    for contact in contacts:
        bodies, errors = mapping.map(contact, CTX)
        out.append({"body": bodies[0]} if bodies else {"error": str(errors[0])})
    assert out == json.loads((GOLDEN / "flexmail_contacts.expected.json").read_text(encoding="utf-8"))


def test_a_projection_over_something_that_is_not_a_list_is_that_records_error() -> None:
    mapping = compile_mapping({"entity": "event", "source_id": "id",
                               "fields": {"capacity": {"path": "blocks[].seats", "aggregate": "sum"}}},
                              "acme", "events")
    records, errors = mapping.map({"id": 1, "blocks": "none"}, CTX)
    assert records == [] and "blocks[].seats: expected a list, got str" in str(errors[0])


def test_explode_makes_one_record_per_item_with_the_items_fields_replacing_the_records() -> None:
    spec = {"entity": "event", "explode": {"each": "dates", "when": {"path": "kind", "equals": "multiple"},
                                           "replace": ["start"], "keep_as": "dates"},
            "source_id": {"case": [{"when": {"exploded": True}, "join": ["uid", {"position": True}],
                                    "separator": "#"}, {"path": "uid"}]},
            "fields": {"start": "start"}}
    mapping = compile_mapping(spec, "acme", "events")
    series = {"uid": "u1", "kind": "multiple", "start": "x", "dates": [{"start": "2026-01-01"}, {"start": "2026-01-02"}]}
    records, errors = mapping.map(series, CTX)
    assert errors == [] and [(r["source"]["id"], r["start"]) for r in records] == [("u1#0", "2026-01-01"),
                                                                                 ("u1#1", "2026-01-02")]
    single, _ = mapping.map({**series, "kind": "single"}, CTX)
    assert [r["source"]["id"] for r in single] == ["u1"]
    _, errors = mapping.map({**series, "dates": ["2026-01-01"]}, CTX)
    assert "dates 0 is str, not an object" in str(errors[0])


def test_at_most_three_python_escape_hatches_each_saying_why_data_cannot() -> None:
    hatches = []
    for path in MAPPINGS:
        spec = load_mapping_document(path)
        for key in ("pre", "post", "function"):
            if key in spec:
                hatches.append(f"{path.relative_to(ROOT)}:{key}")
                assert "ESCAPE HATCH" in path.read_text(encoding="utf-8") and "Why not data" in \
                    path.read_text(encoding="utf-8"), f"{path}: say why data cannot say it"
    assert len(hatches) <= 3, hatches


def test_text_in_a_language_known_per_record_and_an_announced_title() -> None:
    record = one({"title": {"path": "name", "transform": ["trim", {"title_announcement": "title"}],
                            "language_of": "lang"},
                  "status": {"first_of": [{"path": "name", "transform": {"title_announcement": "status"}},
                                          {"value": "scheduled"}]},
                  "extras.announced": {"value": True, "when": {"path": "name", "empty": False,
                                                               "transform": {"title_announcement": "status"}}}},
                 {"name": " ANNULÉ : Hamlet ", "lang": "fr-BE"})
    assert record["title"] == {"fr": "Hamlet"} and record["status"] == "cancelled" and record["extras"]["announced"]
    plain = one({"title": {"path": "name", "language_of": "lang"},
                 "status": {"first_of": [{"path": "name", "transform": {"title_announcement": "status"}},
                                         {"value": "scheduled"}]}},
                {"name": "Geannuleerd", "lang": "xx"})  # the word alone is a title, not an announcement
    assert plain["title"] == {"nl": "Geannuleerd"} and plain["status"] == "scheduled"


def test_entry_builds_an_object_whose_key_is_a_value_and_leaves_it_out_when_either_is_missing() -> None:
    fields = {"external_ids": {"entry": {"key": {"first_of": [{"lookup": "settings", "key": {"value": "ref"},
                                                              "path": "system"}, {"value": "fallback"}]},
                                         "value": {"path": "ref", "transform": "trim"}}}}
    mapping = compile_mapping({"entity": "event", "source_id": "id", "fields": fields}, "acme", "events")
    ctx = MappingContext(house="cc-hasselt", system="acme",
                         page=PageContext(tables={"settings": {"ref": {"system": "yesplan"}}}))
    (record,), _ = mapping.map({"id": 1, "ref": " 42 "}, ctx)
    assert record["external_ids"] == {"yesplan": "42"}
    (default,), _ = mapping.map({"id": 1, "ref": "42"}, CTX)
    assert default["external_ids"] == {"fallback": "42"}
    (without,), _ = mapping.map({"id": 1, "ref": None}, ctx)
    assert "external_ids" not in without
    with pytest.raises(ConfigError):
        compile_mapping({"entity": "event", "source_id": "id", "fields": {"x": {"entry": {"key": "a"}}}},
                        "acme", "events")


def test_an_each_element_of_items_adds_its_items_to_the_declared_list() -> None:
    tags = {"items": [{"path": "main"}, {"each": "more", "fields": {"label": "name"}}, {"path": "none"}]}
    record = one({"extras.tags": tags}, {"main": "abonnee", "more": [{"name": "jeugd"}, {"name": "senior"}]})
    assert record["extras"]["tags"] == ["abonnee", {"label": "jeugd"}, {"label": "senior"}]
    assert one({"extras.tags": tags}, {"main": "abonnee", "more": []})["extras"]["tags"] == ["abonnee"]
