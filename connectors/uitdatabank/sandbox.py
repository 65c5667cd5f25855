"""A UiTdatabank Search API v3 + publiq token endpoint sandbox, answering as the public docs say.

- ``POST /oauth/token`` (publiq's Auth0, JSON or form body): client_credentials with audience
  ``https://api.publiq.be`` -> ``{access_token, expires_in, token_type}``; a wrong secret -> 401
  ``{"error": "access_denied", "error_description": "Unauthorized"}`` as Auth0 answers.
- ``GET /events``: ``Authorization: Bearer`` or ``x-client-id``/``clientId``; ``start``/``limit``
  (start <= 10,000, limit <= 2,000, else 404 problem+json exactly as pagination.md shows;
  start+limit past the result window -> 400 problem+json), ``embed``, ``sort[modified]``,
  ``modifiedFrom``/``modifiedTo`` (inclusive), ``workflowStatus`` (default filter
  READY_FOR_VALIDATION,APPROVED), ``organizerId``, ``locationId``, ``calendarType``. Errors use
  publiq's RFC 7807 model (``publiq-errors/models/Error.json``).

Each client id sees its own seeded catalogue (the real Search API applies a per-client default query),
so any client id works; the secret is ``client_secret`` (default ``sandbox-secret``).
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks, flemish
from podium.sandbox.datasets import TenantDatasets, tenant_random

BRUSSELS = ZoneInfo("Europe/Brussels")
AUDIENCE = "https://api.publiq.be"
IO = "https://io.uitdatabank.be"
PROBLEM = "application/problem+json"
UNAUTHORIZED = "https://api.publiq.be/probs/auth/unauthorized"
BAD_REQUEST = "https://api.publiq.be/probs/body/bad-request"
NOT_FOUND = "https://api.publiq.be/probs/url/not-found"
MAX_START, MAX_LIMIT = 10_000, 2_000
DEFAULT_WORKFLOW = ("READY_FOR_VALIDATION", "APPROVED")

# (name nl, name fr, street, postal code, city, organizer): the kit's venues; organizers are fictitious.
VENUES = tuple((venue.long_name, venue.name_fr, venue.street_address, venue.zip, venue.town, organizer)
               for venue, organizer in zip(flemish.venues("cc-hasselt", "de-warande", "stadsschouwburg-brugge",
                                                          "cc-strombeek", "desingel", "handelsbeurs"),
                                           ("CCHA vzw", "De Warande vzw", "Concertgebouw Brugge vzw",
                                            "Cultuurcentrum Strombeek vzw", "deSingel internationale kunstcampus",
                                            "Handelsbeurs vzw"), strict=True))
# (nl title, fr title or None, eventtype term id, label)
SHOWS = (
    ("Kommil Foo - OOGST", None, "0.50.4.0.0", "Concert"),
    ("Hamlet", "Hamlet", "0.55.0.0.0", "Theatervoorstelling"),
    ("De Kersentuin", "La Cerisaie", "0.55.0.0.0", "Theatervoorstelling"),
    ("Brussels Philharmonic speelt Ravel", "Le Brussels Philharmonic joue Ravel", "0.50.4.0.0", "Concert"),
    ("Rosas danst Rosas", "Rosas danst Rosas", "0.54.0.0.0", "Dansvoorstelling"),
    ("Wim Opbrouck zingt", None, "0.50.4.0.0", "Concert"),
    ("Filmklassiekers: Daens", "Classiques du cinéma : Daens", "0.50.6.0.0", "Film"),
    ("Circus Ronaldo", "Cirque Ronaldo", "0.55.0.0.0", "Theatervoorstelling"),
    ("Expo: Vlaamse Primitieven", "Expo : Primitifs flamands", "0.0.0.0.0", "Tentoonstelling"),
    ("Jazz op zondag", "Jazz le dimanche", "0.50.4.0.0", "Concert"),
)
CALENDARS = ("single", "single", "single", "multiple", "single", "periodic", "single", "multiple", "permanent",
             "single")
SEASON_START = datetime(2025, 9, 13, 20, 0, tzinfo=BRUSSELS)
# Dates whose subEvents cross a DST change (last Sunday of March / October 2025 and 2026).
DST_SERIES = ((datetime(2025, 10, 25, 20, 0), datetime(2025, 10, 26, 15, 0), datetime(2025, 10, 27, 20, 0)),
              (datetime(2026, 3, 28, 20, 0), datetime(2026, 3, 29, 15, 0), datetime(2026, 3, 30, 20, 0)))
SEED_MODIFIED = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _local(naive: datetime) -> datetime:
    return naive.replace(tzinfo=BRUSSELS) if naive.tzinfo is None else naive.astimezone(BRUSSELS)


def _parse(value: str) -> datetime:
    text = value.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BRUSSELS)


def problem(status: int, title: str, type_: str, detail: str | None = None) -> Response:
    """An RFC 7807 answer in publiq's Error model."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return Response(status, json.dumps(body).encode(), {"Content-Type": PROBLEM})


