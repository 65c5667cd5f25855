"""Generate one straight-line Python function per mapping: raw record + context -> canonical records.

Why: the closure engine (``engine.py``) turns a mapping into a tree of small functions, so one
ticket costs some sixty Python calls (a closure per field, a getter per path, ``finish``, ``convert``,
``_build``, ``_memoised``, ``_extras``...). Python calls are the cost, not the work they do. This
module writes the same mapping out as the source of one function — each field's path read inline,
the empty checks, transforms, ``map`` tables, defaults and ``required`` as plain statements, the
envelope (canonical id, source, modified, deleted), extras and the parent-level memo as local
variables — and compiles it once with ``compile()``. The result is the same records and the same
errors as the closures, byte for byte (``tests/core/test_mapping_codegen.py`` runs both engines over
every golden input and over perturbed records).

What stays data: the mapping file. The generated code is an implementation detail, readable for
review with ``mapping_source(compiled)`` (or ``python -m podium.mapping.codegen <mapping.yaml>``).

Correctness first: a field whose spec uses a construct this generator does not write out (``each``
inside fields, ``items``, ``availability``, ``position``, ``language_of``, ``aggregate``, ``entry``,
``exploded`` conditions...) calls the closure the engine compiled for that field — same function,
same state — so every mapping compiles, only part of it straight-line. The three transforms every
hot mapping uses (``string``, ``number``, ``trim``) get their exact-type fast path inline (a
``str``/``int``/``float`` as JSON parsing makes it); any other type still calls the transform itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from podium.ids import canonical_id
from podium.mapping import engine as closures
from podium.mapping.engine import (
    _EMPTYABLE,
    _MISSING,
    _SHAREABLE,
    MAX_RECORDS_PER_RAW,
    MappingError,
    RecordTooLargeError,
    _compile_message,
    _compile_path,
    _compile_transforms,
    _empty,
    _Failure,
    check_explosion,
    unexpected,
)

_UNSET = object()  # a parent-level memo slot not computed yet for this raw record
# Nesting of generated blocks past which a field falls back to its closure (Python's parser limit is 100).
_MAX_INDENT = 60


class _Unsupported(Exception):
    """A spec construct the generator leaves to its closure."""


@dataclass
class Plan:
    """What the closure engine compiled for one mapping, as the generator needs it."""

    spec: Mapping[str, Any]
    entity: str
    each: str | None
    source_id: Any  # the source_id spec (with its string transform and ``required``)
    source_id_fn: tuple[Any, int | None]
    modified: tuple[Any, int | None] | None
    deleted: tuple[Any, int | None] | None
    source_url: tuple[Any, int | None] | None
    fields: list[tuple[str, tuple[str, ...], Any, int | None]]
    item_skip: frozenset[str]
    parent_skip: frozenset[str]
    rejections: list[tuple[Callable[..., bool], Callable[..., str]]]
    pre: Callable[..., Any] | None
    post: Callable[..., Any] | None
    explode: Any
    usage: Any
    each_getter: Callable[..., Any] | None


class _Writer:
    """Source lines at an indent, and the objects the code names (transforms, tables, closures)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = 0
        self.names: dict[str, Any] = {}
        self._ids: dict[int, str] = {}
        self._count = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self.indent += 1
        if self.indent > _MAX_INDENT:
            raise _Unsupported("nested too deep")
        try:
            yield
        finally:
            self.indent -= 1

    def const(self, value: Any, hint: str = "k") -> str:
        """A name in the generated module for ``value`` (the same object: shared constants stay shared)."""
        key = id(value)
        if key in self._ids:
            return self._ids[key]
        name = f"{hint}{len(self._ids)}"
        self._ids[key] = name
        self.names[name] = value
        return name

    def var(self, hint: str = "v") -> str:
        self._count += 1
        return f"{hint}{self._count}"

    def mark(self) -> tuple[int, int]:
        return len(self.lines), self.indent

    def rewind(self, mark: tuple[int, int]) -> None:
        del self.lines[mark[0]:]
        self.indent = mark[1]


def _empty_expr(v: str) -> str:
    return f"({v} is None or (not {v} and isinstance({v}, _EMPTYABLE)))"


def _parse_path(path: str) -> tuple[int, str]:
    """(levels up, rest) exactly as ``engine._compile_path`` reads a path."""
    up, rest = 0, path
    while rest.startswith("^"):
        up += 1
        rest = rest[1:].lstrip(".")
    return up, rest


