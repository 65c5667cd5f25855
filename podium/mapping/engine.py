"""Compile a mapping file into a fast function: raw vendor record -> canonical records.

A mapping is data (``mappings/<vendor>/<stream>.yaml``)::

    entity: ticket                  # event | contact | ticket
    each: tickets                   # optional: one canonical record per item of this list;
                                    #   inside, paths are relative to the item and ``^.x`` reads the parent
    pre: pkg.module:function        # optional escape hatch: raw -> list of raw records (e.g. explode a calendar)
    source_id: ticketid             # the vendor id (a field spec; always stored as a string)
    modified: {path: ^.lastupdatets, transform: utc_datetime}
    deleted: {path: isdeleted, transform: bool}
    fields:                         # canonical target (dotted) -> field spec
      order_id: ^.orderid           #   a bare string is a path
      status: {path: status, map: {"101": sold, "102": refunded}, default: sold}
      price.amount: {path: price, transform: number}
      price.currency: {value: EUR}
      phones: {paths: [phone, mobile], transform: phone_e164}      # several paths -> a list
      prices: {each: prices, fields: {amount: price, currency: {value: EUR}}}  # list of objects
    extras:
      exclude: [lookup]             # vendor fields deliberately not kept (say why in a comment)
    post: pkg.module:function       # optional escape hatch: (canonical, raw, ctx) -> canonical
    vanished: {set: {status: refunded}}   # optional, for mappings that yield several records per raw
                                    #   record: what becomes of a record that is missing when its raw
                                    #   record is read again (``deleted`` = a tombstone)
    unlisted: {set: {consents: []}}  # optional, for streams read whole on every sync: what becomes of a
                                    #   stored record a complete read from the first page no longer lists
    function: pkg.module:function   # escape hatch for the whole record: (raw, ctx) -> list of partial records

Field spec keys: ``path`` (str, or a list: first non-empty wins), ``paths``, ``value``, ``template``
(``"https://x/{id}"``), ``transform`` (a name, ``{name: arg}``, or a list of them; see
``transforms.TRANSFORMS``), ``map`` (lookup table applied after transforms), ``default``,
``required``, ``each`` + ``fields`` (+ ``where``, ``distinct``, ``position``), ``when``, ``case``,
``first_of``, ``absent``, ``langs``, ``join``, ``aggregate``, ``lookup`` + ``key``, ``items``,
``availability``, ``entry`` (``{key, value}``: an object whose key is computed). ``lookup`` reads the page's tables and ``language_of: $page.language`` the page's
language (``MappingContext.page``, set by the connector's decoder). Paths are dotted; a number indexes a list; ``a[].b`` projects a list. Top level
also: ``reject``, ``explode``, ``link`` and ``entity: outbound``
(canonical -> vendor). ``schemas/mapping.schema.json`` is the reference; ``docs/mapping-language.md``
says why the format is compiled closures rather than an embedded expression language.

Every top-level field of the record that no path reads lands in ``extras`` (the parent's under
``extras.parent``): vendor data is never silently dropped.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from podium.errors import ConfigError
from podium.ids import canonical_id
from podium.mapping.schema import load_mapping_document
from podium.mapping.transforms import LANGS, TRANSFORMS
from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext

Scope = tuple[Any, ...]  # (item, parent, grandparent, ...)
Getter = Callable[[Scope], Any]
_MISSING = object()
_EMPTYABLE = (str, list, dict)
# Values a parent-level field may share between the records of one raw record (immutable).
_SHAREABLE = frozenset({str, int, float, bool, type(None)})
_ENTITIES = ("event", "contact", "ticket")
_TOP_KEYS = {"entity", "each", "pre", "post", "function", "source_id", "source_url", "modified", "deleted",
             "fields", "extras", "description", "vanished", "unlisted", "link", "reject", "explode"}
_SPEC_KEYS = {"path", "paths", "value", "template", "transform", "map", "default", "required", "each", "fields",
              "langs", "join", "separator", "aggregate", "absent", "lookup", "key", "first_of", "case", "when",
              "error", "where", "distinct", "position", "availability", "items", "language_of", "entry"}
_OUTBOUND = "outbound"  # entity of a canonical -> vendor mapping: no envelope, no canonical id

# What one raw record may explode into (``pre`` hooks, ``each``): a vendor record with 100,000 dates
# took 1.9 GB. Real records stay far below (a daily exhibition over ten years is ~3,650 dates); a
# record past the cap is a dead letter, checked before the list is built wherever a hook can.
MAX_RECORDS_PER_RAW = 10_000


class MappingError(ValueError):
    """A record that cannot be mapped; the message names the canonical field and the cause."""

    def __init__(self, message: str, source_id: str | None = None, path: str = "") -> None:
        super().__init__(message)
        self.source_id = source_id
        self.path = path


class RecordTooLargeError(MappingError):
    """A raw record that would explode into more than ``MAX_RECORDS_PER_RAW`` records."""


def check_explosion(count: int, what: str, source_id: str | None = None) -> None:
    """Raise ``RecordTooLargeError`` when ``count`` items of ``what`` exceed ``MAX_RECORDS_PER_RAW``.

    Call it with the length of the list about to be exploded, before building anything from it.
    """
    if count > MAX_RECORDS_PER_RAW:
        raise RecordTooLargeError(f"record too large: {count} {what} (at most {MAX_RECORDS_PER_RAW} records "
                                  f"per raw record)", source_id=source_id)


def unexpected(exc: BaseException, where: str = "") -> MappingError:
    """Any exception raised while mapping one record, as that record's MappingError (class + message)."""
    if isinstance(exc, MappingError):
        return exc
    prefix = f"{where}: " if where else ""
    return MappingError(f"{prefix}{type(exc).__name__}: {exc}", path=where)


@dataclass(frozen=True)
class MappingContext:
    """What every record of a page is mapped with: the house, the source system and the page's context."""

    house: str
    system: str
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Brussels"))
    page: PageContext = EMPTY_PAGE_CONTEXT  # the page's lookup tables and language (``lookup``, ``$page.language``)


