"""Ticketmatic stream pieces: the list-page decoder (paging and the changed-since cursor are declared).

Every list endpoint answers ``{"data": [...], "nbrofresults": N, "lookup": {...}}``
(tm-go ``events/operations.go``, ``orders/operations.go``, ``contacts/operations.go``).
``lookup`` (served with ``output=withlookup``) holds the objects records point to by id
(price types, locations, sales channels); the decoder hands the needed parts to each record
under ``@_lookup`` so a mapping can resolve names. ``@_`` keys never land in extras.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podium.parsing.base import RecordError
from podium.parsing.json import JsonRecords, dig
from podium.sdk.cursors import parse_utc


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
    return parse_utc(value)