class _Scope:
    """How the generated code names the nodes of the scope: ``n<level>`` and ``d<level>`` (the node when
    it is a dict, else an empty one), and ``scope`` (the tuple the closures take)."""

    def __init__(self, levels: int, nodes: tuple[str, ...], dicts: tuple[str, ...], tuple_name: str) -> None:
        self.levels, self.nodes, self.dicts, self.tuple_name = levels, nodes, dicts, tuple_name


class _Generator:
    def __init__(self, w: _Writer) -> None:
        self.w = w

    # -- reads --------------------------------------------------------------------------------------

    def read(self, path: str, out: str, scope: _Scope, absent: frozenset[Any] = frozenset()) -> None:
        """``out = <value at path>`` (None when absent), as the engine's getter returns it."""
        w = self.w
        up, rest = _parse_path(path)
        if up >= scope.levels:
            w.line(f"{out} = None")
        elif "[]" not in rest and rest and "." not in rest and not rest.lstrip("-").isdigit():
            w.line(f"{out} = {scope.dicts[up]}.get({rest!r})")
        elif not rest:
            w.line(f"{out} = {scope.nodes[up]}")
        else:  # a dotted path or a projection: the engine's getter
            getter = w.const(_compile_path(path)[0], "get")
            w.line(f"{out} = {getter}({scope.tuple_name})")
        if absent:
            nones = w.const(absent, "absent")
            with w.block(f"if type({out}) in _SHAREABLE and (type({out}), {out}) in {nones}:"):
                w.line(f"{out} = None")

    # -- conversion ---------------------------------------------------------------------------------

    def transform(self, name: str, arg: Any, fn: Any, v: str) -> None:
        """One transform: ``string``, ``number`` (not strict) and ``trim`` inline for the exact types JSON
        parsing makes (each branch what the transform returns for that type), else the transform's call."""
        w = self.w
        t = w.const(fn, "t")
        if name == "string":
            with w.block(f"if type({v}) is str:"):
                w.line(f"{v} = {v}.strip()")
            with w.block(f"elif type({v}) is int:"):
                w.line(f"{v} = str({v})")
            with w.block("else:"):
                w.line(f"{v} = {t}({v}, ctx)")
        elif name == "number" and str(arg or "").lower() != "strict":
            with w.block(f"if type({v}) is int:"):
                w.line(f"{v} = float({v})")
            with w.block(f"elif type({v}) is not float:"):
                w.line(f"{v} = {t}({v}, ctx)")
        elif name == "trim":
            with w.block(f"if type({v}) is str:"):
                w.line(f"{v} = ' '.join({v}.split())")
            with w.block("else:"):
                w.line(f"{v} = {t}({v}, ctx)")
        else:
            w.line(f"{v} = {t}({v}, ctx)")

    def convert(self, conv: _Conversion, v: str, known_filled: bool = False) -> None:
        """``engine``'s ``convert``: transforms (stopping at an empty value), then the ``map`` table."""
        w = self.w
        if conv.transforms:
            error = w.const(f"{conv.where}: ", "where")
            where = w.const(conv.where, "where")
            with w.block("try:"):
                self._transforms(conv, v, 0, known_filled)
            with w.block("except (ValueError, TypeError, ArithmeticError) as exc:"):
                w.line(f"raise MappingError({error} + str(exc), path={where}) from None")
        if conv.table is not None:
            table = w.const(conv.table, "table")
            with w.block(f"if {v} is not _MISSING and not {_empty_expr(v)}:"):
                key = w.var("key")
                w.line(f"{key} = str({v}).lower()")
                with w.block(f"if {key} in {table}:"):
                    w.line(f"{v} = {table}[{key}]")
                with w.block("else:"):
                    if conv.has_default:
                        w.line(f"{v} = {w.const(conv.default, 'default')}")
                    else:
                        message = w.const(f"{conv.where}: unknown value ", "where")
                        known = w.const(f" (known: {', '.join(conv.table)})", "where")
                        w.line(f"raise MappingError({message} + repr({v}) + {known}, path={w.const(conv.where, 'where')})")

    def _transforms(self, conv: _Conversion, v: str, index: int, known_filled: bool) -> None:
        w = self.w
        if index == len(conv.transforms):
            return
        name, arg, fn = conv.transforms[index]
        if known_filled:
            self.transform(name, arg, fn, v)
            self._transforms(conv, v, index + 1, False)
            return
        with w.block(f"if {_empty_expr(v)}:"):
            w.line(f"{v} = _MISSING")
        with w.block("else:"):
            self.transform(name, arg, fn, v)
            self._transforms(conv, v, index + 1, False)

    def finish(self, conv: _Conversion, v: str, known_missing: bool = False) -> None:
        """``engine``'s ``finish``: an empty value becomes the default, a required error, or _MISSING."""
        w = self.w
        header = "if True:" if known_missing else f"if {v} is _MISSING or {_empty_expr(v)}:"
        if not conv.has_default and not conv.required:
            if known_missing:
                w.line(f"{v} = _MISSING")
            else:
                with w.block(header):
                    w.line(f"{v} = _MISSING")
            return
        if known_missing:
            self._finish_missing(conv, v)
            return
        with w.block(header):
            self._finish_missing(conv, v)

    def _finish_missing(self, conv: _Conversion, v: str) -> None:
        w = self.w
        if conv.has_default:
            w.line(f"{v} = {w.const(conv.default, 'default')}")
        elif conv.required:
            message = w.const(f"{conv.where}: required value missing", "where")
            w.line(f"raise MappingError({message}, path={w.const(conv.where, 'where')})")
        else:
            w.line(f"{v} = _MISSING")

    # -- values -------------------------------------------------------------------------------------

    def value(self, spec: Any, where: str, out: str, scope: _Scope, absent: frozenset[Any] = frozenset()) -> None:
        """Code that sets ``out`` to the field's value or _MISSING (``engine._compile_value``, same order)."""
        w = self.w
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, dict):
            raise _Unsupported("not a spec")
        conv = _Conversion(spec, where)
        if "language_of" in spec:
            raise _Unsupported("language_of")
        if "when" in spec:
            test = w.var("c")
            self.condition(spec["when"], test, scope)
            with w.block(f"if {test}:"):
                self.value({k: v for k, v in spec.items() if k != "when"}, where, out, scope)
            with w.block("else:"):
                w.line(f"{out} = _MISSING")
            return
        if "absent" in spec:
            nones = frozenset((type(v), v) for v in spec["absent"])
            inner = {k: v for k, v in spec.items() if k not in ("absent", "default", "required")}
            self.value(inner, where, out, scope, nones)
            name = w.const(nones, "absent")
            with w.block(f"if {out} is _MISSING or (type({out}) in _SHAREABLE and (type({out}), {out}) in {name}):"):
                self.finish(conv, out, known_missing=True)
            return
        for unsupported in ("each", "items", "fields", "position"):
            if unsupported in spec:
                raise _Unsupported(unsupported)
        if "case" in spec:
            self._case(spec, where, out, scope, conv, 0)
            return
        if "first_of" in spec:
            self._first_of(spec, where, out, scope, conv, 0)
            return
        if "langs" in spec:
            self._langs(spec, where, out, scope, conv)
            return
        if "join" in spec:
            self._join(spec, where, out, scope, conv)
            return
        if "aggregate" in spec:
            raise _Unsupported("aggregate")
        if "lookup" in spec:
            self._lookup(spec, where, out, scope, conv)
            return
        for unsupported in ("entry", "availability"):
            if unsupported in spec:
                raise _Unsupported(unsupported)
        if "value" in spec:
            w.line(f"{out} = {w.const(spec['value'], 'value')}")
            return
        if "template" in spec:
            raise _Unsupported("template")
        if "paths" in spec:
            self._paths(spec, out, scope, conv, absent)
            return
        paths = spec.get("path")
        if paths is None:
            raise _Unsupported("no path")
        self._first_path(list(paths) if isinstance(paths, list) else [paths], 0, out, scope, conv, absent)

    def _first_path(self, paths: list[str], index: int, out: str, scope: _Scope, conv: _Conversion,
                    absent: frozenset[Any]) -> None:
        """``path`` (a list: the first non-empty wins): read, convert, finish."""
        w = self.w
        if index == len(paths):  # none had a value: finish(None)
            self.finish(conv, out, known_missing=True)
            return
        self.read(paths[index], out, scope, absent)
        with w.block(f"if {_empty_expr(out)}:"):
            if len(paths) == 1:
                self.finish(conv, out, known_missing=True)
            else:
                self._first_path(paths, index + 1, out, scope, conv, absent)
        with w.block("else:"):
            self.convert(conv, out, known_filled=True)
            self.finish(conv, out)

    def _paths(self, spec: dict[str, Any], out: str, scope: _Scope, conv: _Conversion, absent: frozenset[Any]) -> None:
        """``paths``: every value (lists flattened), converted, without empties and repeats."""
        w = self.w
        values, element, converted = w.var("values"), w.var("el"), w.var("cv")
        w.line(f"{out} = []")
        for path in spec["paths"]:
            self.read(path, values, scope, absent)
            with (w.block(f"for {element} in ({values} if isinstance({values}, list) else [{values}]):"),
                  w.block(f"if not {_empty_expr(element)}:")):
                w.line(f"{converted} = {element}")
                self.convert(conv, converted, known_filled=True)
                with w.block(f"if {converted} is not _MISSING and not {_empty_expr(converted)} "
                             f"and {converted} not in {out}:"):
                    w.line(f"{out}.append({converted})")
        self.finish(conv, out)

    def _case(self, spec: dict[str, Any], where: str, out: str, scope: _Scope, conv: _Conversion, index: int) -> None:
        w = self.w
        branches = spec["case"]
        if index == len(branches):
            self.finish(conv, out, known_missing=True)
            return
        branch = branches[index]
        if not isinstance(branch, dict):
            raise _Unsupported("case branch")
        if "when" in branch:
            test = w.var("c")
            self.condition(branch["when"], test, scope)
            header = f"if {test}:"
        else:
            header = "if True:"
        with w.block(header):
            if "error" in branch:
                message = w.const(_compile_message(str(branch["error"])), "message")
                prefix = w.const(f"{where}: ", "where")
                w.line(f"raise MappingError({prefix} + {message}({scope.tuple_name}), path={w.const(where, 'where')})")
            else:
                body = {k: v for k, v in branch.items() if k != "when"}
                self.value(body, f"{where}.case[{index}]", out, scope)
                with w.block(f"if {out} is _MISSING:"):
                    self.finish(conv, out, known_missing=True)
                if conv.converts:
                    with w.block("else:"):
                        self.convert(conv, out)
        if "when" in branch:
            with w.block("else:"):
                self._case(spec, where, out, scope, conv, index + 1)

    def _first_of(self, spec: dict[str, Any], where: str, out: str, scope: _Scope, conv: _Conversion,
                  index: int) -> None:
        w = self.w
        options = spec["first_of"]
        if index == len(options):
            self.finish(conv, out, known_missing=True)
            return
        self.value(options[index], f"{where}.first_of[{index}]", out, scope)
        with w.block(f"if {out} is not _MISSING and not {_empty_expr(out)}:"):
            if conv.converts:
                self.convert(conv, out)
                self.finish(conv, out)
            else:
                w.line("pass")
        with w.block("else:"):
            self._first_of(spec, where, out, scope, conv, index + 1)

    def _langs(self, spec: dict[str, Any], where: str, out: str, scope: _Scope, conv: _Conversion) -> None:
        w = self.w
        part_value = w.var("lv")
        w.line(f"{out} = {{}}")
        for lang, part in spec["langs"].items():
            part_spec = part if isinstance(part, dict) else {"path": part, "transform": spec.get("transform")}
            self.value(part_spec, f"{where}.{lang}", part_value, scope)
            with w.block(f"if {part_value} is not _MISSING and not {_empty_expr(part_value)}:"):
                w.line(f"{out}[{str(lang)!r}] = {part_value}")
        self.finish(conv, out)

    def _join(self, spec: dict[str, Any], where: str, out: str, scope: _Scope, conv: _Conversion) -> None:
        w = self.w
        parts, piece = w.var("parts"), w.var("jv")
        w.line(f"{parts} = []")
        for index, part in enumerate(spec["join"]):
            self.value(part, f"{where}.join[{index}]", piece, scope)
            with w.block(f"if {piece} is not _MISSING and not {_empty_expr(piece)}:"):
                w.line(f"{parts}.append(str({piece}))")
        separator = w.const(str(spec.get("separator", " ")), "sep")
        with w.block(f"if {parts}:"):
            w.line(f"{out} = {separator}.join({parts})")
            self.convert(conv, out)
        with w.block("else:"):
            w.line(f"{out} = _MISSING")
        self.finish(conv, out)

    def _lookup(self, spec: dict[str, Any], where: str, out: str, scope: _Scope, conv: _Conversion) -> None:
        w = self.w
        table, key, row = w.var("lt"), w.var("lk"), w.var("row")
        w.line(f"{table} = ctx.page.tables.get({str(spec['lookup'])!r})")
        self.value(spec.get("key"), f"{where}.key", key, scope)
        w.line(f"{row} = {table}.get(str({key})) if isinstance({table}, dict) and {key} is not _MISSING else None")
        with w.block(f"if not isinstance({row}, dict):"):
            self.finish(conv, out, known_missing=True)
        with w.block("else:"):
            up, rest = _parse_path(str(spec.get("path", "")))
            row_scope = _Scope(1, (row,), (row,), f"({row},)")
            if up == 0 and rest and "." not in rest and "[]" not in rest and not rest.lstrip("-").isdigit():
                w.line(f"{out} = {row}.get({rest!r})")
            else:
                self.read(str(spec.get("path", "")), out, row_scope)
            with w.block(f"if {_empty_expr(out)}:"):
                self.finish(conv, out, known_missing=True)
            with w.block("else:"):
                self.convert(conv, out, known_filled=True)
                self.finish(conv, out)

    # -- conditions ---------------------------------------------------------------------------------

    def condition(self, spec: Any, out: str, scope: _Scope) -> None:
        """Code that sets ``out`` to the truth of a ``when`` (``engine._compile_condition``, same short cuts)."""
        w = self.w
        if not isinstance(spec, dict):
            raise _Unsupported("condition")
        if "all" in spec or "any" in spec:
            is_all = "all" in spec
            self._junction(list(spec["all"] if is_all else spec["any"]), is_all, out, scope)
            return
        if "not" in spec:
            self.condition(spec["not"], out, scope)
            w.line(f"{out} = not {out}")
            return
        if "exploded" in spec or "path" not in spec:
            raise _Unsupported("exploded condition")
        value = w.var("cv")
        self.read(str(spec["path"]), value, scope)
        if "transform" in spec:
            fns = w.const(tuple(_compile_transforms(spec["transform"], "")), "cond_transforms")
            w.line(f"{value} = _condition_transforms({value}, {fns})")
        if "in" in spec or "not_in" in spec or "equals" in spec:
            listed = spec["in"] if "in" in spec else spec["not_in"] if "not_in" in spec else [spec["equals"]]
            accepted = w.const(frozenset(str(v).strip().lower() for v in listed), "accepted")
            wanted = "not_in" not in spec
            with w.block(f"if {value} is None:"):
                w.line(f"{out} = {not wanted}")
            operator = "in" if wanted else "not in"
            # An int (a status code) is compared as the int itself: the listed texts that ``str`` writes
            # for an int, as ints (no ``str`` per record; the same truth).
            numbers = w.const(frozenset(_int_texts(w.names[accepted])), "accepted")
            with w.block(f"elif type({value}) is int:"):
                w.line(f"{out} = {value} {operator} {numbers}")
            with w.block("else:"):
                w.line(f"{out} = str({value}).strip().lower() {operator} {accepted}")
            return
        if "matches" in spec:
            import re

            pattern = w.const(re.compile(str(spec["matches"]), re.IGNORECASE), "pattern")
            w.line(f"{out} = {value} is not None and {pattern}.search(str({value})) is not None")
            return
        if "empty" in spec:
            wanted_empty = bool(spec["empty"])
            w.line(f"{out} = {_empty_expr(value)} is {wanted_empty}")
            return
        raise _Unsupported("condition operator")

    def _junction(self, parts: list[Any], is_all: bool, out: str, scope: _Scope) -> None:
        w = self.w
        if not parts:
            w.line(f"{out} = {is_all}")
            return
        self.condition(parts[0], out, scope)
        if len(parts) > 1:
            with w.block(f"if {out}:" if is_all else f"if not {out}:"):
                self._junction(parts[1:], is_all, out, scope)


