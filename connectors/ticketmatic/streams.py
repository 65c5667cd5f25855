"""Ticketmatic stream pieces: the list-page decoder, query builders and cursor handling.

Every list endpoint answers ``{"data": [...], "nbrofresults": N, "lookup": {...}}``
(tm-go ``events/operations.go``, ``orders/operations.go``, ``contacts/operations.go``).
``lookup`` (served with ``output=withlookup``) holds the objects records point to by id
(price types, locations, sales channels); the decoder hands the needed parts to each record
under ``@_lookup`` so a mapping can resolve names. ``@_`` keys never land in extras.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from podium.parsing.base import RecordError
from podium.parsing.json import JsonRecords, dig

# Ticketmatic timestamps are UTC ("Returns the current system time, in UTC", /diagnostics/time);
# query parameters use "YYYY-MM-DD hh:mm:ss" (tm-go types.go, *Query.Lastupdatesince).
TM_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class TicketmaticRecords(JsonRecords):
    """``JsonRecords("data")`` that also attaches ``lookup.<key>`` for ``lookup_keys`` to each record."""

    records_path: str = "data"
    lookup_keys: tuple[str, ...] = ()

    def records(self, document: Any) -> Iterator[dict[str, Any] | RecordError]:
        """The records of a parsed list page, each with the page's lookup tables it may need."""
        lookup = dig(document, "lookup") if self.lookup_keys else None
        tables = ({k: lookup[k] for k in self.lookup_keys if isinstance(lookup.get(k), dict)}
                  if isinstance(lookup, dict) else {})
        for item in super().records(document):
            if tables and isinstance(item, dict):
                item["@_lookup"] = tables
            yield item


def parse_tm_time(value: Any) -> datetime:
    """A Ticketmatic timestamp ("2014-09-26 15:24:36", "...T...", ISO with Z/offset) as aware UTC."""
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_tm_time(value: Any) -> str:
    """Any timestamp or stored cursor -> the ``lastupdatesince`` format (UTC)."""
    return parse_tm_time(value).strftime(TM_TIME_FORMAT)


def cursor_of(record: Mapping[str, Any]) -> str | None:
    """``lastupdatets`` normalised so that string order is time order (the API is not always consistent)."""
    value = record.get("lastupdatets")
    if not value:
        return None
    try:
        return format_tm_time(value)
    except ValueError:
        return None  # a broken timestamp must not move the cursor; the mapping reports the record


def query(**fixed: Any) -> Any:
    """A ``params`` callable: fixed query parameters plus ``lastupdatesince`` from the cursor."""

    def params(connector: Any, cursor: Any) -> dict[str, Any]:
        out = dict(fixed)
        if cursor:
            out["lastupdatesince"] = format_tm_time(cursor)
        return out

    return params
