"""The mapping engine: declared fields, lists, extras, transforms, errors."""

from __future__ import annotations

from typing import Any

import pytest

from podium import canonical
from podium.errors import ConfigError
from podium.ids import canonical_id
from podium.mapping import MappingContext, compile_mapping

CTX = MappingContext(house="cc-hasselt", system="acme")
ORDERS = {
    "entity": "ticket", "each": "tickets", "source_id": "ticketid",
    "modified": {"path": "^.lastupdatets", "transform": "utc_datetime"},
    "fields": {
        "order_id": {"path": "^.orderid", "transform": "string"},
        "event.source_id": {"path": "eventid", "transform": "string"},
        "contact.source_id": {"path": "^.customerid", "transform": "string"},
        "status": {"path": "status", "map": {"101": "sold", "102": "refunded"}},
        "price.amount": {"path": "price", "transform": "number"},
        "price.currency": {"value": "EUR"},
        "sold_at": {"path": "^.createdts", "transform": "local_datetime"},
    },
    "extras": {"exclude": ["lookup"]},
}


def order(**overrides: Any) -> dict[str, Any]:
    base = {"orderid": 9001, "customerid": 77, "createdts": "2026-10-25 02:30:00",
            "lastupdatets": "2026-10-25 09:00:00", "lookup": {"x": 1}, "paymentscenario": "web",
            "tickets": [{"ticketid": 1, "eventid": 5, "status": 101, "price": 18.5, "seat": "A-12"},
                        {"ticketid": 2, "eventid": 5, "status": 102, "price": "12,00"}]}
    base.update(overrides)
    return base


def test_one_canonical_ticket_per_ticket_with_envelope_and_extras() -> None:
    records, errors = compile_mapping(ORDERS, "acme", "orders").map(order(), CTX)
    assert errors == []
    assert [r["status"] for r in records] == ["sold", "refunded"]
    first = records[0]
    assert first["id"] == canonical_id("cc-hasselt", "acme", "ticket", "1")
    assert first["source"] == {"system": "acme", "id": "1"}
    assert first["order_id"] == "9001" and first["price"] == {"amount": 18.5, "currency": "EUR"}
    assert records[1]["price"]["amount"] == 12.0
    # 02:30 on the night summer time ends exists twice; vendors mean the first (summer time, +02:00)
    assert first["sold_at"] == "2026-10-25T02:30:00+02:00"
    assert first["modified"] == "2026-10-25T08:00:00Z"
    assert first["extras"] == {"seat": "A-12", "parent": {"paymentscenario": "web"}}  # lookup: excluded
    assert canonical.validate("ticket", first) == []


def test_bad_item_is_an_error_and_its_siblings_survive() -> None:
    bad = order(tickets=[{"ticketid": 1, "eventid": 5, "status": 101, "price": "gratis"},
                         {"ticketid": 2, "eventid": 5, "status": 999, "price": 1},
                         {"ticketid": 3, "eventid": 5, "status": 101, "price": 3}])
    records, errors = compile_mapping(ORDERS, "acme", "orders").map(bad, CTX)
    assert [r["source"]["id"] for r in records] == ["3"]
    assert [e.source_id for e in errors] == ["1", "2"]
    assert "price.amount" in str(errors[0]) and "gratis" in str(errors[0])
    assert "unknown value '999'" in str(errors[1]) or "unknown value 999" in str(errors[1])


def test_missing_source_id_is_an_error() -> None:
    records, errors = compile_mapping(ORDERS, "acme", "orders").map(order(tickets=[{"eventid": 1}]), CTX)
    assert records == [] and "source_id: required value missing" in str(errors[0])