def _int_texts(texts: frozenset[str]) -> set[int]:
    """The ints whose ``str`` is one of ``texts`` ("21002" -> 21002; never "007", "1_000", "+1" or "٣")."""
    numbers = set()
    for text in texts:
        digits = text[1:] if text.startswith("-") else text
        if 0 < len(digits) <= 100 and digits.isascii() and digits.isdigit():
            number = int(text)
            if str(number) == text:
                numbers.add(number)
    return numbers


def _condition_transforms(value: Any, fns: tuple[Callable[[Any, Any], Any], ...]) -> Any:
    """A condition's transforms (``when: {path, transform}``), as the engine applies them: no context."""
    for fn in fns:
        if _empty(value):
            return None
        value = fn(value, None)
    return value


class _Conversion:
    """The conversion part of a spec (``engine._compile_value``'s ``convert``/``finish``)."""

    def __init__(self, spec: dict[str, Any], where: str) -> None:
        transform_spec = spec.get("transform")
        items = [] if transform_spec is None else transform_spec if isinstance(transform_spec, list) else [transform_spec]
        fns = _compile_transforms(transform_spec, where)
        self.transforms = [(*(next(iter(item.items())) if isinstance(item, dict) else (item, None)), fn)
                           for item, fn in zip(items, fns, strict=True)]
        table = spec.get("map")
        self.table = {str(k).lower(): v for k, v in table.items()} if isinstance(table, dict) else None
        self.has_default = "default" in spec
        self.default = spec.get("default")
        self.required = bool(spec.get("required"))
        self.converts = bool(self.transforms) or self.table is not None
        self.where = where


