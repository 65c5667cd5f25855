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
    function: pkg.module:function   # escape hatch for the whole record: (raw, ctx) -> list of partial records

Field spec keys: ``path`` (str, or a list: first non-empty wins), ``paths``, ``value``, ``template``
(``"https://x/{id}"``), ``transform`` (a name, ``{name: arg}``, or a list of them; see
``transforms.TRANSFORMS``), ``map`` (lookup table applied after transforms), ``default``,
``required``, ``each`` + ``fields``. Paths are dotted; a number indexes a list.

Every top-level field of the record that no path reads lands in ``extras`` (the parent's under
``extras.parent``): vendor data is never silently dropped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from podium.errors import ConfigError
from podium.ids import canonical_id
from podium.mapping.transforms import TRANSFORMS

Scope = tuple[Any, ...]  # (item, parent, grandparent, ...)
Getter = Callable[[Scope], Any]
_MISSING = object()
_ENTITIES = ("event", "contact", "ticket")
_TOP_KEYS = {"entity", "each", "pre", "post", "function", "source_id", "source_url", "modified", "deleted",
             "fields", "extras", "description", "vanished"}
_SPEC_KEYS = {"path", "paths", "value", "template", "transform", "map", "default", "required", "each", "fields"}


class MappingError(ValueError):
    """A record that cannot be mapped; the message names the canonical field and the cause."""

    def __init__(self, message: str, source_id: str | None = None, path: str = "") -> None:
        super().__init__(message)
        self.source_id = source_id
        self.path = path


@dataclass(frozen=True)
class MappingContext:
    house: str
    system: str
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Brussels"))


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _compile_path(path: str) -> tuple[Getter, int, str]:
    """Getter for a dotted path; returns (getter, levels up, first segment)."""
    up = 0
    rest = path
    while rest.startswith("^"):
        up += 1
        rest = rest[1:].lstrip(".")
    parts = tuple(int(p) if p.lstrip("-").isdigit() else p for p in rest.split(".")) if rest else ()

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

    first = str(parts[0]) if parts else ""
    return get, up, first


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
    """Which top-level keys each scope level reads, for extras."""

    def __init__(self) -> None:
        self.levels: dict[int, set[str]] = {}

    def add(self, up: int, first: str) -> None:
        if first:
            self.levels.setdefault(up, set()).add(first)


def _compile_value(spec: Any, where: str, usage: _Usage, depth: int = 0) -> Callable[[Scope, Any], Any]:
    """Compile one field spec into fn(scope, ctx) -> value or _MISSING; raises MappingError on bad data."""
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

    def finish(value: Any) -> Any:
        if _empty(value) or value is _MISSING:
            if has_default:
                return default
            if required:
                raise MappingError(f"{where}: required value missing", path=where)
            return _MISSING
        return value

    if "each" in spec:
        list_getter = track(spec["each"])
        sub_fields = _compile_fields(spec.get("fields", {}), f"{where}[]", _Usage(), depth + 1)

        def each_fn(scope: Scope, ctx: Any) -> Any:
            items = list_getter(scope)
            if items is None:
                return finish(None)
            if not isinstance(items, list):
                items = [items]
            out = []
            for item in items:
                obj = _build(sub_fields, (item, *scope), ctx)
                if obj:
                    out.append(obj)
            return finish(out)
        return each_fn
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