def test_lists_paths_defaults_and_transforms() -> None:
    spec = {
        "entity": "contact", "source_id": "id",
        "fields": {
            "given_name": {"path": "voornaam", "transform": "trim"},
            "email": {"path": ["email", "email2"], "transform": "lower"},
            "phones": {"paths": ["tel", "gsm"], "transform": "phone_e164"},
            "language": {"path": "taal", "transform": "language", "default": "nl"},
            "address.country": {"path": "land", "transform": "country"},
            "consents": {"each": "optins", "fields": {
                "channel": {"path": "kanaal", "map": {"mail": "email", "brief": "post"}},
                "granted": {"path": "ok", "transform": "bool"}}},
        },
    }
    raw = {"id": 5, "voornaam": "  An  ", "email": "", "email2": " An.Peeters@Example.BE ",
           "tel": "011 22 33 44", "gsm": ["0475/12.34.56", "0475 123456"], "land": "België",
           "optins": [{"kanaal": "mail", "ok": "ja"}, {"kanaal": "brief", "ok": 0}]}
    (record,), errors = compile_mapping(spec, "acme", "contacts").map(raw, CTX)
    assert errors == []
    assert record["given_name"] == "An" and record["email"] == "an.peeters@example.be"
    assert record["phones"] == ["+3211223344", "+32475123456"]
    assert record["language"] == "nl" and record["address"] == {"country": "BE"}
    assert record["consents"] == [{"channel": "email", "granted": True}, {"channel": "post", "granted": False}]
    assert canonical.validate("contact", record) == []


def test_unknown_transform_and_keys_fail_at_compile_time_listing_known_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown transform 'euro'.*known: .*cents"):
        compile_mapping({"entity": "event", "source_id": "id", "fields": {"x": {"path": "a", "transform": "euro"}}},
                        "acme", "events")
    with pytest.raises(ConfigError, match="unknown key"):
        compile_mapping({"entity": "event", "source_id": "id", "fields": {"x": {"pth": "a"}}}, "acme", "events")
    with pytest.raises(ConfigError, match="entity must be one of"):
        compile_mapping({"entity": "person", "source_id": "id"}, "acme", "events")


def test_cents_and_lang_map() -> None:
    spec = {"entity": "event", "source_id": "id", "fields": {
        "title": {"path": "names", "transform": "lang_map"},
        "description": {"path": "omschrijving", "transform": {"lang_map": "fr"}},
        "calendar": {"value": "single"}, "start": {"path": "start", "transform": "local_datetime"},
        "prices": {"each": "prices", "fields": {"amount": {"path": "cents", "transform": "cents"},
                                                "currency": {"value": "EUR"}}}}}
    raw = {"id": "e1", "names": {"NL": "De Kersentuin", "fr": "La Cerisaie", "es": "x"},
           "omschrijving": "Texte", "start": "2026-03-29T20:00:00", "prices": [{"cents": 2250}]}
    (record,), _ = compile_mapping(spec, "acme", "events").map(raw, CTX)
    assert record["title"] == {"nl": "De Kersentuin", "fr": "La Cerisaie"}
    assert record["description"] == {"fr": "Texte"}
    assert record["prices"] == [{"amount": 22.5, "currency": "EUR"}]
    assert record["start"] == "2026-03-29T20:00:00+02:00"  # summer time has begun that night
    assert canonical.validate("event", record) == []


def test_date_keeps_a_day_a_day_and_reads_day_first_dates() -> None:
    # CANONICAL v1.1: a performance known only by its day starts on a date, never a made-up midnight.
    spec = {"entity": "event", "source_id": "id", "fields": {
        "title": {"value": {"nl": "De welwillenden"}}, "calendar": {"value": "single"},
        "start": {"path": "datum", "transform": "date"}}}
    mapping = compile_mapping(spec, "acme", "events")
    for served, day in (("2016-10-08", "2016-10-08"), ("08/10/2016", "2016-10-08")):
        (record,), _ = mapping.map({"id": "1", "datum": served}, CTX)
        assert record["start"] == day
        assert canonical.validate("event", record) == []
    _, errors = mapping.map({"id": "2", "datum": "string"}, CTX)
    assert errors and "not a date" in str(errors[0])


def test_name_part_splits_a_display_name_keeping_particles_with_the_family_name() -> None:
    spec = {"entity": "contact", "source_id": "id", "fields": {
        "given_name": {"path": "naam", "transform": {"name_part": "given"}},
        "family_name": {"path": "naam", "transform": {"name_part": "family"}}}}
    mapping = compile_mapping(spec, "acme", "contacts")
    (record,), _ = mapping.map({"id": "1", "naam": "Roberto  De Jonge"}, CTX)
    assert (record["given_name"], record["family_name"]) == ("Roberto", "De Jonge")
    (single,), _ = mapping.map({"id": "2", "naam": "Monty"}, CTX)
    assert "given_name" not in single and single["family_name"] == "Monty"
    with pytest.raises(ConfigError, match="name_part"):
        compile_mapping({"entity": "contact", "source_id": "id", "fields": {
            "given_name": {"path": "naam", "transform": {"name_part": "middle"}}}}, "acme", "contacts")