# -- the function --------------------------------------------------------------------------------------


def _field_code(gen: _Generator, spec: Any, where: str, fn: Any, slot: int | None, out: str,
                scope: _Scope, memoised: bool) -> None:
    """One top-level field: generated when the generator can, else its closure; memoised per raw record
    when the engine memoises it (parent-level values shared by the records of one raw record)."""
    w = gen.w
    if memoised and slot is not None:
        memo = f"memo{slot}"
        with w.block(f"if {memo} is _UNSET:"):
            with w.block("try:"):
                _plain_field(gen, spec, where, fn, out, scope)
            with w.block("except MappingError as exc:"):
                w.line(f"{memo} = _Failure(exc)")
                w.line("raise")
            with w.block(f"if {out} is _MISSING or type({out}) in _SHAREABLE:"):
                w.line(f"{memo} = {out}")
        with w.block(f"elif type({memo}) is _Failure:"):
            w.line(f"raise MappingError({memo}.message, path={memo}.path)")
        with w.block("else:"):
            w.line(f"{out} = {memo}")
        return
    _plain_field(gen, spec, where, fn, out, scope)


def _plain_field(gen: _Generator, spec: Any, where: str, fn: Any, out: str, scope: _Scope) -> None:
    w = gen.w
    mark = w.mark()
    try:
        gen.value(spec, where, out, scope)
    except _Unsupported:
        w.rewind(mark)
        w.line(f"{out} = {w.const(fn, 'closure')}({scope.tuple_name}, ctx)  # {where}: the engine's closure")


