"""A Tixly CRM API v3 sandbox: Bearer-checked ``/v3/events``, ``/v3/customers``, ``/v3/events/sales``.

What it does as the public sources show (quantile-taps/tap-tixly @ 51ccb47, see README.md): pages
``{"Data": [...], "Next": "<absolute URL>|null"}`` with ``pageSize`` (at most 500); ``DateFrom`` on
customers (changed by ``Edited``, new ones by ``Created``); sales only inside a ``SoldFrom``/``SoldTo``
window, whose last page has ``Next: null`` although later windows hold sales; PascalCase records with
naive local timestamps. Where the sources are silent the sandbox chooses (README.md lists each):
ASP.NET Web API error bodies ``{"Message": ...}``, a 429 with ``Retry-After``, ``SoldFrom`` inclusive
and ``SoldTo`` exclusive, ``DateFrom`` inclusive and read as local time, a 400 for ``pageSize`` > 500,
anonymous sale lines carrying the box office's walk-in customer id.

The data is one Digitaal Podium house (a cultuurcentrum with three halls), seeded from the tenant (the
token) and ``today``: productions over several months around today, sales over the eight months before.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks, flemish
from podium.sandbox.datasets import TenantDatasets, tenant_random

BRUSSELS = ZoneInfo("Europe/Brussels")
STAMP = "%Y-%m-%dT%H:%M:%S"
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
TOKEN_PREFIX = "sandbox-tixly-"
WALK_IN_CUSTOMER = 199999  # the box office's anonymous account that anonymous lines point at

VENUE = flemish.venue("cc-strombeek")
VENUE_ID = 7
HALLS = {21: ("Grote zaal", 620, True), 22: ("Kleine zaal", 180, True), 23: ("Foyer", 90, False)}
# (EventGroupId, production, category id, category, hall, performances, base price, start hour)
PRODUCTIONS = [
    (501, "Tijl Uilenspiegel", 11, "Theater", 21, 3, 24.0, 20),
    (502, "Kamermuziek op zondag", 12, "Klassiek", 22, 3, 18.0, 15),
    (503, "Zomer in de Kempen", 13, "Muziek", 21, 2, 28.0, 20),
    (504, "Kinderconcert: Peter en de Wolf", 14, "Familie", 22, 3, 12.0, 14),
    (505, "Nachtvlinders", 15, "Dans", 21, 2, 26.0, 20),
    (506, "Comedy Café: Nieuw Talent", 16, "Humor", 23, 3, 15.0, 21),
    (507, "Het Gezin van Paemel", 11, "Theater", 21, 2, 24.0, 20),
]
TICKET_TYPES = [(1, "Volwassene", 0.0), (2, "-26", -6.0), (3, "65+", -2.0), (4, "Vrijkaart", None)]
# Dutch family names with their prefix apart, as Tixly keeps them; most Flemish names carry none.
FAMILIES = [("", "Peeters"), ("van der", "Berg"), ("de", "Smet"), ("", "Janssens"), ("van", "Damme"),
            ("", "Maes"), ("van den", "Broeck"), ("", "Mertens"), ("de", "Wit"), ("", "Claes"), ("van", "Acker"),
            ("", "Wouters")]


def stamp(moment: datetime) -> str:
    return moment.strftime(STAMP)


def _message(status: int, message: str) -> Response:
    return Response.json({"Message": message}, status)


class TixlySandbox(Sandbox):
    """Tixly's CRM API for any organisation token ``sandbox-tixly-<tenant>`` (and ``token`` for ``demo``)."""

    name = "tixly"
    default_port = 8707
    rate_limit_requests = 40
    rate_limit_window = 1.0
    retry_after_seconds = 1

    def __init__(self, *, seed: int = 7, token: str = "sandbox-tixly-token", customers: int = 60,
                 orders: int = 150, today: date | None = None) -> None:
        super().__init__(seed=seed)
        self.today = today or clock.today(BRUSSELS)
        self.token = token
        self.sizes = {"customers": customers, "orders": orders}
        self._tenants: TenantDatasets[dict[str, list[dict[str, Any]]]] = TenantDatasets(self._seed_tenant)
        self._data_lock = self._tenants.lock
        self._mutations = 0

    @classmethod
    def token_for(cls, house: str) -> str:
        """The token the sandbox accepts for ``house`` (its own organisation)."""
        return f"{TOKEN_PREFIX}{house}"

    # -- data ----------------------------------------------------------------------------------
    def data(self, tenant: str = "demo") -> dict[str, list[dict[str, Any]]]:
        """One organisation's events, customers and sales lines (seeded on first use)."""
        return self._tenants.get(tenant)

    def _seed_tenant(self, tenant: str) -> dict[str, list[dict[str, Any]]]:
        return _seed(tenant_random(self.seed, tenant, self.today.isoformat()), self.today, self.sizes)

    def mutate(self, count: int) -> list[str]:
        """Today: ``count`` events sell a seat, ``count`` customers are edited and one is created, ``count``
        sales lines are sold (one anonymous) and one recent line is returned. Returns the changed ids."""
        self.data()
        changed: list[str] = []
        with self._data_lock:
            self._mutations += 1
            for dataset in self._tenants.values():
                newest = max(datetime.strptime(s, STAMP) for r in dataset["customers"] + dataset["sales"]
                             for s in (r.get("Edited"), r.get("Created")) if s)
                now = stamp(max(clock.moment_on(self.today, BRUSSELS).replace(tzinfo=None),
                                newest + timedelta(seconds=1)))
                changed += _mutate(dataset, count, now, self._mutations)
        return list(dict.fromkeys(changed))

    # -- serving -------------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return Response.json({"Message": "Too many requests."}, 429, {"Retry-After": str(self.retry_after_seconds)})

    def error(self, refusal: Refused) -> Response:
        return _message(refusal.status, refusal.message)

    def route(self, request: Request) -> Response:
        resource = request.path.removeprefix("/v3/").strip("/")
        if request.method != "GET" or resource not in ("events", "customers", "events/sales"):
            return _message(404, f"No HTTP resource was found that matches the request URI '{request.path}'.")
        tenant = self._tenant(request)
        paging = checks.int_params(request, {"pageSize": DEFAULT_PAGE_SIZE, "page": 1},
                                   "The request is invalid: pageSize and page must be integers.")
        checks.require(1 <= paging["pageSize"] <= MAX_PAGE_SIZE and paging["page"] >= 1, 400,
                       f"The request is invalid: pageSize must be between 1 and {MAX_PAGE_SIZE}.")
        override = self.take_raw()
        if override is not None:
            return Response(override[0], override[1], {"Content-Type": "application/json; charset=utf-8"})
        with self._data_lock:
            records = self._select(request, resource, self.data(tenant))
        size, page = paging["pageSize"], paging["page"]
        chunk = records[(page - 1) * size:page * size]
        more = page * size < len(records)
        return Response.json({"Data": chunk, "Next": self._next_url(request, page + 1) if more else None})

    def _tenant(self, request: Request) -> str:
        token = checks.bearer_token(request, missing="Authorization has been denied for this request.",
                                    malformed="Authorization has been denied for this request.")
        if token == self.token:
            return "demo"
        tenant = token.removeprefix(TOKEN_PREFIX)
        checks.require(token.startswith(TOKEN_PREFIX) and bool(tenant), 401,
                       "Authorization has been denied for this request.")
        return tenant

    def _select(self, request: Request, resource: str, data: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        if resource == "events":
            return list(data["events"])
        if resource == "customers":
            since = _moment(request.arg("DateFrom"), "DateFrom")
            customers = data["customers"]
            return [c for c in customers if since is None or (c["Edited"] or c["Created"]) >= stamp(since)]
        sold_from = _moment(request.arg("SoldFrom"), "SoldFrom")
        sold_to = _moment(request.arg("SoldTo"), "SoldTo")
        return [s for s in data["sales"] if (sold_from is None or s["Created"] >= stamp(sold_from))
                and (sold_to is None or s["Created"] < stamp(sold_to))]

    def _next_url(self, request: Request, page: int) -> str:
        host = checks.header(request, "Host") or self.url.removeprefix("http://")
        query = {k: v[0] for k, v in request.query.items()}
        return f"http://{host}{request.path}?{urlencode({**query, 'page': page})}"


def _moment(text: str | None, name: str) -> datetime | None:
    """A filter value: a day or a date-time, read as local wall-clock time (a ``Z`` is ignored, as the
    values tap-tixly sends are the records' local digits)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().removesuffix("Z"))
    except ValueError:
        raise Refused(400, f"The request is invalid: '{text}' is not a valid value for {name}.") from None
    return value.replace(tzinfo=None)


# -- seeding --------------------------------------------------------------------------------------------
def _seed(rng: random.Random, today: date, sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    events = _seed_events(rng, today)
    customers = _seed_customers(rng, today, sizes["customers"])
    sales = _seed_sales(rng, today, sizes["orders"], events, customers)
    for event in events:
        event["Sold"] = sum(s["TicketCount"] for s in sales if s["EventId"] == event["Id"])
    return {"events": events, "customers": customers, "sales": sales}


def _seed_events(rng: random.Random, today: date) -> list[dict[str, Any]]:
    events = []
    index = 0
    for group, production, category_id, category, hall, performances, _, hour in PRODUCTIONS:
        first = -150 + index * 16
        for n in range(performances):
            day = today + timedelta(days=first + n * 9)
            start = datetime.combine(day, time(hour, 30 if hour == 20 else 0))
            name = production if index != 8 else f"GEANNULEERD: {production}"
            hall_name, capacity, _ = HALLS[hall]
            events.append({
                "Id": 30001 + index, "Name": name, "StartDate": stamp(start),
                "EndDate": stamp(start + timedelta(minutes=rng.choice([75, 90, 120, 150]))),
                "PromoterId": 3, "Promoter": "CC Strombeek", "HallId": hall, "Hall": hall_name,
                "Categories": [{"Id": category_id, "Name": category}], "Sold": 0, "Capacity": capacity,
                "Reserved": rng.choice([0, 0, 4, 10]), "Allocated": 0, "BlockedAllocated": 0, "Vat": 6.0,
                "ExternalReferenceNumber": None if index % 6 == 4 else f"{1_056_000_000 + group * 10 + n}",
                "DepartmentNumber": "700", "AccountNumber": "7000" + str(hall), "OrganisationId": 41,
                "VenueId": VENUE_ID, "Venue": VENUE.name, "EventGroupId": group, "EventGroup": production,
                "IsNumbered": HALLS[hall][2], "IsFreeEvent": False, "SaleStatusId": 1,
            })
            index += 1
    return events


def _seed_customers(rng: random.Random, today: date, count: int) -> list[dict[str, Any]]:
    customers = []
    moment = datetime.combine(today - timedelta(days=400), time(9, 0))
    for index in range(count):
        moment += timedelta(minutes=rng.randint(60, 9000), seconds=rng.randint(0, 59))
        created = min(moment, datetime.combine(today - timedelta(days=3), time(8, 0)))
        given = rng.choice(flemish.GIVEN_NAMES)
        prefix, last = FAMILIES[index % len(FAMILIES)]
        street, city, zip_code = rng.choice(flemish.HOME_ADDRESSES)
        number, extension = str(rng.randint(1, 140)), rng.choice(["", "", "", "bus 2", "A"])
        # A third were never edited: Tixly leaves Edited null until the first change.
        edited = None if index % 3 == 0 else stamp(min(created + timedelta(days=rng.randint(1, 60)),
                                                       datetime.combine(today - timedelta(days=2), time(17, 0))))
        full = " ".join(part for part in (given, prefix, last) if part)
        customers.append({
            "Id": 200001 + index, "Title": rng.choice(["Dhr.", "Mevr.", None]), "Name": full,
            "FirstName": given, "LastNamePrefix": prefix or None, "LastName": last,
            "DateOfBirth": None if index % 4 == 1 else f"{rng.randint(1945, 2005)}-{rng.randint(1, 12):02d}-"
                                                       f"{rng.randint(1, 28):02d}T00:00:00",
            "Gender": rng.choice([0, 1, 2]),
            "AddressOne": f"{street} {number}{(' ' + extension) if extension else ''}", "AddressTwo": None,
            "ZipCode": zip_code, "City": city, "StreetName": street, "HouseNumber": number,
            "HouseExtension": extension or None, "Country": "NL" if index == 7 else "BE", "LanguageId": 1,
            "Email": f"{given}.{(prefix + last).replace(' ', '')}{index}@{rng.choice(flemish.MAIL_DOMAINS)}"
                     .replace("..", ".") if index % 10 != 5 else f" {given.upper()}@Voorbeeld.be ",
            "Created": stamp(created), "Edited": edited,
        })
    return customers


def _seed_sales(rng: random.Random, today: date, orders: int, events: list[dict[str, Any]],
                customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sales: list[dict[str, Any]] = []
    latest = datetime.combine(today - timedelta(days=2), time(18, 0))
    earliest = datetime.combine(today - timedelta(days=240), time(9, 0))
    counters = {"line": 700001, "ticket": 900001}
    for index in range(orders):
        event = events[index % len(events)]
        start = datetime.fromisoformat(event["StartDate"])
        low, high = max(earliest, start - timedelta(days=90)), min(latest, start - timedelta(hours=2))
        if low >= high:
            continue
        sold = low + timedelta(seconds=rng.randint(0, int((high - low).total_seconds())))
        anonymous = index % 7 == 3
        online = not anonymous and rng.random() < 0.6
        buyer = WALK_IN_CUSTOMER if anonymous else rng.choice(customers)["Id"]
        for n in range(rng.randint(1, 4)):
            line = _sale_line(rng, counters, event, index, n, buyer, anonymous, online, sold)
            line["Scanned"] = start.date() < today and rng.random() < 0.85
            sales.append(line)
            if index % 9 == 2 and n == 0 and sold + timedelta(days=3) < latest:
                sales.append(_return_line(counters, line, stamp(sold + timedelta(days=3, hours=2))))
    sales.sort(key=lambda s: (s["Created"], s["SaleTicketId"]))
    return sales


def _sale_line(rng: random.Random, counters: dict[str, int], event: dict[str, Any], order: int, n: int,
               buyer: int, anonymous: bool, online: bool, sold: datetime) -> dict[str, Any]:
    group = next(p for p in PRODUCTIONS if p[0] == event["EventGroupId"])
    type_id, type_name, discount = rng.choice(TICKET_TYPES[:3] * 3 + TICKET_TYPES[3:])
    price = 0.0 if discount is None else group[6] + discount
    numbered = event["IsNumbered"]
    line = {
        "SaleTicketId": counters["line"], "TicketId": counters["ticket"], "EventId": event["Id"],
        "CustomerId": buyer, "IsAnonymousSale": anonymous, "OrderId": 400001 + order,
        "TicketTypeId": type_id, "SubscriptionTypeId": None, "TicketType": type_name,
        "PriceZoneId": 1 if numbered else 0, "PriceZone": "Rang 1" if numbered else "Vrije plaatsing",
        "Section": "Zaal" if numbered else None, "Row": str(3 + order % 12) if numbered else None,
        "Seat": str(1 + n + (order * 3) % 20) if numbered else None, "Entrance": "Ingang Gemeenteplein",
        "TicketCount": 1, "Price": price, "Fee": 1.5 if online and price > 0 else 0.0, "Online": online,
        "Scanned": False, "SkinID": 2 if online else 1, "OrganisationID": 41, "Created": stamp(sold),
    }
    counters["line"] += 1
    counters["ticket"] += 1
    return line


def _return_line(counters: dict[str, int], original: dict[str, Any], when: str) -> dict[str, Any]:
    """A return: a line of its own for the same ticket, TicketCount -1 (the original line stays)."""
    line = {**original, "SaleTicketId": counters["line"], "TicketCount": -1, "Fee": 0.0, "Scanned": False,
            "Created": when}
    counters["line"] += 1
    return line


def _mutate(dataset: dict[str, list[dict[str, Any]]], count: int, now: str, generation: int) -> list[str]:
    changed: list[str] = []
    events, customers, sales = dataset["events"], dataset["customers"], dataset["sales"]
    for event in events[generation % len(events):][:count]:
        event["Sold"] += 1
        changed.append(str(event["Id"]))
    for customer in customers[(generation * 5) % len(customers):][:count]:
        customer["Edited"] = now
        customer["Email"] = f"nieuw{generation}.{customer['Id']}@telenet.be"
        changed.append(str(customer["Id"]))
    newcomer = {**customers[0], "Id": 250000 + generation, "FirstName": "Fien", "LastNamePrefix": "van",
                "LastName": "Loon", "Name": "Fien van Loon", "Email": f"fien.vanloon{generation}@skynet.be",
                "Created": now, "Edited": None}
    customers.append(newcomer)
    changed.append(str(newcomer["Id"]))
    upcoming = [e for e in events if e["StartDate"] > now] or events
    line_id = max(s["SaleTicketId"] for s in sales) + 1
    ticket_id = max(s["TicketId"] for s in sales) + 1
    for n in range(count):
        event = upcoming[(generation + n) % len(upcoming)]
        anonymous = n == 0
        sales.append({**sales[-1], "SaleTicketId": line_id, "TicketId": ticket_id, "EventId": event["Id"],
                      "CustomerId": WALK_IN_CUSTOMER if anonymous else customers[n]["Id"],
                      "IsAnonymousSale": anonymous, "OrderId": 480000 + generation, "TicketCount": 1,
                      "Scanned": False, "Created": now})
        changed.append(str(line_id))
        line_id, ticket_id = line_id + 1, ticket_id + 1
    returned = next(s for s in reversed(sales) if s["TicketCount"] > 0 and s["Created"] < now)
    sales.append({**returned, "SaleTicketId": line_id, "TicketCount": -1, "Fee": 0.0, "Scanned": False,
                  "Created": now})
    changed.append(str(line_id))
    return changed
