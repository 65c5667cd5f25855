"""Map + validate one page: the hot path of a sync, in the syncing process or a mapping worker (no I/O).

Apart from ``podium.engine`` so that a mapping worker process imports only what mapping needs (not the
store's SQLAlchemy, the connectors' HTTP stack or the house config).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

from podium import canonical
from podium.mapping import CompiledMapping, MappingContext, MappingError
from podium.mapping.engine import unexpected
from podium.parsing.base import PageContext
from podium.secrets import redact
from podium.store.records import DeadLetter, StoredRecord, content_hash, dumps

if TYPE_CHECKING:
    from podium.sdk.connector import Page


@dataclass
class PageResult:
    records: list[StoredRecord]
    dead: list[DeadLetter]
    read: int
    complete_parents: list[str] = field(default_factory=list)  # raw records mapped without any rejection


# A dead letter keeps the context of the page its record came in (the page's tables, its language), so
# a replay, which has only the letter, maps the record exactly as the sync would have.
PAGE_CONTEXT_KEY = "@page_context"


def _with_page_context(raw: Any, context: PageContext) -> Any:
    """The raw record as its dead letter keeps it: with the page's context when the page has one."""
    return {**raw, PAGE_CONTEXT_KEY: context.to_json()} if context and isinstance(raw, dict) else raw


class PageProcessor:
    """Map + validate one page (the hot path: no I/O here)."""

    def __init__(self, mapping: CompiledMapping, ctx: MappingContext, entity: str, primary_key: str) -> None:
        self.mapping, self.ctx, self.entity, self.primary_key = mapping, ctx, entity, primary_key
        self.is_valid = canonical.validator(entity)

    def process(self, page: Page) -> PageResult:
        return self.process_records(page.records, page.errors, page.context)

    def process_records(self, raws: Sequence[Any], decode_errors: Sequence[tuple[str, Any]],
                        page_context: PageContext) -> PageResult:
        """``process`` of a page given as its parts (a mapping worker builds no ``Page``)."""
        records: list[StoredRecord] = []
        dead: list[DeadLetter] = []
        entity, system, mapping, ctx, primary_key = self.entity, self.ctx.system, self.mapping, self.ctx, self.primary_key
        link = mapping.linker if mapping.links else None
        is_valid = self.is_valid
        if page_context:
            ctx = replace(ctx, page=page_context)
        complete: list[str] = []
        track_parents = mapping.vanished is not None
        # A letter keeps the raw record as it came in. The mapping never changes it, so the letter's copy
        # (with the page context) is made only for a record that has a letter; a hook might: copy first.
        copy_first = mapping.hooks
        # The records of one raw record share its ``extras.parent`` (often a third of each record's JSON):
        # its JSON is written once per raw record and put into each record's dump as it is.
        shared_parent = mapping.shared_parent_extras
        last_parent: Any = None
        parent_json: Any = None
        for raw in raws:
            letter_raw = _with_page_context(raw, page_context) if copy_first else _PENDING
            parent = _sid(raw.get(primary_key) if isinstance(raw, dict) else None)
            rejected_before = len(dead)
            try:
                mapped, errors = mapping.map(raw, ctx)
            except Exception as exc:  # a bug in a hook costs its record, never the page
                mapped, errors = [], [unexpected(exc)]
            if errors and letter_raw is _PENDING:
                letter_raw = _with_page_context(raw, page_context)
            for error in errors:
                dead.append(DeadLetter(reason=_reason("mapping", error), source_id=error.source_id or parent,
                                       schema_path=None, instance_path=getattr(error, "path", None) or None,
                                       raw=letter_raw))
            for record in mapped:
                letter = None
                try:
                    if link is not None:
                        link(record, ctx)
                    if is_valid(record):  # the common case inline: dump, hash, ready for the store
                        extras: Any = record.get("extras") if shared_parent else None
                        shared = extras.get("parent") if type(extras) is dict else None
                        if type(shared) is dict:
                            if shared is not last_parent:
                                last_parent, parent_json = shared, _parent_json(shared)
                            if parent_json is not None:
                                extras["parent"] = parent_json
                                try:
                                    data = dumps(record)
                                finally:
                                    extras["parent"] = shared
                            else:
                                data = dumps(record)
                        else:
                            data = dumps(record)
                        # orjson escapes NUL; PostgreSQL's text columns refuse it raw. Most records have no
                        # backslash at all: an int's ``in`` is one memchr, the 6-byte search costs 25 times more.
                        if _BACKSLASH in data and _NUL_ESCAPE in data:
                            raise ValueError("a text value contains a NUL character (U+0000)")
                        records.append(StoredRecord(
                            record["id"], entity, system, record["source"]["id"], record["deleted"],
                            record.get("modified"), data, content_hash(data), parent))
                        continue
                    if letter_raw is _PENDING:
                        letter_raw = _with_page_context(raw, page_context)
                    letter = self._invalid(record, entity, parent, letter_raw)
                except Exception as exc:  # e.g. nesting past the JSON encoder's depth, a lone surrogate
                    if letter_raw is _PENDING:
                        letter_raw = _with_page_context(raw, page_context)
                    source = record.get("source") if isinstance(record, dict) else None
                    letter = DeadLetter(
                        reason=_reason("invalid canonical record", exc), raw=letter_raw,
                        source_id=_sid(source.get("id") if isinstance(source, dict) else None) or parent)
                dead.append(letter)
            if track_parents and parent is not None and len(dead) == rejected_before:
                complete.append(parent)
        for reason, raw in decode_errors:
            dead.append(DeadLetter(reason=_reason("decode", reason), raw=raw,
                                   source_id=_sid(raw.get(primary_key)) if isinstance(raw, dict) else None))
        return PageResult(records, dead, len(raws), complete)

    def _invalid(self, record: dict[str, Any], entity: str, parent: str | None, raw: Any) -> DeadLetter:
        """The dead letter of a record the canonical schema refuses: the violations, the first one's paths."""
        violations = canonical.validate(entity, record)
        first = violations[0]
        return DeadLetter(
            reason=_reason("invalid canonical record", "; ".join(str(v) for v in violations[:5])),
            source_id=record.get("source", {}).get("id") or parent,
            schema_path=first.schema_path, instance_path=first.instance_path, raw=raw)


_PENDING: Any = object()  # a letter's raw record not copied yet (see ``PageProcessor.process``)


def _parent_json(parent: dict[str, Any]) -> orjson.Fragment | None:
    """``extras.parent``'s JSON as ``dumps`` writes it inside a record, or None (then the record is dumped
    whole, failing as it would). Written at the depth it has in the record (record > extras > parent),
    so the encoder's nesting limit applies to it alike."""
    try:
        data = dumps({"e": {"p": parent}})
    except Exception:
        return None
    return orjson.Fragment(data[len(b'{"e":{"p":'):-len(b"}}")])


_NUL_ESCAPE = b"\\u0000"
_BACKSLASH = ord("\\")
MAX_REASON_CHARS = 2000  # a dead letter's reason: enough for five schema violations, never a whole record


def _reason(stage: str, cause: Any) -> str:
    """``stage: Class: message`` (or ``stage: message`` for a plain text), secrets redacted, then cut."""
    text = str(cause)
    if isinstance(cause, BaseException) and not isinstance(cause, MappingError):
        text = f"{type(cause).__name__}: {text}"
    return redact(f"{stage}: {text}")[:MAX_REASON_CHARS]


def _sid(value: Any) -> str | None:
    return None if value is None else str(value)
