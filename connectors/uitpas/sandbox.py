"""A UiTPAS API 4.0 + publiq (Keycloak) token endpoint sandbox, answering as uitpas.json says.

- ``POST /realms/uitid/protocol/openid-connect/token`` (form body): client_credentials ->
  ``{access_token, expires_in: 86400, token_type: Bearer}``; a wrong secret -> 401 as Keycloak answers.
- ``GET /passholders`` (``organizerId``), ``GET /passholders/{id}``, ``GET /ticket-sales`` (``eventId``, or
  ``passholderId`` + ``organizerId``), ``GET /checkins`` (``passholderId`` AND ``organizerId``, newest
  first): ``Authorization: Bearer``; ``start``/``limit`` (default 20, at most 500: more is a 400
  ``url/query-limit-exceeded``), pages ``{totalItems, member[]}``.
- Permissions per organizer (PASSHOLDERS_SEARCH, TICKETSALES_SEARCH, CHECKINS_READ): a revoked one is a
  403 ``auth/forbidden`` whose detail names it; ``GET /permissions`` lists the organizers seeded so far. Ticket sales carry the ``passholder`` only with
  PASSHOLDERS_SEARCH; check-ins never do (the GET /checkins text).
- ``GET /events`` (UiTdatabank Search API, the part the connector uses; same token): ``organizerId``,
  ``uitpas=true`` (apidocs search-api/filters/uitpas.md), ``dateFrom``, ``start``/``limit``, ``embed=false``
  -> ``{@type: PagedCollection, totalItems, member: [{@id, @type}]}`` sorted on creation.
- Errors: publiq's RFC 7807 model (``publiq-errors/models/Error.json``); the kit's rate limit answers 429
  ``uitpas/rate-limited`` with ``Retry-After``.

Each organizer id is seeded on first use (its events, passholders of the card system "UiTPAS Dender",
ticket sales at the regular or the kansentarief, check-ins), from the seed, the organizer and ``today``.
Any client id works; the secret is ``client_secret`` (default ``sandbox-secret``).
"""

from __future__ import annotations

import itertools
import json
import time as clock_time
import uuid
from datetime import UTC, date, datetime, time, timedelta
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qs

from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks, flemish
from podium.sandbox.datasets import TenantDatasets, tenant_random

PROBLEM = "application/problem+json"
PROBS = "https://api.publiq.be/probs"
UNAUTHORIZED, FORBIDDEN = f"{PROBS}/auth/unauthorized", f"{PROBS}/auth/forbidden"
QUERY_LIMIT = f"{PROBS}/url/query-limit-exceeded"
NOT_FOUND, PASSHOLDER_NOT_FOUND = f"{PROBS}/url/not-found", f"{PROBS}/uitpas/passholder-not-found"
# The type of a missing required filter is not documented (uitpas.json lists none): our choice.
MISSING_FILTER = f"{PROBS}/url/missing-parameter"
MAX_LIMIT, DEFAULT_LIMIT = 500, 20
PERMISSIONS = ("PASSHOLDERS_SEARCH", "TICKETSALES_SEARCH", "CHECKINS_READ")
TOKEN_PATH = "/realms/uitid/protocol/openid-connect/token"
CARD_SYSTEM = {"id": 1, "name": "UiTPAS Dender",
               "cities": [{"postalCode": "9300", "name": "Aalst"}, {"postalCode": "9400", "name": "Ninove"}],
               "permanent": True}
# (title, regular price in euro): the organizer's season; the kansentarief is 25 % of it (UiTPAS Dender's
# distribution key in the sandbox), a coupon takes a fixed euro amount off.
# The season runs around ``today``: six shows in the last four months, one still to come.
SHOWS = (("Kommil Foo - OOGST", 22.0), ("Hamlet", 18.0), ("De Kersentuin", 16.0), ("Jazz op zondag", 12.0),
         ("Filmklassiekers: Daens", 8.0), ("Circus Ronaldo", 14.0), ("Wim Opbrouck zingt", 20.0))
FIRST_SHOW_DAYS_AGO, DAYS_BETWEEN_SHOWS = 120, 21
HOMES = (("Kerkstraat 12", "9300", "Aalst"), ("Stationsstraat 4 bus 2", "9400", "Ninove"),
         ("Molenstraat 31", "9300", "Aalst"), ("Dorpsstraat 7", "9450", "Haaltert"),
         ("Nieuwstraat 88", "9300", "Aalst"), ("Schoolstraat 3", "9470", "Denderleeuw"))


