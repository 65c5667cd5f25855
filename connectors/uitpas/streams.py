"""The UiTPAS API 4.0 streams, declared.

UiTPAS lists ticket sales only per event (``eventId``) or per passholder, and check-ins only per
passholder (``passholderId`` AND ``organizerId``); it lists neither the organizer's events nor anything
changed since a moment. So (README.md says why):

- ``passholders``: ``GET /passholders?organizerId=<house>``;
- ``ticket_sales``: the organizer's UiTPAS events from UiTdatabank's Search API (``organizerId`` +
  ``uitpas=true``: an UiTPAS event *is* a UiTdatabank event of an UiTPAS organizer), then every page of
  ``GET /ticket-sales?eventId=<event>`` per event;
- ``checkins``: the passholders, then every page of ``GET /checkins?passholderId=&organizerId=``.

The child requests fan out: a stream's records are the sales or check-ins themselves.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from podium import clock
from podium.parsing.json import JsonRecords, dig
from podium.sdk.connector import Connector, StreamSpec
from podium.sdk.rest import ChildRequest, Paginate, RestStream, computed, setting

# uitpas.json components/parameters/limit: "the maximum value for `limit` is `500`. Exceeding this value
# will result in an error." The config spec holds page_size to it; children always ask the maximum.
MAX_LIMIT = 500
PRODUCTION_SEARCH = "https://search.uitdatabank.be"
# Search API default filters (apidocs search-api/filters/default-filters.md) hide past, unpublished and
# deleted events; the sales of those events are still sales.
UNFILTERED = {"availableFrom": "*", "availableTo": "*", "addressCountry": "*", "audienceType": "*",
              "workflowStatus": "READY_FOR_VALIDATION,APPROVED,REJECTED,DELETED"}
SEARCH_PAGE = 100  # events per Search API page (its limit is 2,000)
# Sales are registered before the event takes place: those of events over a year ago no longer change.
DEFAULT_SALES_WINDOW_DAYS = 365


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
    # uitpas.json and the Search API alike: `start` (offset) and `limit`; the page's `totalItems` ends it.
    return Paginate("offset", limit=limit, offset_param="start", limit_param="limit", total_path="totalItems")


ORGANIZER = {"organizerId": "{config.organizer_id}"}


def sales_of_event(event: Any) -> str | None:
    """``ticket-sales?eventId=<uuid>`` for a Search API event: its uuid is the last segment of its ``@id``
    (``https://io.uitdatabank.be/event/<uuid>``), the id UiTPAS knows the event by."""
    uri = event.get("@id") if isinstance(event, dict) else None
    uuid = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1] if isinstance(uri, str) else ""
    return f"ticket-sales?eventId={quote(uuid, safe='')}" if uuid.strip() else None


def _search_events_url(connector: Connector) -> str:
    return str(connector.config.get("search_base_url") or PRODUCTION_SEARCH).rstrip("/") + "/events"


def _events_since(connector: Connector) -> str | None:
    """Events on or after this moment: sales of older events no longer change (``sales_window_days``)."""
    setting_days = connector.config.get("sales_window_days")
    days = DEFAULT_SALES_WINDOW_DAYS if setting_days is None else int(setting_days)
    if days <= 0:
        return None  # no bound: every UiTPAS event the organizer ever had
    return f"{clock.today(UTC) - timedelta(days=days):%Y-%m-%d}T00:00:00+00:00"


PASSHOLDERS = StreamSpec(
    name="passholders", entity="contact", primary_key="id", decoder=PageOrDocument("member"),
    description="Passholders of the organizer's card systems (GET /passholders?organizerId=), by passholder id")
TICKET_SALES = StreamSpec(
    name="ticket_sales", entity="ticket", primary_key="id", decoder=PageOrDocument("member"),
    description="UiTPAS discounted ticket sales (GET /ticket-sales?eventId=) of the organizer's UiTPAS events")
CHECKINS = StreamSpec(
    name="checkins", entity="ticket", primary_key="id", decoder=PageOrDocument("member"),
    description="Check-ins at the organizer's events (GET /checkins?passholderId=&organizerId=), per passholder")

PASSHOLDERS_STREAM = RestStream(spec=PASSHOLDERS, path="passholders", params=ORGANIZER,
                                paginator=_offset(setting("page_size", MAX_LIMIT)))

TICKET_SALES_STREAM = RestStream(
    spec=TICKET_SALES, path=computed(_search_events_url),
    params={**ORGANIZER, "uitpas": "true", "embed": "false", "sort[created]": "asc",
            "dateFrom": computed(_events_since), **UNFILTERED},
    paginator=_offset(SEARCH_PAGE),
    children=(ChildRequest(sales_of_event, into="ticket_sales", pages=_offset(MAX_LIMIT), records_path="member",
                           fan_out={}),),
)

CHECKINS_STREAM = RestStream(
    spec=CHECKINS, path="passholders", params=ORGANIZER, paginator=_offset(setting("page_size", MAX_LIMIT)),
    children=(ChildRequest("checkins?passholderId={id}", into="checkins", params=ORGANIZER,
                           pages=_offset(MAX_LIMIT), records_path="member", fan_out={"passholderId": "id"}),),
)
