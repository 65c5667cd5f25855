"""The generated mapping code (``podium.mapping.codegen``) maps exactly as the closures it replaces.

Both engines run over every golden input of every connector and over perturbed Ticketmatic orders
(missing fields, wrong types, None): the same records (same canonical bytes) and the same errors
(class, message, path, source id), in the same order.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.mapping import CompiledMapping, MappingContext, compile_mapping, mapping_source
from podium.mapping.engine import MAX_RECORDS_PER_RAW
from podium.mapping.schema import load_mapping_document
from podium.parsing.base import RecordError, decode_page
from podium.registry import all_connectors
from podium.store import dumps
from podium.testing.golden import CONTEXT_FILE, golden_cases

ROOT = Path(__file__).resolve().parents[2]
CONNECTORS = all_connectors()
CASES = [case for cls in CONNECTORS.values() for case in golden_cases(cls)]
MAPPING_FILES = sorted((ROOT / "mappings").rglob("*.yaml"))


def _both(path: Path, connector: str, stream: str) -> tuple[CompiledMapping, CompiledMapping]:
    spec = load_mapping_document(path)
    return (compile_mapping(spec, connector, stream, str(path)),
            compile_mapping(spec, connector, stream, str(path), generated=False))


def _outcome(mapping: CompiledMapping, raw: Any, ctx: MappingContext) -> Any:
    """What mapping one raw record gives: records as canonical bytes, errors as (class, message, path, id)."""
    records, errors = mapping.map(copy.deepcopy(raw), ctx)
    for record in records:  # as on the way to the store
        mapping.link(record, ctx)
    return ([_exact(record) for record in records],
            [(type(e).__name__, str(e), e.path, e.source_id) for e in errors])


def _exact(record: dict[str, Any]) -> Any:
    """The record's stored bytes, and its repr (types, key order) for what the store would refuse."""
    try:
        return dumps(record), repr(record)
    except TypeError:  # e.g. an integer past 64 bits: the store's letter, but both engines must agree
        return repr(record)


def _assert_same(generated: CompiledMapping, closures: CompiledMapping, raw: Any, ctx: MappingContext) -> None:
    assert _outcome(generated, raw, ctx) == _outcome(closures, raw, ctx)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_generated_code_maps_every_golden_input_as_the_closures(case: Any) -> None:
    cls = case.connector
    spec = cls.stream(case.stream)
    path = cls.mappings_dir() / f"{case.stream}.yaml"
    generated, closures = _both(path, cls.name, case.stream)
    context_file = case.input.parent / CONTEXT_FILE
    settings_ = yaml.safe_load(context_file.read_text(encoding="utf-8")) if context_file.exists() else {}
    ctx = MappingContext(str(settings_.get("house", "demo")), cls.name,
                         ZoneInfo(str(settings_.get("timezone", "Europe/Brussels"))))
    items, page = decode_page(spec.decoder, case.input.read_bytes())
    ctx = replace(ctx, page=page)
    for raw in items:  # a case of decode errors only has nothing to map: the case is about its decoder
        if not isinstance(raw, RecordError):
            _assert_same(generated, closures, raw, ctx)


@pytest.mark.parametrize("path", MAPPING_FILES, ids=[str(p.relative_to(ROOT / "mappings")) for p in MAPPING_FILES])
def test_every_mapping_has_generated_source_that_compiles(path: Path) -> None:
    spec = load_mapping_document(path)
    compiled = compile_mapping(spec, path.parent.name, path.stem, str(path))
    source = mapping_source(compiled)
    compile(source, str(path), "exec")  # reviewable: the printed source is valid Python on its own
    if spec.get("function") or spec.get("entity") == "outbound":
        assert source.startswith("#")  # these run their function / the closures: said so, not hidden
    else:
        assert source.startswith("def apply(raw, ctx):")


# -- perturbed Ticketmatic orders ----------------------------------------------------------------------

_TICKETMATIC = CONNECTORS["ticketmatic"]
_ORDERS_INPUT = next(case.input for case in golden_cases(_TICKETMATIC) if case.stream == "orders"
                     and case.name == "page")