class UitdatabankSandbox(Sandbox):
    """UiTdatabank Search API v3 and publiq's token endpoint, seeded per client id."""

    name = "uitdatabank"
    default_port: ClassVar[int] = 8706
    rate_limit_requests = 50

    def __init__(self, *, seed: int = 7, events: int = 60, result_window: int = MAX_START,
                 client_secret: str = "sandbox-secret", token_ttl: int = 86400, today: date | None = None) -> None:
        super().__init__(seed=seed)
        # The catalogue is a fixed 2025-26 season; ``today`` (default podium.clock.today()) dates changes.
        self.today = today or clock.today(UTC)
        self.event_count, self.result_window = events, result_window
        self.client_secret, self.token_ttl = client_secret, token_ttl
        self.tokens: dict[str, tuple[str, float]] = {}
        self.tokens_issued = 0
        self._data: TenantDatasets[dict[str, dict[str, Any]]] = TenantDatasets(
            lambda client_id: _seed_events(self.seed, client_id, self.event_count))
        self._data_lock = self._data.lock
        self._counter = itertools.count(1)

    # -- test controls -------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Invalidate every issued token (the next API call answers 401 until a new token is fetched)."""
        with self._data_lock:
            self.tokens.clear()

    def catalogue(self, client_id: str = "podium-demo") -> dict[str, dict[str, Any]]:
        """The events one client sees, by uuid (seeded on first use)."""
        return self._data.get(client_id)

    def mutate(self, count: int) -> list[str]:
        """Change ``count`` published events of every client (``modified`` on ``today``); returns their ``@id``s.

        The ``@id`` URI is the stream's primary key (JSON-LD node identifier); picking no ``multiple``
        events keeps a changed event one canonical record whose source id is the uuid in that URI.
        """
        changed: list[str] = []
        with self._data_lock:
            if not self._data:
                self.catalogue()
            newest = max(_parse(e["modified"]) for events in self._data.values() for e in events.values())
            # Changes happen on ``today``, but never before the newest change the data already holds.
            now = max(clock.moment_on(self.today, UTC), newest + timedelta(seconds=1))
            for events in self._data.values():
                candidates = [e for e in sorted(events.values(), key=lambda e: e["@id"])
                              if e["calendarType"] != "multiple" and e["workflowStatus"] == "APPROVED"]
                step = next(self._counter)
                for event in (candidates[(step * 7 + i) % len(candidates)] for i in range(count)):
                    booking = event.setdefault("bookingAvailability", {"type": "Available"})
                    booking["type"] = "Unavailable" if booking.get("type") == "Available" else "Available"
                    event["modified"] = _iso(now)
                    changed.append(event["@id"])
        return changed

    # -- routes --------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        if path == "/events" and request.method == "GET":
            return self._search(request, self._authenticate(request))
        return problem(404, "Not Found", NOT_FOUND,
                       f"The requested URL {request.path} was not found.")

    def rate_limited(self) -> Response:
        return Response(429, json.dumps({"type": "https://api.publiq.be/probs/rate-limit/too-many-requests",
                                         "title": "Too Many Requests", "status": 429}).encode(),
                        {"Content-Type": PROBLEM, "Retry-After": str(self.retry_after_seconds)})

    def error(self, refusal: Refused) -> Response:
        return problem(refusal.status, HTTPStatus(refusal.status).phrase, refusal.kind, refusal.message)

    def _token(self, request: Request) -> Response:
        body: dict[str, Any]
        if "json" in request.headers.get("Content-Type", request.headers.get("content-type", "")):
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return Response.json({"error": "invalid_request", "error_description": "invalid JSON"}, 400)
        else:
            body = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        if body.get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type",
                                  "error_description": f"Unsupported grant type: {body.get('grant_type')}"}, 400)
        client_id = str(body.get("client_id") or "")
        if not client_id or body.get("client_secret") != self.client_secret:
            return Response.json({"error": "access_denied", "error_description": "Unauthorized"}, 401)
        if body.get("audience") != AUDIENCE:
            return Response.json({"error": "access_denied",
                                  "error_description": f"Service not enabled within domain: {body.get('audience')}"},
                                 403)
        token = f"sbx.{uuid.uuid4().hex}"
        with self._data_lock:
            # Token lifetimes are real time (clients cache tokens by the real clock), whatever ``today`` is.
            self.tokens[token] = (client_id, time.time() + self.token_ttl)
            self.tokens_issued += 1
        return Response.json({"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer",
                              "scope": "https://api.publiq.be/auth/uitdatabank-search"})

    def _authenticate(self, request: Request) -> str:
        client_id = checks.header(request, "x-client-id") or request.arg("clientId")
        if client_id:
            return client_id
        token = checks.bearer_token(
            request, missing="No x-api-key header or apiKey parameter found",
            malformed='Authorization header must start with "Bearer ", followed by your token', kind=UNAUTHORIZED)
        with self._data_lock:
            entry = self.tokens.get(token)
        if entry is None or entry[1] < time.time():
            # verbatim udb3-search-service InvalidToken: the token is echoed back (clients must redact)
            raise Refused(401, f'Token "{token}" is expired or not valid for Search API.', UNAUTHORIZED)
        return entry[0]

    def _search(self, request: Request, client_id: str) -> Response:
        paging = checks.int_params(request, {"start": 0, "limit": 30}, "start and limit must be integers",
                                   kind=BAD_REQUEST)
        start, limit = paging["start"], paging["limit"]
        highest_start = min(MAX_START, self.result_window)
        checks.require(0 <= start <= highest_start, 404,
                       f'The "start" parameter should be between 0 and {highest_start}', NOT_FOUND)
        checks.require(0 <= limit <= MAX_LIMIT, 404, f'The "limit" parameter should be between 0 and {MAX_LIMIT}',
                       NOT_FOUND)
        checks.require(start + limit <= self.result_window, 400,
                       f"Result window is too large, start + limit must be less than or equal to: "
                       f"[{self.result_window}] but was [{start + limit}].", BAD_REQUEST)
        try:
            matches = self._filter(request, client_id)
        except ValueError as exc:
            raise Refused(400, str(exc), BAD_REQUEST) from None
        page = matches[start:start + limit]
        embed = (request.arg("embed", "false") or "").lower() == "true"
        members = [json.loads(json.dumps(e)) if embed else {"@id": e["@id"], "@type": "Event"} for e in page]
        return Response.json({"@context": "http://www.w3.org/ns/hydra/context.jsonld", "@type": "PagedCollection",
                              "itemsPerPage": limit, "totalItems": len(matches), "member": members},
                             headers={"Content-Type": "application/ld+json"})

    def _filter(self, request: Request, client_id: str) -> list[dict[str, Any]]:
        statuses = request.arg("workflowStatus")
        allowed = None if statuses == "*" else set((statuses or ",".join(DEFAULT_WORKFLOW)).split(","))
        since = _parse(request.arg("modifiedFrom") or "") if request.arg("modifiedFrom") else None
        until = _parse(request.arg("modifiedTo") or "") if request.arg("modifiedTo") else None
        calendars = set((request.arg("calendarType") or "").split(",")) - {""}
        organizer, location = request.arg("organizerId"), request.arg("locationId")
        with self._data_lock:
            events = list(self.catalogue(client_id).values())
            out = []
            for event in events:
                modified = _parse(event["modified"])
                if allowed is not None and event["workflowStatus"] not in allowed:
                    continue
                if (since and modified < since) or (until and modified > until):
                    continue
                if calendars and event["calendarType"] not in calendars:
                    continue
                if organizer and not event["organizer"]["@id"].endswith(organizer):
                    continue
                if location and not event["location"]["@id"].endswith(location):
                    continue
                out.append(event)
        order = request.arg("sort[modified]")
        if order in ("asc", "desc"):
            # ties keep one stable order (the uuid), as a search index's doc order does
            out.sort(key=lambda e: (_parse(e["modified"]), e["@id"]), reverse=order == "desc")
        else:
            out.sort(key=lambda e: e["@id"])
        return out