# ``language_of`` reads the record at a path, or the language of the page it was served in.
PAGE_LANGUAGE = "$page.language"


def _empty(value: Any) -> bool:
    """None, "", [] or {} (0 and False are values)."""
    return value is None or (not value and isinstance(value, _EMPTYABLE))


def _compile_path(path: str) -> tuple[Getter, int, str]:
    """Getter for a dotted path; returns (getter, levels up, first segment)."""
    up = 0
    rest = path
    while rest.startswith("^"):
        up += 1
        rest = rest[1:].lstrip(".")
    if "[]" in rest:
        return _compile_projection(rest, up)
    parts = tuple(int(p) if p.lstrip("-").isdigit() else p for p in rest.split(".")) if rest else ()
    first = str(parts[0]) if parts else ""
    # Most paths are one key on the record or its parent: those get a getter without the loop.
    if not parts:
        def get_node(scope: Scope) -> Any:
            return scope[up] if up < len(scope) else None
        return get_node, up, first
    if len(parts) == 1 and isinstance(parts[0], str):
        key = parts[0]
        if up == 0:  # a scope always holds the record itself
            def get_key(scope: Scope) -> Any:
                node = scope[0]
                return node.get(key) if isinstance(node, dict) else None
            return get_key, up, first

        def get_up_key(scope: Scope) -> Any:
            if up >= len(scope):
                return None
            node = scope[up]
            return node.get(key) if isinstance(node, dict) else None
        return get_up_key, up, first

    def get(scope: Scope) -> Any:
        if up >= len(scope):
            return None
        node = scope[up]
        for part in parts:
            if isinstance(node, dict):
                node = node.get(part) if not isinstance(part, int) else node.get(str(part))
            elif isinstance(node, list) and isinstance(part, int):
                node = node[part] if -len(node) <= part < len(node) else None
            else:
                return None
            if node is None:
                return None
        return node

    return get, up, first


def _step(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part) if not isinstance(part, int) else node.get(str(part))
    if isinstance(node, list) and isinstance(part, int):
        return node[part] if -len(node) <= part < len(node) else None
    return None


def _compile_projection(path: str, up: int) -> tuple[Getter, int, str]:
    """``a.b[].c``: every ``c`` of the list ``a.b``, as a flat list without empties (``[]`` may repeat)."""
    steps: list[str | int | None] = []  # None = flatten the list at hand
    for chunk in path.split("."):
        name, flatten = (chunk[:-2], True) if chunk.endswith("[]") else (chunk, False)
        if name:
            steps.append(int(name) if name.lstrip("-").isdigit() else name)
        if flatten:
            steps.append(None)
    first = str(steps[0]) if steps and steps[0] is not None else ""

    def project(scope: Scope) -> Any:
        if up >= len(scope):
            return None
        nodes = [scope[up]]
        for part in steps:
            if part is None:
                wrong = next((node for node in nodes if not isinstance(node, list)), None)
                if wrong is not None:  # a list the vendor sent as something else: bad data, not "none"
                    raise ValueError(f"{path}: expected a list, got {type(wrong).__name__}")
                nodes = [item for node in nodes for item in node]
            else:
                nodes = [found for node in nodes if (found := _step(node, part)) is not None]
        return [node for node in nodes if not _empty(node)]
    return project, up, first


def _import(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"mapping function '{ref}' cannot be imported: {exc}") from None


def _compile_transforms(spec: Any, where: str) -> list[Callable[[Any, Any], Any]]:
    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    fns = []
    for item in items:
        name, arg = (next(iter(item.items())) if isinstance(item, dict) else (item, None))
        factory = TRANSFORMS.get(name)
        if factory is None:
            raise ConfigError(f"{where}: unknown transform '{name}' (known: {', '.join(sorted(TRANSFORMS))})")
        fns.append(factory(arg))
    return fns


class _Usage:
    """Compile state: which top-level keys each scope level reads (for extras) and the position of
    the item an enclosing ``each`` is building."""

    def __init__(self) -> None:
        self.levels: dict[int, set[str]] = {}
        self.position = [0]
        self.exploded = [False]  # whether the record at hand is one of an ``explode``'s records

    def child(self) -> _Usage:
        """The state of a nested ``each`` (its own extras and positions; same explosion)."""
        nested = _Usage()
        nested.exploded = self.exploded
        return nested

    def add(self, up: int, first: str) -> None:
        if first:
            self.levels.setdefault(up, set()).add(first)