_ORDERS_ITEMS, _ORDERS_PAGE = decode_page(_TICKETMATIC.stream("orders").decoder, _ORDERS_INPUT.read_bytes())
_ORDER = next(item for item in _ORDERS_ITEMS if isinstance(item, dict) and item.get("tickets"))
_ORDER_KEYS = sorted(key for key in _ORDER if key != "tickets")  # the list itself: ``tickets_value``
_TICKET_KEYS = sorted({key for ticket in _ORDER["tickets"] for key in ticket})
_CTX = replace(MappingContext("demo", "ticketmatic", ZoneInfo("Europe/Brussels")), page=_ORDERS_PAGE)
_ORDERS = _both(_TICKETMATIC.mappings_dir() / "orders.yaml", "ticketmatic", "orders")

# Text with white space around the values the mapping knows (ids, status codes, dates).
_padded = st.builds(lambda pad, value: f"{pad}{value}{pad[::-1]}", st.sampled_from([" ", "\t", " \n", ""]),
                    st.sampled_from(["42", "21002", "21001", "1", "2", "0", "x  y", "2025-03-28 17:04:55", "12,50"]))
_odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-3, max_value=10**12), st.floats(allow_nan=False),
    st.sampled_from(["", " ", "0", 0, "21002", 21001, 21003, 21004, "1", 2, "2025-03-28 17:04:55",
                     "2025-13-45", "not a date", " 12,50 ", " 42 ", "\t7\n", "a  b", "x\u0000y", [], {}, [1], {"a": 1}, "1e400"]),
    st.text(max_size=8), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# One change: (level, key, None = delete, else the new value); level 0 = the order, 1+ = a ticket.
# The keys the orders mapping reads come up more often than the rest (extras).
_READ_KEYS = ["orderid", "customerid", "status", "saleschannelid", "lastupdatets", "createdts", "id", "eventid",
              "ticketholderid", "cachedaccesscontrolstatus", "price", "pricetypeid", "tickettypename", "seatname",
              "barcode"]
_change = st.tuples(st.integers(min_value=0, max_value=3),
                    st.one_of(st.sampled_from(_READ_KEYS),
                              st.sampled_from(_ORDER_KEYS + _TICKET_KEYS + ["extra_field", "@_hidden"])),
                    st.one_of(st.just(None), st.tuples(st.one_of(_padded, _odd_values))))


def _perturbed(changes: list[tuple[int, str, Any]], tickets_value: Any) -> dict[str, Any]:
    order = copy.deepcopy(_ORDER)
    for level, key, change in changes:
        target = order if level == 0 else order["tickets"][(level - 1) % len(order["tickets"])]
        if change is None:
            target.pop(key, None)
        else:
            target[key] = change[0]
    if tickets_value is not None:
        order["tickets"] = tickets_value[0]
    return order


# One change to the page's lookup tables: (table, row key, None = the table is gone, else the row's name).
_table_change = st.tuples(st.sampled_from(sorted(_ORDERS_PAGE.tables)), st.sampled_from(["1", "2", "3", "0"]),
                          st.one_of(st.just(None), st.tuples(st.one_of(_padded, _odd_values))))


def _with_tables(table_change: tuple[str, str, Any] | None) -> MappingContext:
    if table_change is None:
        return _CTX
    name, key, change = table_change
    tables = {table: dict(rows) for table, rows in _ORDERS_PAGE.tables.items()}
    if change is None:
        del tables[name]
    else:
        tables[name][key] = {**tables[name].get(key, {}), "name": change[0]}
    return replace(_CTX, page=replace(_ORDERS_PAGE, tables=tables))


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(_change, max_size=6),
       tickets_value=st.one_of(st.just(None), st.tuples(st.sampled_from([None, [], {}, "x", 3, [None], [1, "a"]]))),
       table_change=st.one_of(st.just(None), _table_change))
def test_generated_code_maps_perturbed_orders_as_the_closures(changes: list[tuple[int, str, Any]],
                                                              tickets_value: Any,
                                                              table_change: tuple[str, str, Any] | None) -> None:
    generated, closures = _ORDERS
    _assert_same(generated, closures, _perturbed(changes, tickets_value), _with_tables(table_change))


def test_shared_failure_of_a_parent_field_is_every_tickets_error_with_its_own_id() -> None:
    """A parent-level value is computed once per order (memo); its failure is each ticket's dead letter."""
    generated, closures = _ORDERS
    order = _perturbed([(0, "status", (99999,)), (0, "lastupdatets", ("not a date",))], None)
    _assert_same(generated, closures, order, _CTX)
    records, errors = generated.map(copy.deepcopy(order), _CTX)
    assert records == [] and len(errors) == len(order["tickets"])
    assert len({e.source_id for e in errors}) == len(errors)