def generate(plan: Plan) -> tuple[str, dict[str, Any]]:
    """The source of ``apply(raw, ctx) -> (records, errors)`` and the names it uses."""
    w = _Writer()
    gen = _Generator(w)
    each = plan.each is not None
    levels = 2 if each else 1
    scope = _Scope(levels, ("child", "item") if each else ("item",),
                   ("d0", "d1") if each else ("d0",), "scope")
    memoised = each
    slots = sorted({slot for *_, slot in plan.fields if slot is not None}
                   | {entry[1] for entry in (plan.source_id_fn, plan.modified, plan.deleted, plan.source_url)
                      if entry is not None and entry[1] is not None}) if memoised else []

    with w.block("def apply(raw, ctx):"):
        w.line("errors = []")
        w.line("records = []")
        w.line("house = ctx.house")
        w.line("system = ctx.system")
        with w.block("try:"):
            if plan.rejections:
                with w.block("for test, message in REJECTIONS:"), w.block("if test((raw,)):"):
                    w.line("raise MappingError(message((raw,)))")
            w.line("raws = PRE(raw, ctx) if PRE is not None else (raw,)")
            with w.block("if isinstance(raws, list):"):
                w.line("check_explosion(len(raws), 'records from one raw record')")
            if plan.explode is not None:
                w.line("raws, exploded = EXPLODE(raw)")
        with w.block("except Exception as exc:"):
            w.line("return [], [unexpected(exc, 'pre')]")
        with w.block("for index, item in enumerate(raws):"):
            if plan.explode is not None:
                w.line("POSITION[0], EXPLODED[0] = index, exploded")
            if each:
                w.line("children = EACH((item,))")
                with w.block("if children is None:"):
                    w.line("continue")
                with w.block("if isinstance(children, list) and len(children) > MAX_RECORDS_PER_RAW:"):
                    too_large = w.const(f" items in '{plan.each}' (at most {MAX_RECORDS_PER_RAW} records per raw record)",
                                        "where")
                    w.line(f"errors.append(RecordTooLargeError('record too large: ' + str(len(children)) + {too_large}))")
                    w.line("continue")
                for slot in slots:
                    w.line(f"memo{slot} = _UNSET")
                with w.block("if isinstance(item, dict):"):  # ``engine._extras`` of the parent, once per raw record
                    w.line("parent_extras = {k: v for k, v in item.items() "
                           "if PARENT_KEYS[k] and v is not None and (v or type(v) in _KEPT_FALSY or not isinstance(v, _EMPTYABLE))}")
                with w.block("else:"):
                    w.line("parent_extras = {}")
                w.line("d1 = item if isinstance(item, dict) else {}")
                loop = w.block("for child in (children if isinstance(children, list) else [children]):")
            else:
                loop = w.block("if True:")
            with loop:
                _record_code(gen, plan, scope, memoised, each)
        w.line("return records, errors")
    source = "\n".join(w.lines) + "\n"
    names = dict(w.names)
    names.update({
        "REJECTIONS": plan.rejections, "PRE": plan.pre, "POST": plan.post, "EXPLODE": plan.explode,
        "POSITION": plan.usage.position, "EXPLODED": plan.usage.exploded, "EACH": plan.each_getter,
        "EXTRA_KEYS": _ExtraKeys(plan.item_skip), "PARENT_KEYS": _ExtraKeys(plan.parent_skip),
    })
    return source, names


