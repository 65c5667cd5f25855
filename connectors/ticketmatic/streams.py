"""Ticketmatic stream pieces: the list-page decoder (paging and the changed-since cursor are declared).

Every list endpoint answers ``{"data": [...], "nbrofresults": N, "lookup": {...}}``
(tm-go ``events/operations.go``, ``orders/operations.go``, ``contacts/operations.go``).
``lookup`` (served with ``output=withlookup``) holds the objects records point to by id
(price types, locations, sales channels); the decoder hands the needed parts to the page's
context (``PageContext.tables``) so a mapping's ``lookup`` can resolve names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext
from podium.parsing.json import JsonRecords, dig
from podium.sdk.cursors import parse_utc


@dataclass(frozen=True)
class TicketmaticRecords(JsonRecords):
    """``JsonRecords("data")`` whose page context holds ``lookup.<key>`` for ``lookup_keys``."""

    records_path: str = "data"
    lookup_keys: tuple[str, ...] = ()

    def page_context(self, document: Any) -> PageContext:
        """The page's lookup tables the mappings read (records point into them by id)."""
        lookup = dig(document, "lookup") if self.lookup_keys else None
        tables = ({k: lookup[k] for k in self.lookup_keys if isinstance(lookup.get(k), dict)}
                  if isinstance(lookup, dict) else {})
        return PageContext(tables=tables) if tables else EMPTY_PAGE_CONTEXT


def parse_tm_time(value: Any) -> datetime:
    """A Ticketmatic timestamp ("2014-09-26 15:24:36", "...T...", ISO with Z/offset) as aware UTC."""
    return parse_utc(value)
