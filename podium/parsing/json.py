"""JSON pages: a list of records at a path inside the served document."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from podium.errors import BadDataError
from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext, RecordError
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
    """A JSON document whose records sit in a list at ``records_path`` ("" = the document is the list)."""

    records_path: str = "data"
    suffix: str = "json"

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
        if _NUL_ESCAPE in raw:  # orjson accepts \u0000; the store cannot keep it
            if isinstance(document, dict):
                return _CheckedDict(document)
            if isinstance(document, list):
                return _CheckedList(document)
        return document

    def records(self, document: Any) -> Iterator[dict[str, Any] | RecordError]:
        """The records of an already parsed document."""
        items = dig(document, self.records_path)
        if items is None:
            raise BadDataError(f"JSON page has no '{self.records_path}' list")
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise BadDataError(f"JSON page: '{self.records_path}' is {type(items).__name__}, not a list")
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