def _record_code(gen: _Generator, plan: Plan, scope: _Scope, memoised: bool, each: bool) -> None:
    """The body of ``engine``'s ``one``: fields, envelope, extras, post, one record's try."""
    w = gen.w
    w.line("sid = None")
    with w.block("try:"):
        if each:
            w.line("scope = (child, item)")
            w.line("d0 = child if isinstance(child, dict) else {}")
        else:
            w.line("scope = (item,)")
            w.line("d0 = item if isinstance(item, dict) else {}")
        sid_fn, sid_slot = plan.source_id_fn
        _field_code(gen, plan.source_id, "source_id", sid_fn, sid_slot, "source_id", scope, memoised)
        w.line("sid = source_id  # only a value: a failure leaves the error without an id")
        w.line("record = {}")
        written: set[str] = set()  # the record's top-level keys an earlier field may have set
        for index, (key, parents, fn, slot) in enumerate(plan.fields):
            target = ".".join((*parents, key))
            spec = (plan.spec.get("fields") or {})[_field_key(plan.spec, index)]
            out = f"f{index}"
            _field_code(gen, spec, target, fn, slot, out, scope, memoised)
            with w.block(f"if {out} is not _MISSING:"):
                if len(parents) == 1:
                    # ``record.setdefault(parent, {})[key] = out`` without an empty dict made per call: a
                    # parent no earlier field sets is new here; else it is created when absent.
                    parent = parents[0]
                    if parent not in written:
                        w.line(f"record[{parent!r}] = {{{key!r}: {out}}}")
                    else:
                        node = w.var("node")
                        w.line(f"{node} = record.get({parent!r}, _MISSING)")
                        with w.block(f"if {node} is _MISSING:"):
                            w.line(f"record[{parent!r}] = {{{key!r}: {out}}}")
                        with w.block("else:"):
                            w.line(f"{node}[{key!r}] = {out}")
                elif parents:
                    node = "record" + "".join(f".setdefault({name!r}, {{}})" for name in parents[:-1])
                    w.line(f"{node}.setdefault({parents[-1]!r}, {{}})[{key!r}] = {out}")
                else:
                    w.line(f"record[{key!r}] = {out}")
            written.add(parents[0] if parents else key)
        w.line(f"record['id'] = canonical_id(house, system, {plan.entity!r}, sid)")
        w.line(f"record['entity'] = {plan.entity!r}")
        w.line("record['house'] = house")
        w.line("source = {'system': system, 'id': sid}")
        if plan.source_url is not None:
            fn, slot = plan.source_url
            _field_code(gen, plan.spec["source_url"], "source.url", fn, slot, "url", scope, memoised)
            with w.block("if url is not _MISSING:"):
                w.line("source['url'] = url")
        w.line("record['source'] = source")
        if plan.modified is not None:
            fn, slot = plan.modified
            _field_code(gen, plan.spec["modified"], "modified", fn, slot, "changed", scope, memoised)
            with w.block("if changed is not _MISSING:"):
                w.line("record['modified'] = changed")
        if plan.deleted is not None:
            fn, slot = plan.deleted
            _field_code(gen, plan.spec["deleted"], "deleted", fn, slot, "is_deleted", scope, memoised)
            w.line("record['deleted'] = bool(is_deleted) if is_deleted is not _MISSING else False")
        else:
            w.line("record['deleted'] = False")
        # extras: the record's top-level fields no path reads (``engine._extras``, inline; whether a key
        # is a candidate is remembered per key, as the records of a stream share their keys)
        node = "child" if each else "item"
        with w.block(f"if isinstance({node}, dict):"):
            w.line(f"extras = {{k: v for k, v in {node}.items() "
                   "if EXTRA_KEYS[k] and v is not None and (v or type(v) in _KEPT_FALSY or not isinstance(v, _EMPTYABLE))}")
        with w.block("else:"):
            w.line("extras = {}")
        if each:
            with w.block("if parent_extras:"):
                if plan.post is None:
                    # One dict for the records of a raw record (nothing changes it after mapping): the
                    # store's dump writes its JSON once (``CompiledMapping.shared_parent_extras``).
                    w.line("extras['parent'] = parent_extras")
                else:  # a post hook gets the record and may change it: its own copy
                    w.line("extras['parent'] = dict(parent_extras)")
        with w.block("if extras:"):
            if any((parents[0] if parents else key) == "extras" for key, parents, *_ in plan.fields):
                w.line("record.setdefault('extras', {}).update(extras)")  # merged with fields mapped into extras
            else:  # no field writes extras: the dict built above is the record's
                w.line("record['extras'] = extras")
        if plan.post is not None:
            w.line(f"record = POST(record, {scope.nodes[0]}, ctx)")
        w.line("records.append(record)")
    with w.block("except Exception as exc:"):
        w.line("error = unexpected(exc)")
        w.line("error.source_id = str(sid) if sid not in (None, _MISSING) else None")
        w.line("errors.append(error)")


