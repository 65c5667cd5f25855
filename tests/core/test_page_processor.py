"""``PageProcessor`` stores what the closures' records dump to, byte for byte, whatever the mapping shares.

The generated code gives the records of one raw record one shared ``extras.parent``
(``CompiledMapping.shared_parent_extras``) and ``PageProcessor`` writes its JSON once per raw record;
the closures copy it per record and the processor dumps each record whole. Both must store the same
records (id, bytes, hash, parent) and the same dead letters (reason, ids, paths, raw), in the same
order: over every golden page, and over Ticketmatic orders whose order-level fields hold what a JSON
encoder may refuse (a lone surrogate, nesting past its limit, a NUL, a value it writes with ``str``).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.engine import PageProcessor, PageResult
from podium.mapping import MappingContext, compile_mapping
from podium.mapping.schema import load_mapping_document
from podium.parsing.base import RecordError, decode_page
from podium.registry import all_connectors
from podium.sdk.connector import Page
from podium.testing.golden import golden_cases

CONNECTORS = all_connectors()
CASES = [case for cls in CONNECTORS.values() for case in golden_cases(cls)]


def _processors(cls: Any, stream: str, ctx: MappingContext) -> tuple[PageProcessor, PageProcessor]:
    path = cls.mappings_dir() / f"{stream}.yaml"
    spec, document = cls.stream(stream), load_mapping_document(path)
    generated = compile_mapping(document, cls.name, stream, str(path))
    closures = compile_mapping(document, cls.name, stream, str(path), generated=False)
    assert not closures.shared_parent_extras
    return (PageProcessor(generated, ctx, spec.entity, spec.primary_key),
            PageProcessor(closures, ctx, spec.entity, spec.primary_key))


def _process(processor: PageProcessor, raws: list[Any], page: Page) -> PageResult:
    return processor.process(replace(page, records=copy.deepcopy(raws)))


def _assert_same(processors: tuple[PageProcessor, PageProcessor], raws: list[Any], page: Page) -> PageResult:
    shared, copied = (_process(p, raws, page) for p in processors)
    assert shared.records == copied.records
    assert shared.dead == copied.dead
    assert (shared.read, shared.complete_parents) == (copied.read, copied.complete_parents)
    return shared


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_golden_page_stores_the_same_records_and_letters(case: Any) -> None:
    cls = case.connector
    ctx = MappingContext("demo", cls.name, ZoneInfo("Europe/Brussels"))
    items, context = decode_page(cls.stream(case.stream).decoder, case.input.read_bytes())
    raws = [item for item in items if not isinstance(item, RecordError)]
    _assert_same(_processors(cls, case.stream, ctx), raws, Page(records=raws, state={}, context=context))


# -- Ticketmatic orders with order-level values an encoder may refuse -----------------------------------

_TICKETMATIC = CONNECTORS["ticketmatic"]
_INPUT = next(case.input for case in golden_cases(_TICKETMATIC) if case.stream == "orders" and case.name == "page")
_ITEMS, _CONTEXT = decode_page(_TICKETMATIC.stream("orders").decoder, _INPUT.read_bytes())
_ORDERS = [item for item in _ITEMS if isinstance(item, dict) and item.get("tickets")]
_CTX = MappingContext("demo", "ticketmatic", ZoneInfo("Europe/Brussels"))
_PROCESSORS = _processors(_TICKETMATIC, "orders", _CTX)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


_odd = st.one_of(
    st.sampled_from(["\ud800", "a\u0000b", 10**30, -(2**63) - 1, 1.5, float("nan"), float("inf"), (1, 2),
                     frozenset(), b"bytes", {1: "int key"}, {"k": "\udfff"}]),
    st.integers(min_value=240, max_value=260).map(_nested),
    st.text(max_size=4), st.none(), st.integers(),
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.integers(min_value=0, max_value=len(_ORDERS) - 1),
                                  st.sampled_from(["code", "payments", "totalamount", "extra", "status", "tickets"]),
                                  _odd), max_size=4))
def test_odd_order_level_values_give_the_same_records_and_letters(changes: list[tuple[int, str, Any]]) -> None:
    orders = copy.deepcopy(_ORDERS)
    for index, key, value in changes:
        orders[index][key] = value
    _assert_same(_PROCESSORS, orders, Page(records=orders, state={}, context=_CONTEXT))


def test_the_order_json_is_written_once_and_shared_by_its_tickets() -> None:
    generated = _PROCESSORS[0].mapping
    assert generated.shared_parent_extras
    records, _ = generated.map(copy.deepcopy(_ORDERS[0]), replace(_CTX, page=_CONTEXT))
    assert len(records) > 1 and all(r["extras"]["parent"] is records[0]["extras"]["parent"] for r in records)
    result = _assert_same(_PROCESSORS, _ORDERS, Page(records=_ORDERS, state={}, context=_CONTEXT))
    assert result.records and not result.dead


def test_a_nesting_past_the_encoders_limit_fails_as_in_the_whole_record() -> None:
    """254 levels under ``extras.parent`` pass alone but not inside the record: the letter is the same."""
    orders = copy.deepcopy(_ORDERS[:1])
    for depth in (250, 251, 252, 253, 254, 255):
        orders[0]["payments"] = _nested(depth)
        _assert_same(_PROCESSORS, orders, Page(records=orders, state={}, context=_CONTEXT))