def _compile_value(spec: Any, where: str, usage: _Usage, depth: int = 0,
                   reads: list[int] | None = None, absent: frozenset[Any] = frozenset()) -> Callable[[Scope, Any], Any]:
    """Compile one field spec into fn(scope, ctx) -> value or _MISSING; raises MappingError on bad data.

    ``reads`` collects the scope levels the spec's paths read (0 = the record, 1 = its parent, ...).
    """
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a field spec is a path or a mapping, got {spec!r}")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(_SPEC_KEYS)})")

    def track(path: str) -> Getter:
        getter, up, first = _compile_path(path)
        if up <= depth:  # paths to levels above this mapping's records are not extras candidates
            usage.add(up, first)
        if reads is not None:
            reads.append(up)
        if absent:  # a vendor's "none" read as empty, so a list of paths falls through to the next
            plain = getter

            def getter(scope: Scope) -> Any:
                value = plain(scope)
                return None if type(value) in _SHAREABLE and (type(value), value) in absent else value
        return getter

    transforms = _compile_transforms(spec.get("transform"), where)
    table = spec.get("map")
    table = {str(k).lower(): v for k, v in table.items()} if isinstance(table, dict) else None
    has_default = "default" in spec
    default = spec.get("default")
    required = bool(spec.get("required"))

    def convert(value: Any, ctx: Any) -> Any:
        try:
            for fn in transforms:
                if _empty(value):
                    return _MISSING
                value = fn(value, ctx)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise MappingError(f"{where}: {exc}", path=where) from None
        if table is not None and not _empty(value):
            key = str(value).lower()
            if key in table:
                value = table[key]
            elif has_default:
                value = default
            else:
                raise MappingError(f"{where}: unknown value {value!r} (known: {', '.join(table)})", path=where)
        return value

    converts = bool(transforms) or table is not None  # else a composed value passes as it is

    def finish(value: Any) -> Any:
        if _empty(value) or value is _MISSING:
            if has_default:
                return default
            if required:
                raise MappingError(f"{where}: required value missing", path=where)
            return _MISSING
        return value

    def sub(part: Any, suffix: str) -> ValueFn:
        return _compile_value(part, f"{where}{suffix}", usage, depth, reads)

    if "language_of" in spec:
        # Text served in a language known only per record (e.g. the language the connector asked for).
        language_path = str(spec["language_of"])
        lang_getter = None if language_path == PAGE_LANGUAGE else _compile_path(language_path)[0]
        text_fn = _compile_value({k: v for k, v in spec.items() if k != "language_of"}, where, usage, depth, reads)

        def language_of_fn(scope: Scope, ctx: Any) -> Any:
            value = text_fn(scope, ctx)
            if value is _MISSING:
                return value
            served = ctx.page.language if lang_getter is None else lang_getter(scope)
            lang = str(served or "nl").lower()[:2]
            return {lang if lang in LANGS else "nl": value}
        return language_of_fn
    if "when" in spec:
        # A field that exists only under a condition (the branch form of ``when`` is ``case``).
        test = _compile_condition(spec["when"], f"{where}.when", usage, depth, reads)
        guarded = _compile_value({k: v for k, v in spec.items() if k != "when"}, where, usage, depth, reads)
        return lambda scope, ctx: guarded(scope, ctx) if test(scope) else _MISSING
    if "absent" in spec:
        # Values the vendor uses for "none" (an id 0): handled as empty, after transforms.
        nones = frozenset((type(v), v) for v in spec["absent"])  # typed: 0 is absent, False is a value
        inner = _compile_value({k: v for k, v in spec.items() if k not in ("absent", "default", "required")},
                               where, usage, depth, reads, nones)

        def absent_fn(scope: Scope, ctx: Any) -> Any:
            value = inner(scope, ctx)
            if value is _MISSING or (type(value) in _SHAREABLE and (type(value), value) in nones):
                return finish(_MISSING)
            return value
        return absent_fn
    if "each" in spec:
        list_getter = track(spec["each"])
        child = usage.child()
        sub_fields = _compile_fields(spec.get("fields", {}), f"{where}[]", child, depth + 1)
        keep = _compile_condition(spec["where"], f"{where}.where", child, depth + 1) if "where" in spec else None
        distinct = _compile_path(spec["distinct"])[0] if "distinct" in spec else None
        position = child.position

        def each_fn(scope: Scope, ctx: Any) -> Any:
            items = list_getter(scope)
            if items is None:
                return finish(None)
            if not isinstance(items, list):
                items = [items]
            out: list[dict[str, Any]] = []
            seen: set[Any] = set()
            for item in items:
                inner_scope = (item, *scope)
                if keep is not None and not keep(inner_scope):
                    continue
                if distinct is not None:
                    marker = distinct(inner_scope)
                    if marker in seen:
                        continue
                    seen.add(marker)
                position[0] = len(out)
                obj = _build(sub_fields, inner_scope, ctx)
                if obj:
                    out.append(obj)
            return finish(out)
        return each_fn
    if "items" in spec:
        # A list whose elements are declared one by one (e.g. categories from two columns); an element
        # that is an ``each`` adds its items (one consent from a status, more from a permissions list).
        elements = [(sub(element, f"[{i}]"), isinstance(element, dict) and "each" in element)
                    for i, element in enumerate(spec["items"])]

        def items_fn(scope: Scope, ctx: Any) -> Any:
            values: list[Any] = []
            for fn, spliced in elements:
                value = fn(scope, ctx)
                if value is _MISSING or _empty(value):
                    continue
                if spliced and isinstance(value, list):
                    values.extend(value)
                else:
                    values.append(value)
            return finish(values)
        return items_fn
    if "fields" in spec:
        # An object built from the same record (``fields`` without ``each``).
        object_fields = _compile_fields(spec["fields"], f"{where}.", usage, depth)
        return lambda scope, ctx: finish(_build(object_fields, scope, ctx))
    if "position" in spec:
        slot = usage.position  # the index (among kept items) of the item the enclosing ``each`` builds
        return lambda scope, ctx: finish(convert(slot[0], ctx))
    if "case" in spec:
        Branch = tuple[Callable[[Scope], bool] | None, ValueFn | None, Callable[[Scope], str] | None]
        branches: list[Branch] = []
        for index, branch in enumerate(spec["case"]):
            if not isinstance(branch, dict):
                raise ConfigError(f"{where}.case[{index}]: a branch is a mapping with 'when' and a value")
            branch_test = _compile_condition(branch["when"], f"{where}.case[{index}].when", usage, depth, reads) \
                if "when" in branch else None
            if "error" in branch:
                branches.append((branch_test, None, _compile_message(str(branch["error"]))))
            else:
                body = {k: v for k, v in branch.items() if k != "when"}
                branches.append((branch_test, sub(body, f".case[{index}]"), None))

        def case_fn(scope: Scope, ctx: Any) -> Any:
            for branch_test, body, message in branches:
                if branch_test is None or branch_test(scope):
                    if message is not None:
                        raise MappingError(f"{where}: {message(scope)}", path=where)
                    value = body(scope, ctx)  # type: ignore[misc]
                    if value is _MISSING:
                        return finish(_MISSING)
                    return convert(value, ctx) if converts else value
            return finish(_MISSING)
        return case_fn
    if "first_of" in spec:
        options = [sub(option, f".first_of[{i}]") for i, option in enumerate(spec["first_of"])]

        def first_of_fn(scope: Scope, ctx: Any) -> Any:
            for option in options:
                value = option(scope, ctx)
                if value is not _MISSING and not _empty(value):
                    return finish(convert(value, ctx)) if converts else value
            return finish(_MISSING)
        return first_of_fn
    if "langs" in spec:
        per_lang = []
        for lang, part in spec["langs"].items():
            part_spec = part if isinstance(part, dict) else {"path": part, "transform": spec.get("transform")}
            per_lang.append((str(lang), sub(part_spec, f".{lang}")))

        def langs_fn(scope: Scope, ctx: Any) -> Any:
            out = {}
            for lang, fn in per_lang:
                value = fn(scope, ctx)
                if value is not _MISSING and not _empty(value):
                    out[lang] = value
            return finish(out)
        return langs_fn
    if "join" in spec:
        pieces = [sub(piece, f".join[{i}]") for i, piece in enumerate(spec["join"])]
        separator = str(spec.get("separator", " "))

        def join_fn(scope: Scope, ctx: Any) -> Any:
            parts = [str(v) for fn in pieces if (v := fn(scope, ctx)) is not _MISSING and not _empty(v)]
            return finish(convert(separator.join(parts), ctx) if parts else _MISSING)
        return join_fn
    if "aggregate" in spec:
        operation = _AGGREGATES.get(spec["aggregate"])
        if operation is None:
            raise ConfigError(f"{where}: unknown aggregate {spec['aggregate']!r} (known: {', '.join(_AGGREGATES)})")
        values_getter = track(spec.get("path", ""))

        def aggregate_fn(scope: Scope, ctx: Any) -> Any:
            values = values_getter(scope)
            items = values if isinstance(values, list) else ([] if _empty(values) else [values])
            converted = []
            for item in items:
                if _empty(item):
                    continue
                try:
                    value = item
                    for fn in transforms:
                        value = fn(value, ctx)
                except (ValueError, TypeError, ArithmeticError) as exc:
                    raise MappingError(f"{where}: {exc}", path=where) from None
                if not _empty(value):
                    converted.append(value)
            return finish(operation(converted))
        return aggregate_fn
    if "lookup" in spec:
        table_name = str(spec["lookup"])
        key_fn = sub(spec.get("key"), ".key")
        row_getter = _compile_path(str(spec.get("path", "")))[0]  # a path into the table row, not the record

        def lookup_fn(scope: Scope, ctx: Any) -> Any:
            table = ctx.page.tables.get(table_name)
            key = key_fn(scope, ctx)
            row = table.get(str(key)) if isinstance(table, dict) and key is not _MISSING else None
            if not isinstance(row, dict):
                return finish(_MISSING)
            value = row_getter((row,))
            return finish(_MISSING if _empty(value) else convert(value, ctx))
        return lookup_fn
    if "entry" in spec:
        # An object of one entry whose key is a value too (an external id under the system name a house
        # configures): the key and the value are field specs; either missing leaves the field out.
        entry = spec["entry"]
        if not isinstance(entry, dict) or set(entry) != {"key", "value"}:
            raise ConfigError(f"{where}: entry needs exactly a key and a value (field specs)")
        entry_key_fn, entry_value_fn = sub(entry["key"], ".entry.key"), sub(entry["value"], ".entry.value")

        def entry_fn(scope: Scope, ctx: Any) -> Any:
            key, value = entry_key_fn(scope, ctx), entry_value_fn(scope, ctx)
            if key is _MISSING or value is _MISSING or _empty(key):
                return finish(_MISSING)
            return finish({str(key): value})
        return entry_fn
    if "availability" in spec:
        rule = spec["availability"]
        capacity_fn = sub(rule["capacity"], ".capacity") if "capacity" in rule else None
        left_fn = sub(rule["left"], ".left")
        share = float(rule.get("limited_share", 0.1))
        inclusive = bool(rule.get("limited_inclusive", False))
        needs_capacity = bool(rule.get("needs_capacity", False))

        def availability_fn(scope: Scope, ctx: Any) -> Any:
            capacity = capacity_fn(scope, ctx) if capacity_fn is not None else _MISSING
            capacity = None if capacity is _MISSING else capacity
            left = left_fn(scope, ctx)
            left = None if left is _MISSING else left
            return finish(availability_from(capacity, left, share, inclusive, needs_capacity) or _MISSING)
        return availability_fn
    if "value" in spec:
        constant = spec["value"]
        return lambda scope, ctx: constant
    if "template" in spec:
        template = str(spec["template"])
        getter = track("")

        def template_fn(scope: Scope, ctx: Any) -> Any:
            try:
                return finish(template.format_map(_Defaulting(getter(scope) or {})))
            except (KeyError, ValueError, IndexError):
                return finish(None)
        return template_fn
    if "paths" in spec:
        getters = [track(p) for p in spec["paths"]]

        def paths_fn(scope: Scope, ctx: Any) -> Any:
            out = []
            for get in getters:
                value = get(scope)
                for element in value if isinstance(value, list) else [value]:
                    if not _empty(element):
                        converted = convert(element, ctx)
                        if converted is not _MISSING and not _empty(converted) and converted not in out:
                            out.append(converted)
            return finish(out)
        return paths_fn
    paths = spec.get("path")
    if paths is None:
        raise ConfigError(f"{where}: needs one of path, paths, value, template or each")
    getters = [track(p) for p in (paths if isinstance(paths, list) else [paths])]
    if len(getters) == 1:
        only = getters[0]
        # The common shapes without the generic convert/finish calls (same results, fewer calls).
        if not transforms and table is None:
            if not has_default and not required:
                def plain_fn(scope: Scope, ctx: Any) -> Any:
                    value = only(scope)
                    return _MISSING if _empty(value) else value
                return plain_fn

            def plain_finish_fn(scope: Scope, ctx: Any) -> Any:
                value = only(scope)
                return finish(_MISSING) if _empty(value) else value
            return plain_finish_fn
        if len(transforms) == 1 and table is None:
            transform = transforms[0]

            def transform_fn(scope: Scope, ctx: Any) -> Any:
                value = only(scope)
                if _empty(value):
                    return finish(_MISSING)
                try:
                    value = transform(value, ctx)
                except (ValueError, TypeError, ArithmeticError) as exc:
                    raise MappingError(f"{where}: {exc}", path=where) from None
                return finish(_MISSING) if value is _MISSING or _empty(value) else value
            return transform_fn

        def path_fn(scope: Scope, ctx: Any) -> Any:
            value = only(scope)
            return finish(_MISSING if _empty(value) else convert(value, ctx))
        return path_fn

    def first_fn(scope: Scope, ctx: Any) -> Any:
        for get in getters:
            value = get(scope)
            if not _empty(value):
                return finish(convert(value, ctx))
        return finish(None)
    return first_fn


