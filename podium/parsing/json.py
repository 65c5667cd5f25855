"""JSON documents: a page with a list of records at a path inside it, or (where the stream declares it)
a single record served alone (``GET /events/{id}``)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from podium.errors import BadDataError
from podium.parsing.base import (
    EMPTY_PAGE_CONTEXT,
    LIST_PAGE,
    SINGLE_RECORD,
    DocumentShape,
    PageContext,
    RecordError,
)
from podium.parsing.text import find_bad_text

_NUL_ESCAPE = b"\\u0000"


class _CheckedDict(dict):  # type: ignore[type-arg]
    """A document read by the tolerant decoder (or holding a NUL escape): its records are checked one by one."""


class _CheckedList(list):  # type: ignore[type-arg]
    """As ``_CheckedDict``, for a document that is a list."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: orjson refuses them, so does the fallback


def _tolerant_loads(raw: bytes) -> Any:
    """What orjson refuses but a record can carry: lone surrogate escapes, invalid UTF-8, raw control chars.

    Invalid UTF-8 bytes become lone surrogates (``surrogateescape``), so the records holding them are
    found and dead-lettered instead of the page.
    """
    document = json.loads(raw.decode("utf-8", "surrogateescape"), strict=False, parse_constant=_no_constant)
    if isinstance(document, dict):
        return _CheckedDict(document)
    if isinstance(document, list):
        return _CheckedList(document)
    return document


def dig(document: Any, path: str) -> Any:
    """Follow a dotted path ("data", "member.items"); "" is the document itself."""
    node = document
    for part in filter(None, path.split(".")):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


@dataclass(frozen=True)
class JsonRecords:
    """A JSON document whose records sit in a list at ``records_path`` ("" = the document is the list).

    ``single_record_key``: the vendor also serves one record alone (``GET /events/{id}``): a document
    without the list that is an object holding this key (the record's identity, a non-empty string or
    number) is that one record. ``page_markers``: keys only a list page has (its total, its paging
    links); a document holding one is a page even when its list is missing, so a broken page is
    refused as before and never read as a "single record". Only ``document_records`` (``podium map``,
    golden cases) reads single records; ``records`` (the sync path) reads list pages only.
    """

    records_path: str = "data"
    suffix: str = "json"
    single_record_key: str | None = None
    page_markers: tuple[str, ...] = ()

    @property
    def shapes(self) -> tuple[DocumentShape, ...]:
        """The document shapes this stream accepts."""
        where = f"the records in '{self.records_path}'" if self.records_path else "a JSON list of records"
        page = DocumentShape(LIST_PAGE, where)
        if self.single_record_key is None:
            return (page,)
        return page, DocumentShape(SINGLE_RECORD, f"one JSON object with '{self.single_record_key}'"
                                                  + (f" and no '{self.records_path}'" if self.records_path else ""))

    def load(self, data: bytes | IO[bytes]) -> Any:
        """Parse the whole document; JSON that cannot be read as a whole raises BadDataError with the position.

        orjson reads almost every page; only a page it refuses is read again by the tolerant decoder,
        which accepts a lone surrogate or invalid UTF-8 inside one record (that record is then a
        RecordError). A UTF-8 BOM is skipped.
        """
        raw = data if isinstance(data, bytes | bytearray) else data.read()
        if raw[:3] == codecs.BOM_UTF8:
            raw = raw[3:]
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                return _tolerant_loads(bytes(raw))
            except (ValueError, RecursionError):
                raise BadDataError(f"malformed JSON: {exc}") from None
        # orjson accepts \u0000; the store cannot keep it. Only a page holding a backslash can hold that escape:
        # a page without any (UTF-8 as is, as most serialisers write it) costs one memchr, a seventh of the
        # six-byte search.
        if b"\\" in raw and _NUL_ESCAPE in raw:
            if isinstance(document, dict):
                return _CheckedDict(document)
            if isinstance(document, list):
                return _CheckedList(document)
        return document

    def records(self, document: Any) -> Iterator[dict[str, Any] | RecordError]:
        """The records of an already parsed list page."""
        items = dig(document, self.records_path)
        if items is None:
            raise BadDataError(f"JSON page has no '{self.records_path}' list")
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise BadDataError(f"JSON page: '{self.records_path}' is {type(items).__name__}, not a list")
        yield from self._checked(items, document)

    def is_single_record(self, document: Any) -> bool:
        """True when ``document`` is one record served alone (see the class doc), never for a page."""
        if self.single_record_key is None or not isinstance(document, dict) or self._page_like(document):
            return False
        identity = dig(document, self.single_record_key)
        return isinstance(identity, str | int) and not isinstance(identity, bool) and str(identity).strip() != ""

    def document_records(self, document: Any) -> Iterator[dict[str, Any] | RecordError]:
        """The records of an already parsed document in any declared shape (list page or single record)."""
        if self.is_single_record(document):
            yield from self._checked([document], document)
            return
        if self.single_record_key is not None and isinstance(document, dict) and not self._page_like(document):
            raise BadDataError(f"JSON document has no '{self.records_path}' list and is not a single record "
                               f"(no '{self.single_record_key}')")
        yield from self.records(document)

    def shape_of(self, data: bytes | IO[bytes]) -> str:
        """The shape kind of a served document (``LIST_PAGE`` or ``SINGLE_RECORD``)."""
        return SINGLE_RECORD if self.is_single_record(self.load(data)) else LIST_PAGE

    def _page_like(self, document: dict[str, Any]) -> bool:
        """The page's list key is there (even if broken), or a key only a page has: judged as a page."""
        if self.records_path and self.records_path.split(".", 1)[0] in document:
            return True
        return any(dig(document, marker) is not None for marker in self.page_markers)

    def _checked(self, items: list[Any], document: Any) -> Iterator[dict[str, Any] | RecordError]:
        checked = isinstance(document, _CheckedDict | _CheckedList)
        for index, item in enumerate(items):
            if isinstance(item, dict):
                bad = find_bad_text(item) if checked else None
                if bad:
                    yield RecordError(f"record {index}: invalid text: {bad}", item, f"[{index}]")
                else:
                    yield item
            else:
                yield RecordError(f"record {index} is {type(item).__name__}, not an object", item, f"[{index}]")

    def page_context(self, document: Any) -> PageContext:
        """What an already parsed page says about all its records (nothing, unless a subclass reads it)."""
        return EMPTY_PAGE_CONTEXT

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Parse and yield the records of one page."""
        yield from self.records(self.load(data))
