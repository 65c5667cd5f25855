"""Tixly CRM API v3: events, customers and ticket sales of one Tixly organisation.

Sources (see README.md): quantile-taps/tap-tixly @ 51ccb47 — ``tap.py`` (base URL, ``auth_token``),
``client.py`` (Bearer token, ``{Data, Next}`` pages followed as served, the sales window walk) and
``streams.py`` (record shapes, the customers cursor ``Edited`` else ``Created``). Timestamps carry no
offset; they are read as the house's wall-clock time (Europe/Brussels), which Tixly does not document.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from requests.auth import AuthBase

from podium import clock
from podium.parsing.base import PageContext
from podium.parsing.json import JsonRecords
from podium.sdk.auth import BearerAuth
from podium.sdk.connector import Page, StreamSpec
from podium.sdk.cursors import LOCAL_DATETIME
from podium.sdk.paginators import DateWindowPaginator
from podium.sdk.rest import Paginate, RestConnector, RestStream, computed, setting

DEFAULT_BASE_URL = "https://crmapi.tixnl.nl/v3"
MAX_PAGE_SIZE = 500  # tap-tixly asks pageSize=500, the largest page the API serves
DEFAULT_REFERENCE_SYSTEM = "tixly_external_reference"
LOCAL_PATTERN = "%Y-%m-%dT%H:%M:%S"
BRUSSELS = ZoneInfo("Europe/Brussels")  # the wall clock of every Flemish house

PAGES = Paginate("next_link", next_path="Next")
# Next: null ends a sales *window* (SoldFrom/SoldTo), not the data: the next window is opened until
# one reaches past today (tap-tixly TixlyEventSalesPaginator; one-month windows there).
SALES_WINDOWS = Paginate(DateWindowPaginator, from_param="SoldFrom", to_param="SoldTo", next_path="Next",
                         days=setting("sales_window_days", 31),
                         until=computed(lambda connector: clock.today(connector.context.timezone)))


def customer_changed(record: Mapping[str, Any]) -> str | None:
    """A customer changes by ``Edited``; a new customer has only ``Created`` (Edited is null)."""
    return _local(record.get("Edited") or record.get("Created"))


def sale_created(record: Mapping[str, Any]) -> str | None:
    """A sales line is stamped once, when it is sold or returned."""
    return _local(record.get("Created"))


def _local(value: Any) -> str | None:
    # Naive wall-clock text: what Tixly serves, so text order is time order (the autumn DST hour aside,
    # which the re-read margins cover). An offset, should one appear, is converted to Brussels time.
    return LOCAL_DATETIME.normalise(value, BRUSSELS)


def _page_size(connector: Any) -> int:
    return min(int(connector.config.get("page_size") or MAX_PAGE_SIZE), MAX_PAGE_SIZE)


def events_query(connector: Any, cursor: Any) -> dict[str, Any]:
    """Events have no change stamp or documented filter: every read is a full read (the store's hash
    keeps unchanged events cheap)."""
    return {"pageSize": _page_size(connector)}


def customers_query(connector: Any, cursor: Any) -> dict[str, Any]:
    """``DateFrom`` from the stored cursor, less a margin: whether Tixly compares it as local time or
    UTC is undocumented (tap-tixly sends the wall-clock digits with a ``Z``), so a re-read of
    ``customers_lookback_minutes`` covers either reading."""
    query: dict[str, Any] = {"pageSize": _page_size(connector)}
    if cursor:
        margin = timedelta(minutes=int(connector.config.get("customers_lookback_minutes", 180)))
        since = LOCAL_DATETIME.parse(cursor, connector.context.timezone) - margin
        query["DateFrom"] = since.strftime(LOCAL_PATTERN)
    return query


def sales_query(connector: Any, cursor: Any) -> dict[str, Any]:
    """The first sales window opens on the cursor's day less ``sales_lookback_days`` (returns and scans
    of recent lines are read again), or on ``sales_start`` for a first read (default two years back)."""
    today = clock.today(connector.context.timezone)
    if cursor:
        first = LOCAL_DATETIME.parse(cursor, connector.context.timezone).date()
        first -= timedelta(days=int(connector.config.get("sales_lookback_days", 31)))
    elif connector.config.get("sales_start"):
        first = date.fromisoformat(str(connector.config["sales_start"]))
    else:
        first = today - timedelta(days=730)
    return {"pageSize": _page_size(connector), "SoldFrom": first.isoformat()}


class TixlyConnector(RestConnector):
    """Events, customers and ticket sales lines from the Tixly CRM API."""

    name = "tixly"
    sandbox = "connectors.tixly.sandbox:TixlySandbox"
    version = "0.1.0"
    title = "Tixly CRM API v3 (ticketing + CRM)"
    # Tixly documents no request budget: stay modest, as for the other box offices.
    requests_per_second = 5.0

    # Orchestration (see podium.sdk.Connector): one Bearer-token form, hourly like a box office.
    auth_kind = "bearer"
    default_schedule = "@hourly"
    pool_slots = 4
    default_owner = "podium-ticketing"
    # Digitaal Podium (Cultuurconnect) houses; one box office per house.
    # Cultuurconnect chose Tixly for the Digitaal Podium houses (cultuurcentra and gemeenschapscentra).
    example_share = {"cultuurcentrum": 0.2, "gemeenschapscentrum": 0.15, "kunstenorganisatie": 0.1}
    example_group = "ticketing"

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        # The Admin API was built to Yesplan's specification: planning ids are the usual reference.
        return {"language": "nl", "external_reference_system": "yesplan"}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"password": cls.sandbox_class().token_for(house)}

    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tixly",
        "type": "object",
        "required": ["auth_token"],
        "additionalProperties": True,
        "properties": {
            "base_url": {"type": "string", "format": "uri", "default": DEFAULT_BASE_URL,
                         "description": "CRM API root (tap-tixly's url_base)"},
            "auth_token": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "password",
                           "description": "the organisation's CRM API token (sent as Bearer)"},
            "language": {"enum": ["nl", "fr", "de", "en"], "default": "nl",
                         "description": "the language the house writes event and event-group names in"},
            "external_reference_system": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$",
                                          "default": DEFAULT_REFERENCE_SYSTEM,
                                          "description": "the system an event's ExternalReferenceNumber "
                                                         "refers to (e.g. yesplan): its external_ids key"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": MAX_PAGE_SIZE},
            "sales_start": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                            "description": "first read: sales sold from this day (default two years back)"},
            "sales_window_days": {"type": "integer", "minimum": 1, "maximum": 366, "default": 31,
                                  "description": "length of one SoldFrom/SoldTo window"},
            "sales_lookback_days": {"type": "integer", "minimum": 0, "default": 31,
                                    "description": "re-read sales this many days before the cursor "
                                                   "(returns and scans of recent lines)"},
            "customers_lookback_minutes": {"type": "integer", "minimum": 0, "default": 180,
                                           "description": "re-read customers changed this long before "
                                                          "the cursor (DateFrom's time zone is undocumented)"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
    }

    rest_streams = (
        RestStream(StreamSpec("events", "event", "Id", JsonRecords("Data"),
                              description="GET /events: one canonical event per Tixly event"),
                   path="events", paginator=PAGES, params=events_query),
        RestStream(StreamSpec("customers", "contact", "Id", JsonRecords("Data"), cursor="Edited",
                              description="GET /customers?DateFrom=: changed by Edited, new ones by Created"),
                   path="customers", paginator=PAGES, params=customers_query, cursor_value=customer_changed),
        RestStream(StreamSpec("sales", "ticket", "SaleTicketId", JsonRecords("Data"), cursor="Created",
                              description="GET /events/sales in SoldFrom/SoldTo windows: one ticket per line"),
                   path="events/sales", paginator=SALES_WINDOWS, params=sales_query, cursor_value=sale_created),
    )

    def base_url(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    def auth(self) -> AuthBase:
        return BearerAuth(str(self.config["auth_token"]))

    def page_context(self) -> PageContext:
        """What every page's records are mapped with: the house's language for Tixly's plain names and
        the system its external references belong to (the mappings read both; no record carries them)."""
        system = str(self.config.get("external_reference_system") or DEFAULT_REFERENCE_SYSTEM)
        return PageContext(tables={"settings": {"external_reference": {"system": system}}},
                           language=str(self.config.get("language") or "nl"))

    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        context = self.page_context()
        for page in super().read(stream, state):
            page.context = context
            yield page