_AGGREGATES: dict[str, Callable[[list[Any]], Any]] = {
    "sum": lambda values: sum(values),
    "count": len,
    "min": lambda values: min(values) if values else _MISSING,
    "max": lambda values: max(values) if values else _MISSING,
}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def availability_from(capacity: Any, left: Any, limited_share: float = 0.1, inclusive: bool = False,
                      needs_capacity: bool = False) -> str | None:
    """The sector's availability rule: nothing left = sold out, a small share left = limited.

    ``needs_capacity``: without a capacity nothing is said (the seats left mean nothing alone).
    """
    if needs_capacity and not capacity:
        return None
    if left is None:
        return None
    if left <= 0:
        return "sold_out"
    if capacity:
        limited = left <= capacity * limited_share if inclusive else left / capacity < limited_share
        if limited:
            return "limited"
    return "available"


def _compile_message(template: str) -> Callable[[Scope], str]:
    """An error message whose ``{path}`` placeholders are filled from the record (``{a|b}``: first non-empty)."""
    getters = {name: [_compile_path(option)[0] for option in name.split("|")]
               for name in _PLACEHOLDER.findall(template)}

    def fill(scope: Scope, name: str) -> str:
        values = [get(scope) for get in getters[name]]
        return str(next((value for value in values if not _empty(value)), values[-1]))
    return lambda scope: _PLACEHOLDER.sub(lambda m: fill(scope, m.group(1)), template)


