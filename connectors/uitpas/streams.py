"""The UiTPAS API 4.0 streams, declared: passholders of the house's organizer, and their ticket sales and
check-ins read per passholder (the API lists neither without a passholder or an event; see README.md)."""

from __future__ import annotations

from typing import Any

from podium.parsing.json import JsonRecords, dig
from podium.sdk.connector import StreamSpec
from podium.sdk.rest import ChildRequest, Paginate, RestStream, setting

# uitpas.json components/parameters/limit: "the maximum value for `limit` is `500`. Exceeding this value
# will result in an error." The config spec holds page_size to it; children always ask the maximum.
MAX_LIMIT = 500


class PageOrDocument(JsonRecords):
    """Every shape UiTPAS serves for a resource, so that ``podium map`` reads each: a ``{totalItems,
    member[]}`` page (GET lists), one document (``GET /passholders/{id}``, ``POST /checkins``) or a bare
    array (``POST /ticket-sales`` answers the registered sales as a list).

    Generic (nothing here names the vendor); kept in this room until a shared decoder says the same.
    """

    def records(self, document: Any) -> Any:
        if isinstance(document, list):
            return super().records({self.records_path: document})
        if isinstance(document, dict) and dig(document, self.records_path) is None and "id" in document:
            return super().records({self.records_path: [document]})
        return super().records(document)


def _offset(limit: Any) -> Paginate:
    # uitpas.json: `start` (offset, default 0) and `limit`; the page's `totalItems` ends the paging.
    return Paginate("offset", limit=limit, offset_param="start", limit_param="limit", total_path="totalItems")


ORGANIZER = {"organizerId": "{config.organizer_id}"}
PASSHOLDERS_PATH = "passholders"


def _per_passholder(resource: str) -> ChildRequest:
    """``GET /<resource>?passholderId=<id>&organizerId=<house>``, every page, fanned out: the stream's
    records are the resource's, each with the ``passholderId`` it was asked for."""
    return ChildRequest(f"{resource}?passholderId={{id}}", into=resource, params=ORGANIZER,
                        pages=_offset(MAX_LIMIT), records_path="member", fan_out={"passholderId": "id"})


PASSHOLDERS = StreamSpec(
    name="passholders", entity="contact", primary_key="id", decoder=PageOrDocument("member"),
    description="Passholders of the organizer's card systems (GET /passholders?organizerId=), by passholder id")
TICKET_SALES = StreamSpec(
    name="ticket_sales", entity="ticket", primary_key="id", decoder=PageOrDocument("member"),
    description="UiTPAS discounted ticket sales (GET /ticket-sales?passholderId=&organizerId=), per passholder")
CHECKINS = StreamSpec(
    name="checkins", entity="ticket", primary_key="id", decoder=PageOrDocument("member"),
    description="Check-ins at the organizer's events (GET /checkins?passholderId=&organizerId=), per passholder")

_PASSHOLDER_PAGES = {"path": PASSHOLDERS_PATH, "params": ORGANIZER,
                     "paginator": _offset(setting("page_size", MAX_LIMIT))}

PASSHOLDERS_STREAM = RestStream(spec=PASSHOLDERS, **_PASSHOLDER_PAGES)
TICKET_SALES_STREAM = RestStream(spec=TICKET_SALES, children=(_per_passholder("ticket-sales"),),
                                 **_PASSHOLDER_PAGES)
CHECKINS_STREAM = RestStream(spec=CHECKINS, children=(_per_passholder("checkins"),), **_PASSHOLDER_PAGES)
