"""A sandbox of publiq's legacy Search API v1: ``GET /api/events/xmlview`` answering CdbXML 3.3.

Parameters as the Search API v1 documentation lists them (cultuurnet/uit-documentatie,
``search_api/v1/lijst_opvragen.md``): ``key`` (required), ``changedsince`` (``yyyy-m-dTH.m``),
``page`` (default 1), ``pagelength`` (default 50), and the filters ``q``, ``organiser`` and
``location``. A wrong or missing key is refused with the UiTdatabank ``<rsp>`` error envelope
(``Unauthorized`` / ``Authorization required.``) and 401; too many requests get ``TooManyRequests``
with 429 + ``Retry-After``. Each ``organiser`` gets its own seeded dataset, so any house name works.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from connectors.cdbxml.feed import CdbEvent, document, seed_events
from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks
from podium.sandbox.datasets import TenantDatasets

DEFAULT_API_KEY = "uitdatabank-sandbox-key"
DEFAULT_ORGANISER = "UiTdatabank sandbox"
BRUSSELS = ZoneInfo("Europe/Brussels")
_CHANGEDSINCE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2})[.:](\d{2}))?$")


def rsp(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """The UiTdatabank API error envelope."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<rsp level="ERROR" version="0.1">'
            f"<code>{escape(code)}</code><message>{escape(message)}</message></rsp>\n")
    response = Response.xml(body, status)
    response.headers.update(headers or {})
    return response


class CdbXmlSandbox(Sandbox):
    """Search API v1 ``xmlview`` over seeded Flemish events (CdbXML 3.3)."""

    name = "cdbxml"
    default_port: ClassVar[int] = 8704
    rate_limit_requests = 20

    def __init__(self, *, seed: int = 7, api_key: str = DEFAULT_API_KEY, events_per_organiser: int = 60,
                 today: date | None = None) -> None:
        super().__init__(seed=seed)
        # The catalogue is a fixed 2025-26 season; ``today`` (default podium.clock.today()) dates changes.
        self.today = today or clock.today(BRUSSELS)
        self.api_key = api_key
        self.events_per_organiser = events_per_organiser
        self._datasets: TenantDatasets[list[CdbEvent]] = TenantDatasets(
            lambda organiser: seed_events(organiser, self.seed, self.events_per_organiser))
        self._data_lock = self._datasets.lock
        self._mutations = 0

    def dataset(self, organiser: str | None = None) -> list[CdbEvent]:
        """The events of one organiser (seeded on first use)."""
        key = (organiser or DEFAULT_ORGANISER).strip() or DEFAULT_ORGANISER
        return self._datasets.get(key)

    def mutate(self, count: int) -> list[str]:
        """Bump ``count`` live single-date events of every dataset (``lastupdated`` on ``today``); returns cdbids."""
        self.dataset()
        changed: list[str] = []
        with self._data_lock:
            newest = max(e.lastupdated for events in self._datasets.values() for e in events)
            # Changes happen on ``today``, but never before the newest change the data already holds.
            moment = clock.moment_on(self.today, BRUSSELS).replace(tzinfo=None)
            now = max(moment, datetime.fromisoformat(newest) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
            for events in self._datasets.values():
                candidates = [e for e in events if e.wfstatus != "deleted" and e.occurrences == 1]
                for offset in range(min(count, len(candidates))):
                    event = candidates[(self._mutations + offset) % len(candidates)]
                    event.lastupdated = now
                    event.maxparticipants = (event.maxparticipants or 100) + 10
                    changed.append(event.cdbid)
            self._mutations += count
        return changed

    def rate_limited(self) -> Response:
        return rsp("TooManyRequests", "Maximum number of requests exceeded.", 429,
                   {"Retry-After": str(self.retry_after_seconds)})

    def error(self, refusal: Refused) -> Response:
        return rsp(refusal.kind, refusal.message, refusal.status)

    def route(self, request: Request) -> Response:
        if request.method != "GET" or request.path.rstrip("/") != "/api/events/xmlview":
            return rsp("NotFound", "Resource not found.", 404)
        checks.api_key_param(request, "key", self.api_key, missing="Authorization required.", kind="Unauthorized")
        paging = checks.int_params(request, {"page": 1, "pagelength": 50}, "page and pagelength are numbers.",
                                   kind="InvalidParameter")
        page, length = paging["page"], paging["pagelength"]
        checks.require(page >= 1 and 1 <= length <= 1000, 400, "page >= 1 and 1 <= pagelength <= 1000.",
                       "InvalidParameter")
        since = request.arg("changedsince")
        floor = None
        if since:
            match = _CHANGEDSINCE.match(since.strip())
            if not match:
                return rsp("InvalidParameter", "changedsince: use yyyy-m-d or yyyy-m-dTH.m.", 400)
            year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups())
            floor = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00"
        events = self.select(self.dataset(request.arg("organiser")), floor, request.arg("q"), request.arg("location"))
        chunk = events[(page - 1) * length: page * length]
        return Response.xml(document(chunk, len(events)))

    def select(self, events: list[CdbEvent], floor: str | None, q: str | None,
               location: str | None) -> list[CdbEvent]:
        """Filter (changed since ``floor``, free text, venue) and order oldest change first."""
        with self._data_lock:
            chosen = [e for e in events if floor is None or e.lastupdated >= floor]
            if q and q.strip() not in ("", "*", "*:*"):
                needle = q.strip().lower()
                chosen = [e for e in chosen if any(needle in t.lower() for t in e.title.values())]
            if location:
                wanted = location.strip().lower()
                chosen = [e for e in chosen if wanted in (e.venue.name.lower(), e.venue.cdbid.lower())]
            return sorted(chosen, key=lambda e: (e.lastupdated, e.cdbid))

    def describe(self) -> dict[str, Any]:
        """What ``podium sandbox cdbxml`` prints: where to point a house config."""
        return {"base_url": self.url, "api_key": self.api_key, "endpoint": "/api/events/xmlview"}
