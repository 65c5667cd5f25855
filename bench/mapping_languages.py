"""Cost per record of the same field expressions in JSONata, jq, JMESPath and the compiled mapping engine.

    .venv/bin/python bench/mapping_languages.py            # 2,000 Ticketmatic-like events, best of 3
    options: --records N  --repeat N

The records are the Ticketmatic sandbox's own seeded events with the page's lookup tables attached,
as the connector hands them to the mapping. Each language evaluates the same four expressions per
record, each compiled once before timing (as a mapping would be):

- ``langs``: a language map from several paths (``name`` -> nl, ``translations.namefr`` -> fr, ...),
  empty languages left out;
- ``case``: a condition (draft/closed -> ``unavailable``, cancelled flag -> ``cancelled``, else ``open``);
- ``sum``: a sum over a list (capacity = sum of ``contingents[].amount``);
- ``join``: a lookup into a page-level table + a join (venue street = street1 + street2 of
  ``lookup.locations[locationid]``); JMESPath has no key built from data, so it cannot say this one.

Every language's results are checked against the engine's before anything is timed. Prints µs per
record per expression and ends with ONE ``key=value`` line (µs per record, all four expressions).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

import jmespath
import jq
import jsonata

import connectors.ticketmatic.sandbox as sandbox
from podium.mapping import MappingContext
from podium.mapping.engine import _build, _compile_fields, _Usage
from podium.parsing.base import PageContext

CTX = MappingContext(house="cc-bench", system="ticketmatic", page=PageContext(tables=sandbox._lookup("events")))

ENGINE = {
    "langs": {"langs": {"nl": "name", "fr": "translations.namefr", "de": "translations.namede",
                        "en": "translations.nameen"}},
    "case": {"case": [{"when": {"path": "currentstatus", "in": [19001, 19003]}, "value": "unavailable"},
                      {"when": {"path": "c_cancelled", "in": [True, 1, "ja"]}, "value": "cancelled"}],
             "default": "open"},
    "sum": {"path": "contingents[].amount", "aggregate": "sum"},
    "join": {"join": [{"lookup": "locations", "key": "locationid", "path": "street1"},
                      {"lookup": "locations", "key": "locationid", "path": "street2"}]},
}
JSONATA = {
    "langs": '$sift({"nl": name, "fr": translations.namefr, "de": translations.namede,'
             ' "en": translations.nameen}, function($v) {$v != ""})',
    "case": '(currentstatus in [19001, 19003]) ? "unavailable" : '
            '(c_cancelled in [true, 1, "1", "true", "ja"] ? "cancelled" : "open")',
    "sum": "$sum(contingents.amount)",
    "join": '($place := $lookup(`@_lookup`.locations, $string(locationid));'
            ' $join([$place.street1, $place.street2][$ != ""], " "))',
}
JQ = {
    "langs": '{nl: .name, fr: .translations.namefr, de: .translations.namede, en: .translations.nameen}'
             ' | with_entries(select(.value != null and .value != ""))',
    "case": 'if (.currentstatus == 19001 or .currentstatus == 19003) then "unavailable" '
            'elif ([.c_cancelled] | inside([true, 1, "1", "true", "ja"])) then "cancelled" else "open" end',
    "sum": "[.contingents[]?.amount] | add",
    "join": '."@_lookup".locations[.locationid | tostring] | [.street1, .street2]'
            ' | map(select(. != null and . != "")) | join(" ")',
}
JMESPATH = {
    "langs": "{nl: name, fr: translations.namefr, de: translations.namede, en: translations.nameen}",
    "case": "(contains(`[19001, 19003]`, currentstatus) && 'unavailable')"
            " || (contains(`[true, 1, \"1\", \"true\", \"ja\"]`, c_cancelled) && 'cancelled') || 'open'",
    "sum": "sum(contingents[].amount)",
}


def records(count: int) -> list[dict[str, Any]]:
    """Seeded Ticketmatic events, each carrying the page's lookup tables for the expression languages
    (the engine reads them from its page context, ``CTX.page``)."""
    seeded = sandbox._seed(random.Random(8), {"events": count, "contacts": 1, "orders": 1})["events"]
    lookup = sandbox._lookup("events")
    out = []
    for event in json.loads(json.dumps(seeded, default=str)):
        event["@_lookup"] = lookup
        out.append(event)
    return out


def _engine_fn(name: str) -> Callable[[dict[str, Any]], Any]:
    fields = _compile_fields({name: ENGINE[name]}, "", _Usage())
    return lambda record: _build(fields, (record,), CTX).get(name)


def _clean(value: Any) -> Any:
    """Results as the engine gives them: empties left out of maps, nothing for an empty value."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if v not in (None, "")}
    return None if value in (None, "", {}, []) else value


def compiled() -> dict[str, dict[str, Callable[[dict[str, Any]], Any]]]:
    """Every language's expressions, compiled once."""
    languages: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
        "engine": {name: _engine_fn(name) for name in ENGINE}}
    languages["jsonata"] = {name: jsonata.Jsonata(expr).evaluate for name, expr in JSONATA.items()}
    languages["jq"] = {name: (lambda program: lambda record: program.input_value(record).first())(jq.compile(expr))
                       for name, expr in JQ.items()}
    languages["jmespath"] = {name: jmespath.compile(expr).search for name, expr in JMESPATH.items()}
    return languages


def check(languages: dict[str, dict[str, Callable[[dict[str, Any]], Any]]], data: list[dict[str, Any]]) -> None:
    """Every language says the same as the engine (a benchmark of wrong answers measures nothing)."""
    for name, engine in languages["engine"].items():
        expected = [_clean(engine(record)) for record in data]
        for language, expressions in languages.items():
            if name in expressions:
                got = [_clean(expressions[name](record)) for record in data]
                if name == "sum":
                    got = [None if value in (0, None) else value for value in got]
                    expected_sum = [None if value in (0, None) else value for value in expected]
                    assert got == expected_sum, (language, name)
                else:
                    assert got == expected, (language, name, got[:3], expected[:3])


def timed(fn: Callable[[dict[str, Any]], Any], data: list[dict[str, Any]], repeat: int) -> float:
    """Best-of-``repeat`` µs per record."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for record in data:
            fn(record)
        best = min(best, time.perf_counter() - started)
    return best / len(data) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = records(args.records)
    languages = compiled()
    check(languages, data)
    totals: dict[str, float] = {}
    print(f"{len(data)} Ticketmatic events, µs per record (best of {args.repeat})")
    print(f"{'':10}" + "".join(f"{name:>10}" for name in ENGINE) + f"{'total':>10}")
    for language, expressions in languages.items():
        row = {name: timed(fn, data, args.repeat) for name, fn in expressions.items()}
        totals[language] = sum(row.values())
        cells = "".join(f"{row[name]:>10.2f}" if name in row else f"{'n/a':>10}" for name in ENGINE)
        print(f"{language:10}{cells}{totals[language]:>10.2f}")
    print(" ".join(f"{language}_us_per_record={total:.2f}" for language, total in totals.items()))


if __name__ == "__main__":
    main()