# -- seed data ---------------------------------------------------------------------------------
def _ids(client_id: str, kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{IO}/{client_id}/{kind}/{n}"))


def _place(client_id: str, index: int) -> dict[str, Any]:
    name_nl, name_fr, street, postal, city, _ = VENUES[index]
    return {
        "@id": f"{IO}/places/{_ids(client_id, 'place', index)}", "@type": "Place", "mainLanguage": "nl",
        "name": {"nl": name_nl, "fr": name_fr},
        "address": {"nl": {"addressCountry": "BE", "addressLocality": city, "postalCode": postal,
                           "streetAddress": street}},
        "calendarType": "permanent", "status": {"type": "Available"},
        "terms": [{"id": "8.6.0.0.0", "label": "Cultuur- of ontmoetingscentrum", "domain": "eventtype"}],
        "workflowStatus": "APPROVED", "created": "2019-01-07T09:00:00+00:00", "modified": "2024-11-04T10:00:00+00:00",
    }


def _organizer(client_id: str, index: int) -> dict[str, Any]:
    *_, city, organizer = VENUES[index]
    return {
        "@id": f"{IO}/organizers/{_ids(client_id, 'organizer', index)}", "mainLanguage": "nl",
        "name": {"nl": organizer}, "url": f"https://www.{city.lower().split('-')[0]}.be/cultuur",
        "workflowStatus": "ACTIVE", "created": "2019-01-07T09:00:00+00:00", "modified": "2024-11-04T10:00:00+00:00",
    }


def _sub(index: int, start: datetime, hours: float, rng: random.Random) -> dict[str, Any]:
    begin = _local(start)
    sold_out = rng.random() < 0.2
    return {"id": index, "startDate": _iso(begin), "endDate": _iso(begin + timedelta(hours=hours)),
            "status": {"type": "Available"},
            "bookingAvailability": {"type": "Unavailable" if sold_out else "Available"}}


def _seed_events(seed: int, client_id: str, count: int) -> dict[str, dict[str, Any]]:
    rng = tenant_random(seed, client_id)
    places = [_place(client_id, i) for i in range(len(VENUES))]
    organizers = [_organizer(client_id, i) for i in range(len(VENUES))]
    events: dict[str, dict[str, Any]] = {}
    for n in range(count):
        ident = _ids(client_id, "event", n)
        title_nl, title_fr, type_id, type_label = SHOWS[n % len(SHOWS)]
        calendar = CALENDARS[n % len(CALENDARS)]
        venue = n % len(VENUES)
        begin = SEASON_START + timedelta(days=3 * n + rng.randint(0, 2))
        event: dict[str, Any] = {
            "@id": f"{IO}/events/{ident}", "@type": "Event", "@context": "/contexts/event", "mainLanguage": "nl",
            "name": {"nl": title_nl, **({"fr": title_fr} if title_fr else {})},
            "description": {"nl": f"{title_nl} in {VENUES[venue][0]}.",
                            **({"fr": f"{title_fr} au {VENUES[venue][1]}."} if title_fr else {})},
            "calendarType": calendar,
            "location": places[venue], "organizer": organizers[venue],
            "terms": [{"id": type_id, "label": type_label, "domain": "eventtype"}],
            "priceInfo": [
                {"category": "base", "price": float(12 + (n % 5) * 4), "priceCurrency": "EUR",
                 "name": {"nl": "Basistarief", "fr": "Tarif de base", "en": "Base tariff", "de": "Basisrate"}},
                {"category": "tariff", "price": float(8 + (n % 5) * 3), "priceCurrency": "EUR",
                 "name": {"nl": "-26 jaar", "fr": "-26 ans"}},
                {"category": "uitpas", "price": 3.0, "priceCurrency": "EUR",
                 "name": {"nl": "UiTPAS kansentarief", "fr": "Tarif social UiTPAS"}},
            ],
            "bookingInfo": {"url": f"https://tickets.example.be/{ident}", "urlLabel": {"nl": "Koop tickets"},
                            "phone": "011 22 99 33"},
            "sameAs": [f"http://www.uitinvlaanderen.be/agenda/e/{ident}"],
            "audience": {"audienceType": "everyone"}, "languages": ["nl"], "completedLanguages": ["nl"],
            "status": {"type": "Available"}, "bookingAvailability": {"type": "Available", "capacity": 300 + 50 * venue},
            "workflowStatus": "APPROVED", "creator": f"auth0|{_ids(client_id, 'user', venue)}",
            "created": _iso(SEED_MODIFIED - timedelta(days=30)),
            # three events per minute: ties on ``modified`` as bulk imports produce them
            "modified": _iso(SEED_MODIFIED + timedelta(minutes=n // 3)),
        }
        if calendar == "single":
            event["subEvent"] = [_sub(0, begin, 2, rng)]
        elif calendar == "multiple":
            series = DST_SERIES[(n // 10) % 2] if n % 20 in (3, 7) else tuple(
                begin.replace(tzinfo=None) + timedelta(days=d) for d in (0, 1, 7))
            event["subEvent"] = [_sub(i, day, 2.5, rng) for i, day in enumerate(series)]
            event["production"] = {"id": _ids(client_id, "production", n), "title": title_nl, "otherEvents": []}
        elif calendar == "periodic":
            event["startDate"] = _iso(begin.replace(hour=10))
            event["endDate"] = _iso(begin.replace(hour=18) + timedelta(days=60))
            event["openingHours"] = [{"opens": "10:00", "closes": "18:00",
                                      "dayOfWeek": ["wednesday", "saturday", "sunday"]}]
        else:
            event["openingHours"] = [{"opens": "10:00", "closes": "17:00", "dayOfWeek": ["saturday", "sunday"]}]
        subs = event.get("subEvent")
        if subs:
            event["startDate"], event["endDate"] = subs[0]["startDate"], subs[-1]["endDate"]
        if n % 11 == 5:
            event["status"] = {"type": "Unavailable", "reason": {"nl": "Geannuleerd wegens ziekte",
                                                                 "fr": "Annulé pour cause de maladie"}}
            for sub in subs or []:
                sub["status"] = dict(event["status"])
        elif n % 13 == 6:
            event["status"] = {"type": "TemporarilyUnavailable", "reason": {"nl": "Uitgesteld naar later"}}
        if n % 17 == 9:
            event["workflowStatus"] = "DELETED"
        elif n % 19 == 12:
            event["workflowStatus"] = "DRAFT"  # hidden by the default filter and by the connector's filter
        events[ident] = event
    return events
