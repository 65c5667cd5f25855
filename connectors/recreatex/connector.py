"""Recreatex (Gantner/Syx) connector: culture events, persons and culture reservations over SOAP.

The WebShop service has no change feed: events and reservations are read for a date window around
today (``days_back``/``days_ahead``), persons in full, and the engine's content hashing keeps only
what changed. Each stream pages with the service's ``PagingCriteria`` (zero-based ``PageIndex``);
a page shorter than ``PageSize`` is the last. State, stored with each page::

    {"resume": {"page_index": n, "window": {"from": ..., "until": ...}}}   mid-read
    {"window": {"from": ..., "until": ...}}                                  after a complete read
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, time, timedelta
from functools import partial
from typing import Any, ClassVar

from connectors.recreatex.soap import WebShopClient, endpoint_url
from connectors.recreatex.streams import SOAP_STREAMS, SoapStream
from podium import clock
from podium.errors import BadDataError, ConfigError
from podium.parsing import RecordError, safe_iterparse
from podium.parsing.base import PageContext
from podium.sdk.connector import Connector, Page, SyncContext
from podium.sdk.paginators import Paginator
from podium.sdk.ratelimit import shared_limiter
from podium.secrets import register_secret

_GUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_MAX_PAGES = 100_000


class RecreatexConnector(Connector):
    """Reads a Recreatex WebShop (SOAP 1.1, v3.8) for one shop."""

    name = "recreatex"
    sandbox = "connectors.recreatex.sandbox:RecreatexSandbox"
    version = "0.1.0"
    title = "Recreatex (Gantner/Syx) WebShop"
    requests_per_second = 5.0

    # Orchestration (see podium.sdk.Connector).
    auth_kind = "soap_shop"
    default_schedule = "30 * * * *"
    pool_slots = 4
    default_owner = "podium-ticketing"
    example_share = {"cultuurcentrum": 0.25, "gemeenschapscentrum": 0.6, "kunstenorganisatie": 0.05}
    example_group = "ticketing"

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        return {"base_url": f"https://{house.replace('-', '')}.recreatex.be/WebShop", "language": "nl"}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"password": cls.sandbox_class().shop_id_for(house)}

    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["base_url", "shop_id"],
        "properties": {
            "base_url": {"type": "string", "format": "uri", "pattern": "^https?://",
                         "description": "The WebShop service root (…/WebShop.svc is appended unless given)"},
            "shop_id": {"type": "string", "pattern": _GUID, "secret": True, "x-connection-field": "password",
                        "description": "Context/ShopId: the GUID Recreatex uses as the access key of a web shop"},
            "division_id": {"type": "string", "pattern": _GUID, "description": "Context/DivisionId (optional)"},
            "language": {"enum": ["nl", "fr", "de", "en"], "default": "nl",
                         "description": "Context/Language: the language Recreatex answers texts in"},
            "days_back": {"type": "integer", "minimum": 0, "default": 30,
                          "description": "events/reservations: read events that started up to this many days ago"},
            "days_ahead": {"type": "integer", "minimum": 0, "default": 365,
                           "description": "events/reservations: read events starting up to this many days ahead"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
    }
    streams = tuple(s.spec for s in SOAP_STREAMS)

    def __init__(self, config: Mapping[str, Any], context: SyncContext) -> None:
        super().__init__(config, context)
        register_secret(str(self.config["shop_id"]))
        self.language = str(self.config.get("language") or "nl")
        self.page_size = int(self.config.get("page_size") or 100)
        self._client: WebShopClient | None = None


    # -- plumbing ------------------------------------------------------------------------------
    @property
    def client(self) -> WebShopClient:
        if self._client is None:
            endpoint = endpoint_url(str(self.config["base_url"]))
            soap_context = {"ShopId": str(self.config["shop_id"]), "Language": self.language}
            if self.config.get("division_id"):
                soap_context["DivisionId"] = str(self.config["division_id"])
            rate = float(self.config.get("requests_per_second") or self.requests_per_second)
            self._client = WebShopClient(endpoint, soap_context,
                                         rate_limiter=shared_limiter(f"{self.name}:{endpoint}", rate),
                                         timeout=self.timeouts, retry=self.retry_policy())
        return self._client

    def _window(self) -> dict[str, str]:
        today = clock.today(self.context.timezone)
        start = today - timedelta(days=int(self.config.get("days_back", 30)))
        end = today + timedelta(days=int(self.config.get("days_ahead", 365)) + 1)
        # WebShop date-times are local wall-clock times without an offset (WCF DateTime, Unspecified).
        return {"from": datetime.combine(start, time()).isoformat(), "until": datetime.combine(end, time()).isoformat()}

    def _criteria(self, stream: SoapStream, window: Mapping[str, str], page_index: int, size: int) -> dict[str, Any]:
        criteria: dict[str, Any] = {"Paging": {"PageIndex": page_index, "PageSize": size}}
        if stream.windowed:
            criteria["From"] = datetime.fromisoformat(window["from"])
            criteria["Until"] = datetime.fromisoformat(window["until"])
        if stream.operation == "FindCultureEvents":
            criteria["Includes"] = {"Image": False, "ImageUri": True, "Options": False}
        elif stream.operation == "FindPerson":
            criteria["IncludeImage"] = False
        return {stream.criteria_part: criteria}

    # -- behaviour -----------------------------------------------------------------------------
    def check(self) -> None:
        """One FindCultureEvents call of one item: proves the address, the ShopId and the contract."""
        first = SOAP_STREAMS[0]
        response = self.client.call(first.operation, **self._criteria(first, self._window(), 0, 1))
        try:
            found = any(True for _ in safe_iterparse(response.content, ("CultureEvents",)))
        except BadDataError as exc:
            raise ConfigError(f"recreatex: the endpoint did not answer with a WebShop response ({exc})") from None
        if not found:
            raise ConfigError("recreatex: the endpoint answered, but not with a FindCultureEvents response; "
                              "check base_url")

    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        soap_stream = next(s for s in SOAP_STREAMS if s.spec is self.stream(stream))
        resume = dict((state or {}).get("resume") or {})
        window = dict(resume.get("window") or self._window())
        page_index = int(resume.get("page_index", 0))
        size = self.page_size
        empty_in_a_row = 0
        for _ in range(_MAX_PAGES):
            criteria = self._criteria(soap_stream, window, page_index, size)
            response, decoded = self.client.call_decoded(soap_stream.operation,
                                                         partial(self._decode, soap_stream), **criteria)
            records, errors = decoded or ([], [])
            more = len(records) + len(errors) >= size
            empty_in_a_row = empty_in_a_row + 1 if more and not records else 0
            if empty_in_a_row >= Paginator.max_empty_pages:
                raise BadDataError(f"recreatex {stream}: {empty_in_a_row} pages in a row without a usable "
                                   f"record (last: page={page_index}): stopped instead of paging on forever")
            after: dict[str, Any] = ({"resume": {"page_index": page_index + 1, "window": window}} if more
                                     else {"window": window})
            label = f"page={page_index} size={size}" + (f" from={window['from'][:10]}" if soap_stream.windowed else "")
            yield Page(records=records, state=after, raw=response.content, raw_suffix="xml", label=label,
                       errors=errors, context=PageContext(language=self.language))
            if not more:
                return
            page_index += 1
        raise BadDataError(f"recreatex {stream}: more than {_MAX_PAGES} pages; paging does not end")

    def _decode(self, stream: SoapStream, body: bytes) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
        """Records and record errors of one whole page; a page that cannot be read raises BadDataError."""
        records: list[dict[str, Any]] = []
        errors: list[tuple[str, Any]] = []
        for item in stream.spec.decoder.decode(body):
            if isinstance(item, RecordError):
                errors.append((item.reason, item.raw))
            else:
                records.append(item)
        return records, errors

    @classmethod
    def replay_page(cls, stream: str, data: bytes, settings: Mapping[str, Any]) -> Page:
        """The language a page was asked in is the setting's, not in the served bytes (``podium remap``)."""
        page = super().replay_page(stream, data, settings)
        page.context = PageContext(language=str(settings.get("language") or "nl"))
        return page

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