def test_too_many_tickets_is_one_error_in_both_engines() -> None:
    generated, closures = _ORDERS
    order = copy.deepcopy(_ORDER)
    order["tickets"] = [order["tickets"][0]] * (MAX_RECORDS_PER_RAW + 1)
    _assert_same(generated, closures, order, _CTX)


def test_hooks_and_errors_in_perturbed_records_of_every_golden_case() -> None:
    """Every golden record with each top-level field in turn removed, None, or of another type."""
    for case in CASES:
        cls = case.connector
        generated, closures = _both(cls.mappings_dir() / f"{case.stream}.yaml", cls.name, case.stream)
        items, page = decode_page(cls.stream(case.stream).decoder, case.input.read_bytes())
        ctx = replace(MappingContext("demo", cls.name, ZoneInfo("Europe/Brussels")), page=page)
        for odd in (None, [], [1], "x", 3, {}):  # a raw record that is no object at all
            _assert_same(generated, closures, odd, ctx)
        for raw in list(items)[:3]:
            if not isinstance(raw, dict):
                continue
            for key in list(raw)[:40]:
                for value in (None, "", 0, "x", " x  y ", [], {"a": 1}, [1, 2], 1.5, 2.0, True):
                    changed = {**raw, key: value}
                    _assert_same(generated, closures, changed, ctx)
                _assert_same(generated, closures, {k: v for k, v in raw.items() if k != key}, ctx)


def test_mapping_source_is_readable() -> None:
    generated, closures = _ORDERS
    source = mapping_source(generated)
    assert "d0.get('eventid')" in source and "canonical_id(" in source
    assert "no generated source" in mapping_source(closures)
    json.dumps(source)  # plain text



# -- conditions on ints --------------------------------------------------------------------------------

_LISTED = st.lists(st.one_of(st.integers(-1000, 1000), st.sampled_from(["007", "+1", "1_000", "-0", "--5", " 12 ", "٣",
                                                                      "1.0", True, None, "x", 2**70, str(2**70)]),
                             st.text(alphabet="-0123 ", max_size=4)), max_size=5)


@settings(max_examples=400, deadline=None, database=None)
@given(listed=_LISTED, operator=st.sampled_from(["in", "not_in", "equals"]),
       values=st.lists(st.one_of(st.integers(-1000, 1000), st.sampled_from([7, 2**70, -0, True, False, 1.0, "7", None])),
                       max_size=6))
def test_a_condition_on_ints_is_the_closures_condition(listed: list[Any], operator: str, values: list[Any]) -> None:
    """``status: 21002`` as an int is compared as an int in the generated code: the same truth as ``str``."""
    test: Any = listed[0] if operator == "equals" and listed else listed
    spec = {"entity": "event", "source_id": "id",
            "fields": {"title.nl": {"case": [{"when": {"path": "code", operator: test}, "value": "yes"}, {"value": "no"}]}}}
    generated = compile_mapping(spec, "acme", "events")
    closures = compile_mapping(spec, "acme", "events", generated=False)
    ctx = MappingContext("demo", "acme", ZoneInfo("Europe/Brussels"))
    for value in values:
        _assert_same(generated, closures, {"id": 1, "code": value}, ctx)


@pytest.mark.parametrize("whole", [{"path": "seat"}, {"path": "seat", "default": None}, {"value": "x"}, None])
def test_a_nested_field_after_its_parent_field_is_written_as_the_closures_write_it(whole: Any) -> None:
    """``seat`` set whole by one field, then ``seat.zone`` and ``seat.row``: dict, text, None, absent."""
    fields: dict[str, Any] = {"seat.zone": {"path": "zone"}}
    if whole is not None:
        fields["seat"] = whole
    fields["seat.row"] = {"path": "row"}
    spec = {"entity": "event", "source_id": "id", "fields": fields}
    generated = compile_mapping(spec, "acme", "events")
    closures = compile_mapping(spec, "acme", "events", generated=False)
    ctx = MappingContext("demo", "acme", ZoneInfo("Europe/Brussels"))
    for seat in ({"n": 1}, "text", None, [], [1], _ABSENT):
        for zone in ("A", None):
            raw = {"id": 1, "zone": zone, "row": "3"}
            if seat is not _ABSENT:
                raw["seat"] = seat
            _assert_same(generated, closures, raw, ctx)


_ABSENT = object()