def problem(status: int, title: str, type_: str, detail: str | None = None, **extra: Any) -> Response:
    """An RFC 7807 answer in publiq's Error model."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(status, json.dumps(body, ensure_ascii=False).encode(), {"Content-Type": PROBLEM})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def uitpas_number(rng: Any) -> str:
    """A 13-digit UiTPAS number of card system Dender (prefix 0560, as the spec's examples)."""
    return "0560" + "".join(str(rng.randrange(10)) for _ in range(9))


class UitpasSandbox(Sandbox):
    """UiTPAS API 4.0 and publiq's Keycloak token endpoint, seeded per organizer."""

    name = "uitpas"
    default_port: ClassVar[int] = 8708
    rate_limit_requests = 50

    def __init__(self, *, seed: int = 7, passholders: int = 24, client_secret: str = "sandbox-secret",
                 token_ttl: int = 86400, today: date | None = None) -> None:
        super().__init__(seed=seed)
        self.today = today or clock.today(UTC)
        self.passholder_count, self.client_secret, self.token_ttl = passholders, client_secret, token_ttl
        self.tokens: dict[str, tuple[str, float]] = {}
        self.revoked: set[str] = set()
        self._data: TenantDatasets[dict[str, Any]] = TenantDatasets(self._seed_organizer)
        self._lock_data = self._data.lock
        self._counter = itertools.count(1)

    # -- test controls -------------------------------------------------------------------------
    def organizer(self, organizer_id: str) -> dict[str, Any]:
        """The seeded data of one organizer: ``events``, ``passholders`` (by id), ``sales``, ``checkins``."""
        return self._data.get(organizer_id)

    def revoke(self, permission: str) -> None:
        """Take ``permission`` away from every client for every organizer (the next call needing it: 403)."""
        self.revoked.add(permission)

    def expire_tokens(self) -> None:
        """Invalidate every issued token (the next API call answers 401 until a new token is fetched)."""
        with self._lock_data:
            self.tokens.clear()

    def replace_card(self, organizer_id: str, passholder_id: str) -> str:
        """The passholder gets a new card (a new UiTPAS number); past sales and check-ins keep the old one."""
        with self._lock_data:
            holder = self.organizer(organizer_id)["passholders"][passholder_id]
            number = uitpas_number(tenant_random(self.seed, passholder_id, next(self._counter)))
            holder["uitpasNumber"] = number
            for membership in holder["cardSystemMemberships"]:
                membership["uitpasNumber"] = number
                membership["currentCard"] = {"uitpasNumber": number, "status": "ACTIVE"}
            return number

    def mutate(self, count: int) -> list[str]:
        """``count`` new check-ins per organizer, today (there is no change filter: a sync re-reads all)."""
        added: list[str] = []
        with self._lock_data:
            for data in self._data.values():
                holders = sorted(data["passholders"])
                for index in range(count):
                    step = next(self._counter)
                    holder = data["passholders"][holders[(step * 5 + index) % len(holders)]]
                    shows = [e for e in data["events"] if e["uitpas"]]
                    event = shows[step % len(shows)]
                    checkin = _checkin(str(uuid.uuid5(uuid.NAMESPACE_URL, f"checkin:{holder['id']}:{step}")),
                                       clock.moment_on(self.today, UTC) + timedelta(minutes=step), event,
                                       holder["uitpasNumber"])
                    data["checkins"].append({**checkin, "passholderId": holder["id"]})
                    added.append(checkin["id"])
        return added

    # -- routes --------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        if request.method != "GET":
            return problem(404, "Not Found", NOT_FOUND, f"The requested URL {request.path} was not found.")
        self._authenticate(request)
        if path == "/passholders":
            return self._passholders(request)
        if path.startswith("/passholders/") and path.count("/") == 2:
            return self._passholder(path.rsplit("/", 1)[1])
        if path == "/ticket-sales":
            return self._ticket_sales(request)
        if path == "/checkins":
            return self._checkins(request)
        if path == "/events":
            return self._search_events(request)
        if path == "/permissions":
            return self._permissions()
        return problem(404, "Not Found", NOT_FOUND, f"The requested URL {request.path} was not found.")

    def rate_limited(self) -> Response:
        response = problem(429, "Too Many Requests", f"{PROBS}/uitpas/rate-limited",
                           "Too many requests, try again later.")
        response.headers["Retry-After"] = str(self.retry_after_seconds)
        return response

    def error(self, refusal: Refused) -> Response:
        return problem(refusal.status, HTTPStatus(refusal.status).phrase, refusal.kind or NOT_FOUND, refusal.message)

    # -- token and access ----------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        body = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        if body.get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type",
                                  "error_description": "Unsupported grant_type"}, 400)
        client_id = body.get("client_id") or ""
        if not client_id or body.get("client_secret") != self.client_secret:
            return Response.json({"error": "unauthorized_client",
                                  "error_description": "Invalid client or Invalid client credentials"}, 401)
        token = f"sbx.{uuid.uuid4().hex}"
        with self._lock_data:
            # Token lifetimes are real time (clients cache tokens by the real clock), whatever ``today`` is.
            self.tokens[token] = (client_id, clock_time.time() + self.token_ttl)
        return Response.json({"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer",
                              "scope": "profile email"})

    def _authenticate(self, request: Request) -> str:
        token = checks.bearer_token(request, missing="No access token given", malformed="No Bearer token given",
                                    kind=UNAUTHORIZED)
        with self._lock_data:
            known = self.tokens.get(token)
        if known is None or known[1] < clock_time.time():
            raise Refused(401, "The access token is expired or invalid", UNAUTHORIZED)
        return known[0]

    def _allow(self, permission: str, organizer_id: str) -> None:
        checks.require(permission not in self.revoked, 403,
                       f"Client has no {permission} permission for organizer {organizer_id}", FORBIDDEN)

    @staticmethod
    def _paging(request: Request) -> tuple[int, int]:
        paging = checks.int_params(request, {"start": 0, "limit": DEFAULT_LIMIT},
                                   "start and limit must be integers", kind=QUERY_LIMIT)
        start, limit = paging["start"], paging["limit"]
        checks.require(limit <= MAX_LIMIT, 400, f"The maximum value for limit is {MAX_LIMIT}, got {limit}",
                       QUERY_LIMIT)
        checks.require(start >= 0 and limit >= 0, 400, "start and limit must not be negative", QUERY_LIMIT)
        return start, limit

    @staticmethod
    def _page(items: list[dict[str, Any]], start: int, limit: int) -> Response:
        return Response.json({"totalItems": len(items), "member": items[start:start + limit]})

    # -- resources -----------------------------------------------------------------------------
    def _passholders(self, request: Request) -> Response:
        start, limit = self._paging(request)
        organizer_id = request.arg("organizerId")
        checks.require(bool(organizer_id), 400, "organizerId is required by this sandbox", MISSING_FILTER)
        assert organizer_id is not None
        self._allow("PASSHOLDERS_SEARCH", organizer_id)
        with self._lock_data:
            holders = self.organizer(organizer_id)["passholders"]
            # "by default passholders in the response are alphabetically sorted by name"
            items = sorted(holders.values(), key=lambda h: (h["name"], h["firstName"], h["id"]))
            return self._page(json.loads(json.dumps(items)), start, limit)

    def _passholder(self, passholder_id: str) -> Response:
        with self._lock_data:
            for organizer_id in self._data.tenants():
                holder = self.organizer(organizer_id)["passholders"].get(passholder_id)
                if holder is not None:
                    self._allow("PASSHOLDERS_SEARCH", organizer_id)
                    return Response.json(holder)
        return problem(404, "Not Found", PASSHOLDER_NOT_FOUND, f"Passholder {passholder_id} not found")

    def _ticket_sales(self, request: Request) -> Response:
        start, limit = self._paging(request)
        event_id, passholder_id = request.arg("eventId"), request.arg("passholderId")
        organizer_ids = request.query.get("organizerId", [])
        checks.require(bool(event_id or passholder_id), 400,
                       "At least one of the query parameters eventId, passholderId is required", MISSING_FILTER)
        checks.require(not passholder_id or bool(organizer_ids), 400,
                       "organizerId is required when filtering on passholderId", MISSING_FILTER)
        with self._lock_data:
            organizers = organizer_ids or self._data.tenants()
            sales = []
            for organizer_id in organizers:
                data = self.organizer(organizer_id)
                if event_id and all(e["id"] != event_id for e in data["events"]):
                    continue
                self._allow("TICKETSALES_SEARCH", organizer_id)
                with_holder = "PASSHOLDERS_SEARCH" not in self.revoked
                for sale in data["sales"]:
                    if (event_id and sale["eventId"] != event_id) or (
                            passholder_id and sale["passholderId"] != passholder_id):
                        continue
                    served = {k: v for k, v in sale.items() if k != "passholderId"}
                    if with_holder:
                        served["passholder"] = data["passholders"][sale["passholderId"]]
                    sales.append(served)
            return self._page(json.loads(json.dumps(sales)), start, limit)

    def _checkins(self, request: Request) -> Response:
        start, limit = self._paging(request)
        passholder_id, organizer_ids = request.arg("passholderId"), request.query.get("organizerId", [])
        checks.require(bool(passholder_id and organizer_ids), 400,
                       "The query parameters passholderId and organizerId are required", MISSING_FILTER)
        with self._lock_data:
            found = []
            for organizer_id in organizer_ids:
                self._allow("CHECKINS_READ", organizer_id)
                found += [{k: v for k, v in c.items() if k != "passholderId"}
                          for c in self.organizer(organizer_id)["checkins"] if c["passholderId"] == passholder_id]
            found.sort(key=lambda c: (c["creationDate"], c["id"]), reverse=True)  # "always newest first"
            return self._page(found, start, limit)

    def _permissions(self) -> Response:
        """The organizers known so far (seeded on first use), each with the permissions not revoked."""
        granted = [p for p in PERMISSIONS if p not in self.revoked]
        with self._lock_data:
            return Response.json([{"organizer": {"id": organizer_id, "name": "CC De Werf",
                                                 "address": {"postalCode": "9300", "city": "Aalst"}},
                                   "permissions": granted,
                                   "permissionDetails": [{"id": p, "label": {"nl": p}, "cardSystemIds": [1]}
                                                         for p in granted]}
                                  for organizer_id in self._data.tenants()])

    def _search_events(self, request: Request) -> Response:
        paging = checks.int_params(request, {"start": 0, "limit": 30}, "start and limit must be integers",
                                   kind=f"{PROBS}/body/bad-request")
        start, limit = paging["start"], paging["limit"]
        checks.require(0 <= limit <= 2000, 404, 'The "limit" parameter should be between 0 and 2000', NOT_FOUND)
        since = request.arg("dateFrom")
        try:
            bound = datetime.fromisoformat(since.replace(" ", "+")) if since and since != "*" else None
        except ValueError:
            raise Refused(400, f"dateFrom: invalid date-time {since}", f"{PROBS}/body/bad-request") from None
        only_uitpas = request.arg("uitpas") == "true"
        with self._lock_data:
            organizers = request.query.get("organizerId") or self._data.tenants()
            events = [e for o in organizers for e in self.organizer(o)["events"]
                      if (e["uitpas"] or not only_uitpas) and (bound is None or e["start"] >= bound)]
        members = [{"@id": f"https://io.uitdatabank.be/event/{e['id']}", "@type": "Event"} for e in events]
        return Response.json({"@context": "http://www.w3.org/ns/hydra/context.jsonld", "@type": "PagedCollection",
                              "itemsPerPage": limit, "totalItems": len(members), "member": members[start:start + limit]})

    # -- seeded data ---------------------------------------------------------------------------
    def _seed_organizer(self, organizer_id: str) -> dict[str, Any]:
        rng = tenant_random(self.seed, organizer_id, self.today.isoformat())
        now = datetime.combine(self.today, time(12, 0), UTC)
        season = datetime.combine(self.today - timedelta(days=FIRST_SHOW_DAYS_AGO), time(19, 0), UTC)
        events: list[dict[str, Any]] = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"uitpas-event:{organizer_id}:{n}")), "title": title,
                   "price": price, "start": season + timedelta(days=DAYS_BETWEEN_SHOWS * n), "uitpas": True}
                  for n, (title, price) in enumerate(SHOWS)]
        # The organizer's free exhibition is no UiTPAS event (no base price): no discounts, no sales.
        free: dict[str, Any] = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"event:{organizer_id}:expo")),
                                "title": "Expo: Vlaamse Primitieven", "price": 0.0, "start": season, "uitpas": False}
        passholders: dict[str, dict[str, Any]] = {}
        sales: list[dict[str, Any]] = []
        checkins: list[dict[str, Any]] = []
        sale_ids = itertools.count(21000 + rng.randrange(1000))
        for n in range(self.passholder_count):
            holder = _passholder(rng, organizer_id, n)
            passholders[holder["id"]] = holder
            social = holder["cardSystemMemberships"][0].get("socialTariff") is not None
            # Every fifth passholder got a new card this season: the sales before it carry the old number.
            old_number = uitpas_number(rng) if n % 5 == 0 else None
            for event in rng.sample(events, rng.randrange(0, 4)):
                moment = event["start"] - timedelta(days=rng.randrange(1, 30), minutes=rng.randrange(600))
                if moment > now:
                    continue
                number = old_number if old_number and moment < events[3]["start"] else holder["uitpasNumber"]
                sales.append({"passholderId": holder["id"], **_sale(str(next(sale_ids)), moment, event,
                                                                     number, social, rng)})
                if event["start"] < now:
                    checkin_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"checkin:{holder['id']}:{event['id']}"))
                    checkins.append({"passholderId": holder["id"],
                                     **_checkin(checkin_id, event["start"] - timedelta(minutes=20), event, number)})
        return {"events": [*events, free], "passholders": passholders, "sales": sales, "checkins": checkins}