def _compile_condition(spec: Any, where: str, usage: _Usage, depth: int,
                       reads: list[int] | None = None) -> Callable[[Scope], bool]:
    """A ``when``: ``{path, in|not_in|equals|matches|empty}``, ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}``.

    Values compare as lower-case text (``19001`` matches ``"19001"``, ``true`` matches ``"True"``).
    """
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a condition is a mapping, got {spec!r}")
    if "all" in spec or "any" in spec:
        listed_parts = spec["all"] if "all" in spec else spec["any"]
        parts = [_compile_condition(c, where, usage, depth, reads) for c in listed_parts]
        if "all" in spec:
            return lambda scope: all(part(scope) for part in parts)
        return lambda scope: any(part(scope) for part in parts)
    if "not" in spec:
        negated = _compile_condition(spec["not"], where, usage, depth, reads)
        return lambda scope: not negated(scope)
    if "exploded" in spec:
        state, wanted_exploded = usage.exploded, bool(spec["exploded"])
        return lambda scope: state[0] is wanted_exploded
    if "path" not in spec:
        raise ConfigError(f"{where}: a condition needs a path (or all/any/not)")
    getter, up, first = _compile_path(str(spec["path"]))
    if up <= depth:
        usage.add(up, first)
    if reads is not None:
        reads.append(up)
    if "transform" in spec:  # compare what a transform makes of the value (e.g. a title's announcement)
        raw_getter, condition_transforms = getter, _compile_transforms(spec["transform"], where)

        def getter(scope: Scope) -> Any:
            value = raw_getter(scope)
            for fn in condition_transforms:
                if _empty(value):
                    return None
                value = fn(value, None)
            return value

    def text(value: Any) -> str:
        return str(value).strip().lower()

    if "in" in spec or "not_in" in spec or "equals" in spec:
        listed = spec["in"] if "in" in spec else spec["not_in"] if "not_in" in spec else [spec["equals"]]
        accepted = {text(v) for v in listed}
        wanted = "not_in" not in spec
        def member(scope: Scope) -> bool:
            value = getter(scope)
            if value is None:
                return not wanted
            # ints (vendor status codes) are the common case: their text needs no strip/lower
            found = (str(value) if type(value) is int else str(value).strip().lower()) in accepted
            return found is wanted
        return member
    if "matches" in spec:
        pattern = re.compile(str(spec["matches"]), re.IGNORECASE)
        return lambda scope: (value := getter(scope)) is not None and pattern.search(str(value)) is not None
    if "empty" in spec:
        wanted_empty = bool(spec["empty"])
        return lambda scope: _empty(getter(scope)) is wanted_empty
    raise ConfigError(f"{where}: a condition needs one of in, not_in, equals, matches, empty")