# Keys remembered per mapping for extras (a vendor whose keys are ids would otherwise grow it without end).
_MAX_EXTRA_KEYS = 4096


class _ExtraKeys(dict[Any, bool]):
    """Key -> whether it goes to extras: one subscript in the generated code (``__missing__`` decides a
    key not seen yet with the test of ``engine._extras``, in the same order — a key that is not a string
    fails as it does there — and remembers it)."""

    __slots__ = ("skip",)

    def __init__(self, skip: frozenset[str]) -> None:
        super().__init__()
        self.skip = skip

    def __missing__(self, key: Any) -> bool:
        kept = key not in self.skip and not key.startswith("@_")
        if len(self) < _MAX_EXTRA_KEYS:
            self[key] = kept
        return kept


def _field_key(spec: Mapping[str, Any], index: int) -> Any:
    return list((spec.get("fields") or {}).keys())[index]


# A 0, 0.0 or False is kept in extras (only an empty text, list or object is left out): their exact types
# are never one of those, so one set lookup answers before ``isinstance`` (vendors send many zeros).
_KEPT_FALSY = frozenset({int, float, bool})

_BASE_NAMES: dict[str, Any] = {
    "_KEPT_FALSY": _KEPT_FALSY, "_MISSING": _MISSING, "_UNSET": _UNSET, "_EMPTYABLE": _EMPTYABLE, "_SHAREABLE": _SHAREABLE,
    "_Failure": _Failure, "MappingError": MappingError, "RecordTooLargeError": RecordTooLargeError,
    "MAX_RECORDS_PER_RAW": MAX_RECORDS_PER_RAW, "check_explosion": check_explosion, "unexpected": unexpected,
    "canonical_id": canonical_id,
    "_condition_transforms": _condition_transforms,
}


def build(plan: Plan) -> tuple[Callable[..., Any], str]:
    """The compiled ``apply`` function and its source."""
    source, names = generate(plan)
    namespace = {**_BASE_NAMES, **names, "__builtins__": __builtins__}
    filename = f"<mapping {plan.spec.get('entity')}>"
    exec(compile(source, filename, "exec"), namespace)
    return namespace["apply"], source


def main(argv: list[str]) -> None:
    """``python -m podium.mapping.codegen mappings/<vendor>/<stream>.yaml``: print the generated source."""
    from pathlib import Path

    from podium.mapping.schema import load_mapping_document

    for name in argv:
        path = Path(name)
        compiled = closures.compile_mapping(load_mapping_document(path), path.parent.name, path.stem, str(path))
        print(f"# {path}\n{closures.mapping_source(compiled)}")


if __name__ == "__main__":
    main(sys.argv[1:])