class _Defaulting(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _compile_fields(fields: Mapping[str, Any], where: str, usage: _Usage,
                    depth: int = 0) -> list[tuple[tuple[str, ...], Callable[[Scope, Any], Any]]]:
    compiled = []
    for target, spec in fields.items():
        compiled.append((tuple(str(target).split(".")), _compile_value(spec, f"{where}{target}", usage, depth)))
    return compiled


def _build(fields: Iterable[tuple[tuple[str, ...], Callable[[Scope, Any], Any]]], scope: Scope,
           ctx: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target, fn in fields:
        value = fn(scope, ctx)
        if value is _MISSING:
            continue
        node = out
        for key in target[:-1]:
            node = node.setdefault(key, {})
        node[target[-1]] = value
    return out


def _extras(record: Any, used: set[str], exclude: set[str]) -> dict[str, Any]:
    if not isinstance(record, dict):
        return {}
    return {k: v for k, v in record.items()
            if k not in used and k not in exclude and not k.startswith("@_") and not _empty(v)}


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

    def map(self, raw: dict[str, Any], ctx: MappingContext) -> tuple[list[dict[str, Any]], list[MappingError]]:
        """Canonical records (with envelope) and the errors of the items that could not be mapped."""
        return self.apply(raw, ctx)


def compile_mapping(spec: Mapping[str, Any], connector: str, stream: str, where: str = "") -> CompiledMapping:
    """Compile a mapping document (already parsed YAML)."""
    where = where or f"mappings/{connector}/{stream}.yaml"
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(_TOP_KEYS)})")
    entity = spec.get("entity")
    if entity not in _ENTITIES:
        raise ConfigError(f"{where}: entity must be one of {', '.join(_ENTITIES)}, got {entity!r}")
    exclude = set((spec.get("extras") or {}).get("exclude", []))
    vanished = _vanished(spec.get("vanished"), where)
    pre = _import(spec["pre"]) if spec.get("pre") else None
    post = _import(spec["post"]) if spec.get("post") else None

    if spec.get("function"):
        function = _import(spec["function"])
        envelope = _envelope_builder(entity)

        def apply_function(raw: dict[str, Any], ctx: MappingContext) -> tuple[list[dict[str, Any]], list[MappingError]]:
            try:
                partials = function(raw, ctx)
            except MappingError as exc:
                return [], [exc]
            except (ValueError, TypeError, KeyError) as exc:
                return [], [MappingError(f"{type(exc).__name__}: {exc}")]
            records = [envelope(p, ctx) for p in (partials if isinstance(partials, list) else [partials])]
            return records, []
        return CompiledMapping(connector, stream, entity, apply_function, vanished)

    if "source_id" not in spec:
        raise ConfigError(f"{where}: source_id is required")
    each = spec.get("each")
    usage = _Usage()
    depth = 1 if each else 0
    source_id = _compile_value({**_as_spec(spec["source_id"]), "transform": ["string"], "required": True},
                               "source_id", usage, depth)
    modified = _compile_value(spec["modified"], "modified", usage, depth) if spec.get("modified") else None
    deleted = _compile_value(spec["deleted"], "deleted", usage, depth) if spec.get("deleted") else None
    source_url = _compile_value(spec["source_url"], "source.url", usage, depth) if spec.get("source_url") else None
    fields = _compile_fields(spec.get("fields") or {}, "", usage, depth)
    each_getter = _compile_path(each)[0] if each else None
    item_used = usage.levels.get(0, set())
    parent_used = usage.levels.get(1, set()) | ({each.split(".")[0]} if each else set())
    prefix = entity

    def one(scope: Scope, ctx: MappingContext, errors: list[MappingError]) -> dict[str, Any] | None:
        sid: Any = None
        try:
            sid = source_id(scope, ctx)
            record = _build(fields, scope, ctx)
            record["id"] = canonical_id(ctx.house, ctx.system, prefix, sid)
            record["entity"] = prefix
            record["house"] = ctx.house
            source = {"system": ctx.system, "id": sid}
            if source_url is not None:
                url = source_url(scope, ctx)
                if url is not _MISSING:
                    source["url"] = url
            record["source"] = source
            if modified is not None:
                value = modified(scope, ctx)
                if value is not _MISSING:
                    record["modified"] = value
            is_deleted = deleted(scope, ctx) if deleted is not None else False
            record["deleted"] = bool(is_deleted) if is_deleted is not _MISSING else False
            extras = _extras(scope[0], item_used, exclude)
            if len(scope) > 1:
                parent_extras = _extras(scope[1], parent_used, exclude)
                if parent_extras:
                    extras["parent"] = parent_extras
            if extras:
                record.setdefault("extras", {}).update(extras)
            if post is not None:
                record = post(record, scope[0], ctx)
            return record
        except MappingError as exc:
            exc.source_id = str(sid) if sid not in (None, _MISSING) else None
            errors.append(exc)
            return None

    def apply(raw: dict[str, Any], ctx: MappingContext) -> tuple[list[dict[str, Any]], list[MappingError]]:
        errors: list[MappingError] = []
        records: list[dict[str, Any]] = []
        try:
            raws = pre(raw, ctx) if pre is not None else (raw,)
        except (MappingError, ValueError, TypeError, KeyError) as exc:
            return [], [exc if isinstance(exc, MappingError) else MappingError(f"pre: {exc}")]
        for item in raws:
            if each_getter is None:
                record = one((item,), ctx, errors)
                if record is not None:
                    records.append(record)
                continue
            children = each_getter((item,))
            if children is None:
                continue
            for child in children if isinstance(children, list) else [children]:
                record = one((child, item), ctx, errors)
                if record is not None:
                    records.append(record)
        return records, errors

    return CompiledMapping(connector, stream, entity, apply, vanished)


def _vanished(spec: Any, where: str) -> dict[str, Any] | None:
    if spec is None:
        return None
    if spec == "deleted":
        return {"deleted": True}
    if isinstance(spec, dict) and set(spec) == {"set"} and isinstance(spec["set"], dict) and spec["set"]:
        return dict(spec["set"])
    raise ConfigError(f"{where}: vanished must be 'deleted' or {{set: {{field: value}}}}, got {spec!r}")


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
    try:
        spec = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    compiled = compile_mapping(spec or {}, connector, stream, str(path))
    _cache[key] = compiled
    return compiled