class _Defaulting(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


ValueFn = Callable[[Scope, Any], Any]
# A compiled field: (last key, parent keys of a dotted target, value function, memo slot or None).
Field = tuple[str, tuple[str, ...], ValueFn, int | None]


def _compile_field(spec: Any, where: str, usage: _Usage, depth: int,
                   slots: Iterator[int] | None) -> tuple[ValueFn, int | None]:
    """A value function, and a memo slot when ``slots`` is given and the spec reads only parent levels.

    Such a value is the same for every record of one raw record (``each``), so it is computed once
    per raw record (see ``_memoised``).
    """
    reads: list[int] = []
    fn = _compile_value(spec, where, usage, depth, reads)
    spec_keys = spec if isinstance(spec, dict) else {}
    parent_only = bool(reads) and min(reads) >= 1 and "each" not in spec_keys and "value" not in spec_keys
    return fn, (next(slots) if slots is not None and parent_only else None)


def _compile_fields(fields: Mapping[str, Any], where: str, usage: _Usage, depth: int = 0,
                    slots: Iterator[int] | None = None) -> list[Field]:
    compiled: list[Field] = []
    for target, spec in fields.items():
        *parents, last = str(target).split(".")
        fn, slot = _compile_field(spec, f"{where}{target}", usage, depth, slots)
        compiled.append((last, tuple(parents), fn, slot))
    return compiled


class _Failure:
    """A memoised MappingError: raised anew (with its own source id) for every record that reads it."""

    __slots__ = ("message", "path")

    def __init__(self, exc: MappingError) -> None:
        self.message, self.path = str(exc), exc.path


def _memoised(memo: dict[int, Any], slot: int, fn: ValueFn, scope: Scope, ctx: Any) -> Any:
    hit = memo.get(slot, memo)  # the memo itself marks "not computed yet"
    if hit is memo:
        try:
            value = fn(scope, ctx)
        except MappingError as exc:
            memo[slot] = _Failure(exc)
            raise
        if value is _MISSING or type(value) in _SHAREABLE:
            memo[slot] = value
        return value
    if type(hit) is _Failure:
        raise MappingError(hit.message, path=hit.path)
    return hit


def _build(fields: Iterable[Field], scope: Scope, ctx: Any, memo: dict[int, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, parents, fn, slot in fields:
        if slot is None or memo is None:
            value = fn(scope, ctx)
        else:
            value = memo.get(slot, memo)
            if value is memo or type(value) is _Failure:
                value = _memoised(memo, slot, fn, scope, ctx)
        if value is _MISSING:
            continue
        if parents:
            node = out
            for name in parents:
                node = node.setdefault(name, {})
            node[key] = value
        else:
            out[key] = value
    return out


def _extras(record: Any, skip: set[str]) -> dict[str, Any]:
    """The record's top-level fields not in ``skip`` (read by a path, or excluded), without empties."""
    if not isinstance(record, dict):
        return {}
    return {k: v for k, v in record.items()
            if k not in skip and not k.startswith("@_") and v is not None and (v or not isinstance(v, _EMPTYABLE))}


@dataclass
class CompiledMapping:
    """A mapping compiled once; call ``map`` for each raw record."""

    connector: str
    stream: str
    entity: str
    apply: Callable[[dict[str, Any], MappingContext], tuple[list[dict[str, Any]], list[MappingError]]]
    # What becomes of a record that its re-read raw record no longer yields: None (nothing),
    # {"deleted": True} (a tombstone) or fields to set (e.g. {"status": "refunded"}).
    vanished: dict[str, Any] | None = None
    # ``link``: canonical field holding a reference -> the entity it names (e.g. ("event", "event")).
    links: tuple[tuple[str, str], ...] = ()
    # What becomes of a stored record that a complete read of the whole list no longer serves (a
    # vendor without a change filter that drops records from its list): None, a tombstone or fields to set.
    unlisted: dict[str, Any] | None = None

    # The generated source of ``apply`` (``codegen``), "" where the closures run (see ``mapping_source``).
    source: str = ""
    # Whether mapping calls vendor Python (``pre``, ``post``, ``function``) that might change the raw
    # record it is given; the mapping language itself never does.
    hooks: bool = True
    # Whether the records of one raw record share one ``extras.parent`` dict (the generated code, without a
    # post hook): its JSON can be written once for all of them (``PageProcessor``). Nothing may change it.
    shared_parent_extras: bool = False

    def map(self, raw: dict[str, Any], ctx: MappingContext) -> tuple[list[dict[str, Any]], list[MappingError]]:
        """Canonical records (with envelope) and the errors of the items that could not be mapped."""
        return self.apply(raw, ctx)

    def link(self, record: dict[str, Any], ctx: MappingContext) -> None:
        """Add the canonical id of every record this one references (``link`` in the mapping).

        Run on the way to the store, after mapping: the vendor's references are data of the mapped
        record, the canonical ids a property of this hub (deterministic, so no lookup).
        """
        self.linker(record, ctx)

    @functools.cached_property
    def linker(self) -> Callable[[dict[str, Any], MappingContext], None]:
        """``link`` as one straight-line function of this mapping's links (no loop, no method call: it runs
        for every record)."""
        return _link_function(self.links)


def mapping_source(mapping: CompiledMapping) -> str:
    """The Python source a mapping was compiled into (for review), or a note that its closures run."""
    return mapping.source or (f"# {mapping.connector}/{mapping.stream}: no generated source "
                              "(a function or outbound mapping, or compiled with generated=False)\n")


def compile_mapping(spec: Mapping[str, Any], connector: str, stream: str, where: str = "",
                    generated: bool = True) -> CompiledMapping:
    """Compile a mapping document (already parsed YAML).

    ``generated``: run the mapping as one generated straight-line function (``codegen``; the same
    records and errors, fewer Python calls); False keeps the closures alone (the reference the tests
    compare the generated code with).
    """
    where = where or f"mappings/{connector}/{stream}.yaml"
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(_TOP_KEYS)})")
    entity = spec.get("entity")
    if entity not in (*_ENTITIES, _OUTBOUND):
        raise ConfigError(f"{where}: entity must be one of {', '.join((*_ENTITIES, _OUTBOUND))}, got {entity!r}")
    links = _links(spec.get("link"), where)
    exclude = set((spec.get("extras") or {}).get("exclude", []))
    keep = set((spec.get("extras") or {}).get("keep", []))  # read by a field, kept in extras as served too
    vanished = _vanished(spec.get("vanished"), where)
    unlisted = _vanished(spec.get("unlisted"), where, "unlisted")
    pre = _import(spec["pre"]) if spec.get("pre") else None
    post = _import(spec["post"]) if spec.get("post") else None

    if spec.get("function"):
        function = _import(spec["function"])
        envelope = _envelope_builder(entity)

        def apply_function(raw: dict[str, Any], ctx: MappingContext) -> tuple[list[dict[str, Any]], list[MappingError]]:
            try:
                partials = function(raw, ctx)
                if isinstance(partials, list):
                    check_explosion(len(partials), "records")
                records = [envelope(p, ctx) for p in (partials if isinstance(partials, list) else [partials])]
            except Exception as exc:  # any failure of one record is that record's dead letter
                return [], [unexpected(exc)]
            return records, []
        return CompiledMapping(connector, stream, entity, apply_function, vanished, links, unlisted)

    if entity == _OUTBOUND:
        return _compile_outbound(spec, connector, stream, where)
    if "source_id" not in spec:
        raise ConfigError(f"{where}: source_id is required")
    each = spec.get("each")
    usage = _Usage()
    depth = 1 if each else 0
    slots = itertools.count() if each else None  # parent-level values are memoised per raw record

    def top(name: str, where: str) -> tuple[ValueFn, int | None] | None:
        return _compile_field(spec[name], where, usage, depth, slots) if spec.get(name) else None

    rejections = [(_compile_condition(rule["when"], f"reject[{i}].when", usage, 0), _compile_message(str(rule["error"])))
                  for i, rule in enumerate(spec.get("reject") or [])]
    source_id_spec = {**_as_spec(spec["source_id"]), "transform": ["string"], "required": True}
    source_id = _compile_field(source_id_spec, "source_id", usage, depth, slots)
    modified = top("modified", "modified")
    deleted = top("deleted", "deleted")
    source_url = top("source_url", "source.url")
    fields = _compile_fields(spec.get("fields") or {}, "", usage, depth, slots)
    each_getter = _compile_path(each)[0] if each else None
    item_skip = (usage.levels.get(0, set()) - keep) | exclude
    explode = _compile_explode(spec["explode"], usage) if spec.get("explode") else None
    parent_skip = usage.levels.get(1, set()) | ({each.split(".")[0]} if each else set()) | exclude
    prefix = entity

    def one(scope: Scope, ctx: MappingContext, errors: list[MappingError], memo: dict[int, Any] | None,
            parent_extras: dict[str, Any] | None) -> dict[str, Any] | None:
        sid: Any = None

        def value(entry: tuple[ValueFn, int | None]) -> Any:
            fn, slot = entry
            return fn(scope, ctx) if slot is None or memo is None else _memoised(memo, slot, fn, scope, ctx)

        try:
            sid = value(source_id)
            record = _build(fields, scope, ctx, memo)
            record["id"] = canonical_id(ctx.house, ctx.system, prefix, sid)
            record["entity"] = prefix
            record["house"] = ctx.house
            source = {"system": ctx.system, "id": sid}
            if source_url is not None:
                url = value(source_url)
                if url is not _MISSING:
                    source["url"] = url
            record["source"] = source
            if modified is not None:
                changed = value(modified)
                if changed is not _MISSING:
                    record["modified"] = changed
            is_deleted = value(deleted) if deleted is not None else False
            record["deleted"] = bool(is_deleted) if is_deleted is not _MISSING else False
            extras = _extras(scope[0], item_skip)
            if parent_extras:
                extras["parent"] = dict(parent_extras)
            if extras:
                record.setdefault("extras", {}).update(extras)
            if post is not None:
                record = post(record, scope[0], ctx)
            return record
        except Exception as exc:  # any failure of one record is that record's dead letter
            error = unexpected(exc)
            error.source_id = str(sid) if sid not in (None, _MISSING) else None
            errors.append(error)
            return None

    def apply(raw: dict[str, Any], ctx: MappingContext) -> tuple[list[dict[str, Any]], list[MappingError]]:
        errors: list[MappingError] = []
        records: list[dict[str, Any]] = []
        try:
            for test, message in rejections:  # a raw record the mapping says it cannot map (a dead letter)
                if test((raw,)):
                    raise MappingError(message((raw,)))
            raws = pre(raw, ctx) if pre is not None else (raw,)
            if isinstance(raws, list):
                check_explosion(len(raws), "records from one raw record")
            exploded = False
            if explode is not None:
                raws, exploded = explode(raw)
        except Exception as exc:  # any failure of one record is that record's dead letter
            return [], [unexpected(exc, "pre")]
        for index, item in enumerate(raws):
            if explode is not None:
                usage.position[0], usage.exploded[0] = index, exploded
            if each_getter is None:
                record = one((item,), ctx, errors, None, None)
                if record is not None:
                    records.append(record)
                continue
            children = each_getter((item,))
            if children is None:
                continue
            if isinstance(children, list) and len(children) > MAX_RECORDS_PER_RAW:
                errors.append(RecordTooLargeError(
                    f"record too large: {len(children)} items in '{each}' (at most {MAX_RECORDS_PER_RAW} "
                    f"records per raw record)"))
                continue
            memo: dict[int, Any] = {}
            parent_extras = _extras(item, parent_skip)  # the same for every child: computed once
            for child in children if isinstance(children, list) else [children]:
                record = one((child, item), ctx, errors, memo, parent_extras)
                if record is not None:
                    records.append(record)
        return records, errors

    compiled = CompiledMapping(connector, stream, entity, apply, vanished, links, unlisted,
                               hooks=pre is not None or post is not None)
    if not generated:
        return compiled
    from podium.mapping import codegen  # it builds on this module's closures

    plan = codegen.Plan(spec=spec, entity=entity, each=each, source_id=source_id_spec, source_id_fn=source_id,
                        modified=modified, deleted=deleted, source_url=source_url, fields=fields,
                        item_skip=frozenset(item_skip), parent_skip=frozenset(parent_skip), rejections=rejections,
                        pre=pre, post=post, explode=explode, usage=usage, each_getter=each_getter)
    compiled.apply, compiled.source = codegen.build(plan)
    compiled.shared_parent_extras = each is not None and post is None
    return compiled


@functools.lru_cache(maxsize=100_000)
def _linked_id(house: str, system: str, entity: str, source_id: str) -> str:
    # Tickets of one event/contact repeat its id: derive each once (uuid5 is the costly part).
    return canonical_id(house, system, entity, source_id)


def _link_function(links: tuple[tuple[str, str], ...]) -> Callable[[dict[str, Any], MappingContext], None]:
    """For each link in turn: a reference (a dict with a non-empty ``source_id`` and no ``id`` yet) gets
    the canonical id of the record it names."""
    lines = ["def link(record, ctx):"]
    for target, entity in links:
        lines += [f"    reference = record.get({target!r})",
                  "    if isinstance(reference, dict) and reference.get('source_id') and 'id' not in reference:",
                  f"        reference['id'] = _linked_id(ctx.house, ctx.system, {entity!r}, str(reference['source_id']))"]
    lines.append("    return None")
    namespace: dict[str, Any] = {"_linked_id": _linked_id}
    exec(compile("\n".join(lines) + "\n", "<links>", "exec"), namespace)
    return namespace["link"]  # type: ignore[no-any-return]


def _links(spec: Any, where: str) -> tuple[tuple[str, str], ...]:
    """``link: {event: event, contact: contact}``: canonical field holding a reference -> entity it names."""
    if spec is None:
        return ()
    if not isinstance(spec, dict) or any(entity not in _ENTITIES for entity in spec.values()):
        raise ConfigError(f"{where}: link maps a field to one of {', '.join(_ENTITIES)}, got {spec!r}")
    return tuple((str(target), str(entity)) for target, entity in spec.items())


def _compile_outbound(spec: Mapping[str, Any], connector: str, stream: str, where: str) -> CompiledMapping:
    """A canonical -> vendor mapping: the same field specs, no envelope (the vendor body is the output)."""
    usage = _Usage()
    fields = _compile_fields(spec.get("fields") or {}, "", usage)

    def apply(record: dict[str, Any], ctx: MappingContext) -> tuple[list[dict[str, Any]], list[MappingError]]:
        try:
            return [_build(fields, (record,), ctx)], []
        except Exception as exc:  # one record's failure is that record's error
            error = unexpected(exc)
            source = record.get("source") if isinstance(record, dict) else None
            error.source_id = str(source.get("id")) if isinstance(source, dict) and source.get("id") else None
            return [], [error]
    return CompiledMapping(connector, stream, _OUTBOUND, apply)


class _Explode:
    """``explode``: one raw record per item of a list (e.g. the dates of a series), each item's fields
    replacing the record's. Records it does not explode map as they are."""

    def __init__(self, spec: Mapping[str, Any], usage: _Usage) -> None:
        self.path = str(spec["each"])
        self.items = _compile_path(self.path)[0]
        self.test = _compile_condition(spec["when"], "explode.when", usage, 0) if "when" in spec else None
        self.replace = tuple(spec.get("replace", ()))  # always the item's value (None when it has none)
        self.merge = tuple(spec.get("merge", ()))  # the item's value where it has an object
        self.keep_as = spec.get("keep_as")

    def __call__(self, raw: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """The records to map, and whether they are the items' (else the record itself)."""
        items = self.items((raw,))
        if (self.test is not None and not self.test((raw,))) or not isinstance(items, list) or not items:
            return [raw], False
        check_explosion(len(items), f"{self.path} items")  # before one record per item is built
        out = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise MappingError(f"{self.path} {index} is {type(item).__name__}, not an object")
            record = {**raw, **{key: item.get(key) for key in self.replace}}
            record.update({key: item[key] for key in self.merge if isinstance(item.get(key), dict)})
            if self.keep_as:
                record[self.keep_as] = [item]
            out.append(record)
        return out, True


def _compile_explode(spec: Mapping[str, Any], usage: _Usage) -> _Explode:
    return _Explode(spec, usage)


def _vanished(spec: Any, where: str, key: str = "vanished") -> dict[str, Any] | None:
    if spec is None:
        return None
    if spec == "deleted":
        return {"deleted": True}
    if isinstance(spec, dict) and set(spec) == {"set"} and isinstance(spec["set"], dict) and spec["set"]:
        return dict(spec["set"])
    raise ConfigError(f"{where}: {key} must be 'deleted' or {{set: {{field: value}}}}, got {spec!r}")


def _as_spec(spec: Any) -> dict[str, Any]:
    return {"path": spec} if isinstance(spec, str) else dict(spec)


def _envelope_builder(entity: str) -> Callable[[dict[str, Any], MappingContext], dict[str, Any]]:
    """For function mappings: partial records carry ``source_id``; the envelope is added here."""

    def build(partial: dict[str, Any], ctx: MappingContext) -> dict[str, Any]:
        record = dict(partial)
        sid = str(record.pop("source_id"))
        url = record.pop("source_url", None)
        record["id"] = canonical_id(ctx.house, ctx.system, entity, sid)
        record["entity"] = entity
        record["house"] = ctx.house
        record["source"] = {"system": ctx.system, "id": sid, **({"url": url} if url else {})}
        record.setdefault("deleted", False)
        return record
    return build


_cache: dict[tuple[str, str, str], CompiledMapping] = {}


def load_mapping(mappings_dir: Path, connector: str, stream: str) -> CompiledMapping:
    """Load and compile ``<mappings_dir>/<stream>.yaml`` once per process."""
    key = (str(mappings_dir), connector, stream)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    path = mappings_dir / f"{stream}.yaml"
    if not path.exists():
        raise ConfigError(f"no mapping for {connector}/{stream}: {path} does not exist")
    spec = load_mapping_document(path)  # schema-checked: errors name the file and line
    compiled = compile_mapping(spec, connector, stream, str(path))
    _cache[key] = compiled
    return compiled
