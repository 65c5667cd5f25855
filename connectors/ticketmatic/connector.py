"""Ticketmatic connector: declarations on ``RestConnector``; the SDK does HTTP, paging and retries.

Sources (see README.md): tm-go ``ticketmatic/client.go`` (base URL, HMAC signing, 429 +
Retry-After), ``ticketmatic/types.go`` (query objects, record shapes) and the per-resource
``operations.go`` files (endpoints, ``{data, nbrofresults, lookup}`` envelope).
"""

from __future__ import annotations

from typing import Any, ClassVar

from requests.auth import AuthBase

from connectors.ticketmatic.streams import TicketmaticRecords
from podium.sdk.auth import HmacAuth
from podium.sdk.connector import StreamSpec
from podium.sdk.rest import Incremental, Paginate, RestConnector, RestStream, setting

DEFAULT_BASE_URL = "https://apps.ticketmatic.com"
API_VERSION = "1"


# Every list answers {data, nbrofresults}; the page size is the house's setting.
# A list page is ``{data, nbrofresults, lookup}``; ``GET /{events,contacts,orders}/{id}`` serves one record
# alone (tm-go ``ticketmatic/{events,contacts,orders}/operations.go`` ``Get``). A single order and contact
# carry their own ``lookup`` (related objects, tm-go ``types.go``), so ``lookup`` does not mark a page.
PAGE_MARKERS = ("nbrofresults",)
PAGES = Paginate("offset", limit=setting("page_size", 100), total_path="nbrofresults")
# lastupdatesince takes "YYYY-MM-DD hh:mm:ss" in UTC (tm-go types.go, *Query.Lastupdatesince).
CHANGED_SINCE = Incremental("lastupdatets", param="lastupdatesince", format="utc_datetime")


def signing_message(account: str) -> Any:
    """Ticketmatic signs ``accesskey + accountname + ts`` (tm-go ``Sign``), not the request itself."""
    return lambda key, ts, request: f"{key}{account}{ts}"


class TicketmaticConnector(RestConnector):
    """Events, contacts and orders (one canonical ticket per ticket in an order) from Ticketmatic."""

    name = "ticketmatic"
    sandbox = "connectors.ticketmatic.sandbox:TicketmaticSandbox"
    version = "0.1.0"
    title = "Ticketmatic (ticketing + CRM)"
    # Ticketmatic documents no request budget for reads; stay well below the web-sales rate limiter.
    requests_per_second = 5.0

    # Orchestration: one HMAC connection form, hourly, the busiest vendor pool (see podium.sdk.Connector).
    auth_kind = "hmac"
    default_schedule = "@hourly"
    pool_slots = 8
    default_owner = "podium-ticketing"
    example_share = {"cultuurcentrum": 0.55, "gemeenschapscentrum": 0.25, "kunstenorganisatie": 0.85}
    example_group = "ticketing"

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        return {"account": house.replace("-", "")}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"login": "sandbox-access-key", "password": "sandbox-secret-key"}

    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Ticketmatic",
        "type": "object",
        "required": ["account", "access_key", "secret_key"],
        "additionalProperties": True,
        "properties": {
            "account": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$",
                        "description": "Ticketmatic account short name ({accountname} in the API path)"},
            "base_url": {"type": "string", "format": "uri", "default": DEFAULT_BASE_URL,
                         "description": "API server; the path /api/1/{account} is appended"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
            "access_key": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "login",
                           "description": "API access key"},
            "secret_key": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "password",
                           "description": "API secret key (signs every request)"},
        },
    }

    rest_streams = (
        RestStream(
            StreamSpec("events", "event", "id", TicketmaticRecords("data", lookup_keys=("locations", "pricetypes"),
                                                           single_record_key="id", page_markers=PAGE_MARKERS),
                       cursor="lastupdatets", description="GET /events (output=withlookup)"),
            path="events", paginator=PAGES, incremental=CHANGED_SINCE,
            # EventQuery.orderby supports only name/startts: the default order is kept.
            params={"output": "withlookup"},
        ),
        RestStream(
            StreamSpec("contacts", "contact", "id",
                       TicketmaticRecords("data", single_record_key="id", page_markers=PAGE_MARKERS),
                       cursor="lastupdatets",
                       description="GET /contacts (incl. archived = deleted contacts as tombstones)"),
            path="contacts", paginator=PAGES, incremental=CHANGED_SINCE,
            params={"orderby": "lastupdatets", "includearchived": "true"},
        ),
        RestStream(
            StreamSpec("orders", "ticket", "orderid",
                       TicketmaticRecords("data", lookup_keys=("pricetypes", "saleschannels"),
                                          single_record_key="orderid", page_markers=PAGE_MARKERS),
                       cursor="lastupdatets", description="GET /orders: one canonical ticket per order ticket"),
            path="orders", paginator=PAGES, incremental=CHANGED_SINCE,
            params={"orderby": "lastupdatets", "orderby_asc": "true", "includearchived": "true",
                    "output": "withlookup"},
        ),
    )

    def base_url(self) -> str:
        base = str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/api/{API_VERSION}/{self.config['account']}"

    def auth(self) -> AuthBase:
        account = str(self.config["account"])
        return HmacAuth(str(self.config["access_key"]), str(self.config["secret_key"]),
                        message=signing_message(account),
                        header="TM-HMAC-SHA256 key={key} ts={ts} sign={sign}")



