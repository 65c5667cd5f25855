"""The decoder interface shared by every parser."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any, Protocol

_NO_TABLES: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class RecordError:
    """A part of the input that could not be decoded: becomes a dead letter with this reason."""

    reason: str
    raw: Any
    position: str = ""


@dataclass(frozen=True)
class PageContext:
    """What one served page says about all its records (not part of any record).

    ``tables``: the page's lookup tables by name (ids → objects) that a mapping's ``lookup`` reads;
    ``language``: the language the page's texts are in, when the request chose it (``$page.language``).
    """

    tables: Mapping[str, Any] = field(default_factory=lambda: _NO_TABLES)
    language: str | None = None

    def __bool__(self) -> bool:
        return bool(self.tables) or self.language is not None

    def to_json(self) -> dict[str, Any]:
        """The context as plain JSON (kept with a dead letter so a replay maps it the same way)."""
        return {"tables": dict(self.tables), "language": self.language}

    @classmethod
    def from_json(cls, data: Any) -> PageContext:
        """The context :meth:`to_json` wrote; anything else is the empty context."""
        if not isinstance(data, dict):
            return cls()
        tables, language = data.get("tables"), data.get("language")
        return cls(tables=dict(tables) if isinstance(tables, dict) else _NO_TABLES,
                   language=str(language) if language is not None else None)


EMPTY_PAGE_CONTEXT = PageContext()


class Decoder(Protocol):
    """Turns served bytes (or a binary stream) into raw records."""

    @property
    def suffix(self) -> str:
        """File suffix of the served format (json, xml, csv); read-only, so frozen decoders fit."""
        ...

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Yield records (and RecordErrors) in document order."""
        ...


def decode_page(decoder: Decoder, data: bytes) -> tuple[Iterator[dict[str, Any] | RecordError], PageContext]:
    """A whole served page: its records (and RecordErrors) and what the page says about all of them.

    A decoder with ``page_context(document)`` (and ``load``/``records``) reads the context from the
    parsed page; any other decoder's pages have the empty context.
    """
    if callable(getattr(decoder, "page_context", None)):
        reader: Any = decoder
        document = reader.load(data)
        return reader.records(document), reader.page_context(document)
    return decoder.decode(data), EMPTY_PAGE_CONTEXT
