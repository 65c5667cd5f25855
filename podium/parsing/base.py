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

LIST_PAGE = "list page"
SINGLE_RECORD = "single record"


@dataclass(frozen=True)
class DocumentShape:
    """One shape of document a vendor serves for a stream: ``kind`` is ``LIST_PAGE`` (a page of records)
    or ``SINGLE_RECORD`` (one record alone, e.g. ``GET /events/{id}``); ``description`` says how it looks."""

    kind: str
    description: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.description}"


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
    """A whole served document, in any shape the decoder declares: its records (and RecordErrors) and
    what the page says about all of them (``podium map`` and the golden cases read documents this way).

    A decoder with ``page_context(document)`` (and ``load``/``records``) reads the context from the
    parsed page; any other decoder's pages have the empty context. A decoder with
    ``document_records(document)`` (or ``decode_document(data)``) reads every declared shape with it
    (a single record; a page without its page-information elements); the sync path keeps calling
    ``records``/``decode``, which read what the sync requests.
    """
    if callable(getattr(decoder, "page_context", None)):
        reader: Any = decoder
        document = reader.load(data)
        read = getattr(reader, "document_records", None) or reader.records
        return read(document), reader.page_context(document)
    decode = getattr(decoder, "decode_document", None) or decoder.decode
    return decode(data), EMPTY_PAGE_CONTEXT


def document_shapes(decoder: Decoder) -> tuple[DocumentShape, ...]:
    """The document shapes a stream's decoder accepts (its ``shapes``; else one: a page of its format)."""
    shapes = getattr(decoder, "shapes", None)
    if shapes:
        return tuple(shapes)
    return (DocumentShape(LIST_PAGE, f"a {decoder.suffix} document of records"),)


def shape_of(decoder: Decoder, data: bytes) -> str:
    """Which declared shape kind ``data`` has (``LIST_PAGE`` for a decoder that declares no other);
    raises ``BadDataError`` for a document in none of them."""
    judge = getattr(decoder, "shape_of", None)
    return str(judge(data)) if callable(judge) else LIST_PAGE
