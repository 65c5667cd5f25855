"""JSON pages: a list of records at a path inside the served document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from podium.errors import BadDataError
from podium.parsing.base import RecordError


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
        """Parse the whole document; malformed JSON raises BadDataError with the position."""
        raw = data if isinstance(data, bytes | bytearray) else data.read()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadDataError(f"malformed JSON: {exc}") from None

    def records(self, document: Any) -> Iterator[dict[str, Any] | RecordError]:
        """The records of an already parsed document."""
        items = dig(document, self.records_path)
        if items is None:
            raise BadDataError(f"JSON page has no '{self.records_path}' list")
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise BadDataError(f"JSON page: '{self.records_path}' is {type(items).__name__}, not a list")
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield item
            else:
                yield RecordError(f"record {index} is {type(item).__name__}, not an object", item, f"[{index}]")

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Parse and yield the records of one page."""
        yield from self.records(self.load(data))