def _passholder(rng: Any, organizer_id: str, n: int) -> dict[str, Any]:
    given, family = rng.choice(flemish.GIVEN_NAMES), rng.choice(flemish.FAMILY_NAMES)
    street, postal_code, city = HOMES[n % len(HOMES)]
    number = uitpas_number(rng)
    born = date(1950 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28))
    membership: dict[str, Any] = {"cardSystem": CARD_SYSTEM, "uitpasNumber": number,
                                  "currentCard": {"uitpasNumber": number, "status": "ACTIVE"}, "status": "ACTIVE"}
    if n % 3 == 0:  # a third holds the kansenstatuut (social tariff)
        membership["socialTariff"] = {"status": "ACTIVE", "endDate": "2026-12-31T23:59:59+00:00",
                                      "inGracePeriod": False, "expired": False}
    holder: dict[str, Any] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"uitpas-passholder:{organizer_id}:{n}")),
        "name": family, "firstName": given,
        # Not a valid national register number: the sandbox never serves a real person's INSZ.
        "inszNumber": f"{born:%y%m%d}{900 + n:03d}00",
        "dateOfBirth": born.isoformat(), "gender": rng.choice(("MALE", "FEMALE", "X")),
        "address": {"street": street, "postalCode": postal_code, "city": city, "country": "BE"},
        "postalCode": postal_code, "city": city,
        "creationDate": _iso(datetime(2018 + n % 7, 1 + n % 12, 1 + n % 28, 10, 0, tzinfo=UTC)),
        "registrationOrganizer": {"id": organizer_id, "name": "CC De Werf"},
        "points": rng.randrange(0, 60), "uitidStatus": rng.choice(("REGISTERED", "UNREGISTERED")),
        "uitpasNumber": number, "cardSystemMemberships": [membership],
        "optInPreferences": {"serviceMails": True, "milestoneMails": rng.random() < 0.5,
                             "infoMails": rng.random() < 0.5, "sms": rng.random() < 0.2, "post": rng.random() < 0.3},
    }
    if n % 4 != 3:
        holder["email"] = f"{given}.{family}@{rng.choice(flemish.MAIL_DOMAINS)}".lower().replace(" ", "")
    if n % 3 == 1:
        holder["phoneNumber"] = f"+32 47{rng.randrange(10)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} " \
                                f"{rng.randrange(10, 99)}"
    return holder


def _sale(sale_id: str, moment: datetime, event: dict[str, Any], number: str, social: bool,
          rng: Any) -> dict[str, Any]:
    regular = event["price"]
    if social:
        tariff = {"id": "SOCIALTARIFF", "name": "Kansentarief", "price": round(regular * 0.25, 2),
                  "type": "SOCIALTARIFF"}
    else:
        coupon = rng.choice((2, 5))
        tariff = {"id": f"COUPON_{1070 + coupon}", "name": f"Cultuurbon {coupon} euro",
                  "price": max(regular - coupon, 0.0), "type": "COUPON"}
    return {"id": sale_id, "creationDate": _iso(moment), "tariff": tariff, "regularPrice": regular,
            "regularPriceLabel": "Basistarief", "eventId": event["id"], "eventTitle": event["title"],
            "uitpasNumber": number}


def _checkin(checkin_id: str, moment: datetime, event: dict[str, Any], number: str) -> dict[str, Any]:
    return {"id": checkin_id, "creationDate": _iso(moment), "eventId": event["id"], "eventTitle": event["title"],
            "uitpasNumber": number, "points": 1}