def test_canonical_ids_are_deterministic_and_distinct() -> None:
    a = canonical_id("cc-hasselt", "ticketmatic", "event", "1")
    assert a == canonical_id("cc-hasselt", "ticketmatic", "event", "1")
    assert len({a, canonical_id("cc-genk", "ticketmatic", "event", "1"),
                canonical_id("cc-hasselt", "yesplan", "event", "1"),
                canonical_id("cc-hasselt", "ticketmatic", "contact", "1")}) == 4


def test_canonical_id_is_exactly_uuid5_of_the_key() -> None:
    import uuid

    from podium.ids import PODIUM_NAMESPACE

    for source_id in ("1", "ev-1#2026-03-29T20:00", "é/ü", "https://io.uitdatabank.be/event/3c4f"):
        assert canonical_id("cc-hasselt", "acme", "event", source_id) == str(
            uuid.uuid5(PODIUM_NAMESPACE, f"cc-hasselt/acme/event/{source_id}"))


def test_any_exception_in_a_hook_or_transform_is_that_records_error() -> None:
    def broken_pre(raw: dict[str, Any], ctx: Any) -> list[dict[str, Any]]:
        return [{"ticketid": 1, "x": raw["prices"]["contingents"].get("id")}]  # AttributeError on "none"

    import sys
    import types

    module = types.ModuleType("_bad_hooks")
    module.broken_pre = broken_pre  # type: ignore[attr-defined]
    sys.modules["_bad_hooks"] = module
    mapping = compile_mapping({"entity": "ticket", "source_id": "ticketid", "pre": "_bad_hooks:broken_pre"},
                              "acme", "orders")
    records, errors = mapping.map({"prices": {"contingents": "none"}}, CTX)
    assert records == [] and "pre: AttributeError: 'str' object has no attribute 'get'" in str(errors[0])
    country = compile_mapping({"entity": "contact", "source_id": "id",
                               "fields": {"address.country": {"path": "cc", "transform": "country"}}}, "acme", "c")
    records, errors = country.map({"id": 5, "cc": 32}, CTX)
    assert records == [] and errors[0].source_id == "5"


def test_a_record_exploding_past_the_cap_is_refused_before_the_list_is_built() -> None:
    import tracemalloc

    from podium.mapping import MAX_RECORDS_PER_RAW, RecordTooLargeError, load_mapping
    from podium.paths import MAPPINGS_DIR

    mapping = load_mapping(MAPPINGS_DIR / "uitdatabank", "uitdatabank", "events")  # explode: subEvent
    sub = {"id": 0, "startDate": "2026-05-01T20:00:00+02:00", "endDate": "2026-05-01T22:00:00+02:00"}
    event = {"@id": "https://io.uitdatabank.be/events/0f2a", "calendarType": "multiple", "name": {"nl": "Expo"},
             "subEvent": [dict(sub, id=i) for i in range(100_000)]}
    tracemalloc.start()
    records, errors = mapping.map(event, CTX)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1024 * 1024  # a copy of the event per subEvent would take hundreds of MB
    assert records == [] and isinstance(errors[0], RecordTooLargeError)
    assert f"record too large: 100000 subEvent items (at most {MAX_RECORDS_PER_RAW}" in str(errors[0])


def test_cdbxml_with_100000_timestamps_is_one_dead_letter() -> None:
    import tracemalloc

    from connectors.cdbxml.decoder import calendar_occurrences
    from podium.mapping import RecordTooLargeError

    calendar = {"timestamps": {"timestamp": [{"date": "2026-05-01", "timestart": "20:00:00"}] * 100_000}}
    tracemalloc.start()
    with pytest.raises(RecordTooLargeError, match="100000 timestamps"):
        calendar_occurrences(calendar)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1024 * 1024
