"""A Ticketmatic API v1 sandbox: HMAC-checked list endpoints over seeded Flemish data.

What it does as Ticketmatic documents it (tm-go ``client.go``, ``types.go``, ``*/operations.go``):
``/api/1/{accountname}/events|contacts|orders`` with ``limit``/``offset``, ``lastupdatesince``,
``orderby`` (+ ``orderby_asc`` on orders), ``includearchived``, ``output=withlookup``; the
``{data, nbrofresults, lookup}`` envelope; ``TM-HMAC-SHA256 key=.. ts=.. sign=..`` over
``accesskey + accountname + ts``; ``/diagnostics/time`` without auth; 429 with ``Retry-After``.

Where the docs are silent the sandbox chooses (README.md lists each choice): ``lastupdatesince``
is exclusive, a signature older than 5 minutes is refused, error bodies use tm-go's RequestError
shape ``{"code": .., "message": ..}``. Any account name works: its data is seeded from the name.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks, flemish
from podium.sandbox.datasets import TenantDatasets, stable_int

BRUSSELS = ZoneInfo("Europe/Brussels")
TS = "%Y-%m-%d %H:%M:%S"
_AUTH = re.compile(r"^TM-HMAC-SHA256 key=(?P<key>\S+) ts=(?P<ts>\S+) sign=(?P<sign>[0-9a-f]{64})$")
_PATH = re.compile(r"^/api/1/(?P<account>[A-Za-z0-9_-]+)/(?P<resource>[a-z/]+?)/?$")
_ORDERBY = {"events": {"name", "startts"}, "contacts": {"name", "lastupdatets", "createdts"},
            "orders": {"createdts", "lastupdatets"}}
MAX_SKEW = timedelta(minutes=5)

# Ticketmatic location ids and seating are the sandbox's own; the venues are the kit's.
VENUES = [(101 + index, venue.name, venue.street, venue.number, venue.zip, venue.town, seated)
          for index, (venue, seated) in enumerate(zip(
              flemish.venues("cc-hasselt", "de-warande", "stadsschouwburg-brugge", "cc-strombeek", "handelsbeurs"),
              (True, True, True, False, False), strict=True))]
PRODUCTIONS = [  # nl, fr
    ("De Kersenboom", "La Cerisaie"), ("Bruegel", "Bruegel"), ("Het Lam Gods", "L'Agneau mystique"),
    ("Nachtvlinders", "Papillons de nuit"), ("Tijl Uilenspiegel", "Till l'Espiègle"),
    ("Het Gezin van Paemel", "La Famille Paemel"), ("Mariken van Nieumeghen", "Mariken de Nimègue"),
    ("Kamermuziek op zondag", "Musique de chambre le dimanche"), ("Zomer in de Kempen", "L'été en Campine"),
    ("De Leeuw van Vlaanderen", "Le Lion des Flandres"), ("Jazz in de Warande", "Jazz à la Warande"),
    ("Kinderconcert: Peter en de Wolf", "Concert jeunesse : Pierre et le Loup"),
]
# Local start times; several around the DST switches (30 March and 26 October 2025).
DATES = [
    (2025, 3, 28, 20, 0), (2025, 3, 29, 20, 15), (2025, 3, 30, 15, 0), (2025, 3, 30, 20, 0),
    (2025, 10, 24, 20, 0), (2025, 10, 25, 20, 30), (2025, 10, 26, 14, 30), (2025, 10, 26, 20, 0),
    (2025, 11, 14, 20, 0), (2025, 12, 6, 19, 30), (2026, 1, 17, 20, 0), (2026, 2, 7, 20, 0),
    (2026, 3, 28, 20, 0), (2026, 3, 29, 15, 0), (2026, 4, 18, 20, 0), (2026, 5, 9, 20, 0),
]
PRICETYPES = {1: "Standaard", 2: "-26", 3: "65+", 4: "UiTPAS kansentarief", 5: "Groepstarief"}
SALESCHANNELS = {1: "Kassa", 2: "Webshop", 3: "Telefoon"}
GIVEN, FAMILY, STREETS = flemish.MIXED_GIVEN_NAMES, flemish.MIXED_FAMILY_NAMES, flemish.HOME_ADDRESSES
PHONES = ["0475 {a:02d} {b:02d} {c:02d}", "+32 11 {a:02d} {b:02d} {c:02d}", "011/{a:02d}.{b:02d}.{c:02d}",
          "0032 486 {a:02d} {b:02d} {c:02d}", "014 {a:02d} {b:02d} {c:02d}"]


def _utc(local: datetime) -> datetime:
    return local.replace(tzinfo=BRUSSELS).astimezone(UTC).replace(tzinfo=None)


def _ts(value: datetime) -> str:
    return value.strftime(TS)


def _now() -> str:
    # The real clock, for changes made by hand (tests): later than every seeded stamp on any real day.
    return datetime.now(UTC).strftime(TS)


def _error(status: int, message: str) -> Response:
    return Response.json({"code": status, "message": message}, status)


class TicketmaticSandbox(Sandbox):
    """Ticketmatic as its API behaves for any account, with one access/secret key pair."""

    name = "ticketmatic"
    default_port = 8701
    rate_limit_requests = 50
    rate_limit_window = 1.0
    retry_after_seconds = 1

    def __init__(self, *, seed: int = 7, access_key: str = "sandbox-access-key",
                 secret_key: str = "sandbox-secret-key", account: str = "demo",
                 events: int = 36, contacts: int = 60, orders: int = 90, today: date | None = None) -> None:
        super().__init__(seed=seed)
        # The catalogue is a fixed 2025-26 season; ``today`` (default podium.clock.today()) dates changes.
        self.today = today or clock.today(UTC)
        self.access_key, self.secret_key, self.account = access_key, secret_key, account
        self.sizes = {"events": events, "contacts": contacts, "orders": orders}
        self._accounts: TenantDatasets[dict[str, list[dict[str, Any]]]] = TenantDatasets(self._seed_account)
        self._data_lock = self._accounts.lock  # route() serialises under it
        self._mutations = 0

    # -- data ----------------------------------------------------------------------------------
    def data(self, account: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """The seeded dataset of one account (built on first use, then changed only by ``mutate``)."""
        return self._accounts.get(account or self.account)

    def _seed_account(self, account: str) -> dict[str, list[dict[str, Any]]]:
        return _seed(random.Random(stable_int(f"{self.seed}:{account}", 12)), self.sizes)

    def mutate(self, count: int) -> list[str]:
        """Change ``count`` records of every stream (``lastupdatets`` on ``today``); returns their vendor ids."""
        self.data()  # the default account always exists
        changed: list[str] = []
        with self._data_lock:
            newest = max(r["lastupdatets"] for dataset in self._accounts.values()
                         for records in dataset.values() for r in records)
            # Changes happen on ``today``, but never before the newest change the data already holds.
            moment = clock.moment_on(self.today, UTC).replace(tzinfo=None)
            now = _ts(max(moment, datetime.strptime(newest, TS) + timedelta(seconds=1)))
            self._mutations += 1
            for dataset in self._accounts.values():
                for stream, key in (("events", "id"), ("contacts", "id"), ("orders", "orderid")):
                    records = dataset[stream]
                    start = (self._mutations * 7) % max(1, len(records))
                    for record in (records[start:] + records[:start])[:count]:
                        _change(stream, record, now, self._mutations)
                        if str(record[key]) not in changed:
                            changed.append(str(record[key]))
        return changed

    def corrupt_next(self, body: bytes) -> None:
        """Serve ``body`` (e.g. truncated JSON) as the next list page, once."""
        self.serve_raw(body)

    # -- serving -------------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        response = _error(429, "Rate Limit Exceeded")
        response.headers["Retry-After"] = str(self.retry_after_seconds)
        return response

    def error(self, refusal: Refused) -> Response:
        return _error(refusal.status, refusal.message)

    def route(self, request: Request) -> Response:
        match = _PATH.match(request.path)
        if not match:
            return _error(404, "Not found")
        account, resource = match["account"], match["resource"]
        if resource == "diagnostics/time":  # the one call without Authorization
            # The real clock: clients sign with it and the skew check below compares real times.
            return Response.json({"systemtime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")})
        refused = self._check_auth(request, account)
        if refused is not None:
            return refused
        if request.method != "GET" or resource not in _ORDERBY:
            return _error(404, f"No such endpoint: {request.method} /{resource}")
        return self._list(request, account, resource)

    def _check_auth(self, request: Request, account: str) -> Response | None:
        header = checks.header(request, "Authorization") or ""
        match = _AUTH.match(header.strip())
        if not match:
            return _error(401, "Missing or malformed Authorization header (expected TM-HMAC-SHA256)")
        if not hmac.compare_digest(match["key"], self.access_key):
            return _error(401, "Unknown access key")
        try:
            sent = datetime.strptime(match["ts"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return _error(401, "Invalid timestamp in Authorization header")
        # The signature's freshness is real time (replay protection), whatever day ``today`` is.
        if abs(datetime.now(UTC) - sent) > MAX_SKEW:
            return _error(401, "Timestamp in Authorization header is too far from the server time")
        expected = hmac.new(self.secret_key.encode(), f"{match['key']}{account}{match['ts']}".encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["sign"]):
            return _error(401, "Invalid signature")
        return None

    def _list(self, request: Request, account: str, resource: str) -> Response:
        paging = checks.int_params(request, {"limit": 100, "offset": 0}, "limit and offset must be integers")
        limit, offset = paging["limit"], paging["offset"]
        checks.require(limit >= 1 and offset >= 0, 400, "limit must be positive and offset not negative")
        since = request.arg("lastupdatesince")
        if since:
            try:
                since = _ts(datetime.fromisoformat(since.replace("T", " ").rstrip("Z")))
            except ValueError:
                return _error(400, f"Invalid lastupdatesince {since!r}: use YYYY-MM-DD hh:mm:ss")
        orderby = request.arg("orderby")
        if orderby and orderby not in _ORDERBY[resource]:
            return _error(400, f"Invalid orderby {orderby!r} (supported: {', '.join(sorted(_ORDERBY[resource]))})")
        archived = (request.arg("includearchived") or "").lower() == "true"

        override = self.take_raw()
        if override is not None:
            return Response(override[0], override[1], {"Content-Type": "application/json; charset=utf-8"})
        with self._data_lock:  # mutate() may run in the test thread meanwhile
            return self._page(request, account, resource, limit, offset, since, orderby, archived)

    def _page(self, request: Request, account: str, resource: str, limit: int, offset: int,
              since: str | None, orderby: str | None, archived: bool) -> Response:
        records = list(self.data(account)[resource])
        if resource == "contacts" and not archived:
            records = [r for r in records if not r["isdeleted"]]
        if resource == "orders" and not archived:
            records = [r for r in records if r["status"] != 21003]
        if since:
            records = [r for r in records if r["lastupdatets"] > since]
        key = "orderid" if resource == "orders" else "id"
        records.sort(key=lambda r: r[key])
        if orderby:
            descending = resource == "orders" and (request.arg("orderby_asc") or "").lower() != "true"
            records.sort(key=lambda r: (str(r.get(orderby) or r.get("lastname") or ""), r[key]), reverse=descending)
        page: dict[str, Any] = {"data": records[offset:offset + limit], "nbrofresults": len(records)}
        if request.arg("output") == "withlookup":
            page["lookup"] = _lookup(resource)
        return Response.json(page)


def _lookup(resource: str) -> dict[str, Any]:
    pricetypes = {str(k): {"id": k, "name": v, "typeid": 2301, "remark": ""} for k, v in PRICETYPES.items()}
    if resource == "events":
        locations = {str(v[0]): {"id": v[0], "name": v[1], "street1": v[2], "street2": v[3], "zip": v[4],
                                 "city": v[5], "countrycode": "BE", "state": "", "isarchived": False}
                     for v in VENUES}
        return {"locations": locations, "pricetypes": pricetypes, "seatranks": {}}
    if resource == "orders":
        return {"pricetypes": pricetypes,
                "saleschannels": {str(k): {"id": k, "name": v, "typeid": 3001} for k, v in SALESCHANNELS.items()}}
    return {}


# -- seeding --------------------------------------------------------------------------------------------
def _seed(rng: random.Random, sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    clock = datetime(2025, 1, 6, 9, 0, 0)

    def tick() -> datetime:
        nonlocal clock
        clock += timedelta(minutes=rng.randint(7, 600), seconds=rng.randint(0, 59))
        return clock

    events = _seed_events(rng, sizes["events"], tick)
    contacts = _seed_contacts(rng, sizes["contacts"], tick)
    orders = _seed_orders(rng, sizes["orders"], events, contacts, tick)
    return {"events": events, "contacts": contacts, "orders": orders}


def _seed_events(rng: random.Random, count: int, tick: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    production_ids = [880000 + i for i in range(len(PRODUCTIONS))]
    for index in range(count):
        prod = index % len(PRODUCTIONS)
        nl, fr = PRODUCTIONS[prod]
        venue = VENUES[(prod + index // len(PRODUCTIONS)) % len(VENUES)]
        year, month, day, hour, minute = DATES[(index * 5) % len(DATES)]
        start = _utc(datetime(year, month, day, hour, minute))
        event_id = 777701 + index
        created = tick()
        contingent_id = 9000 + index
        amount = 450 if venue[6] else 220
        base = float(rng.choice([18, 22, 24, 26, 28, 32]))
        pricetypes = [(1, base), (2, base - 6), (3, base - 2), (4, round(base * 0.2, 2))]
        sold = rng.randint(0, amount)
        free = 0 if index % 11 == 3 else amount - sold
        event: dict[str, Any] = {
            "id": event_id, "name": nl, "subtitle": venue[1], "code": f"{rng.randint(10**11, 10**12 - 1)}",
            "description": f"<p>{nl} in {venue[5]}.</p>", "translations": {"namefr": fr, "descriptionfr": f"<p>{fr}</p>"},
            "currentstatus": 19003 if (year, month) < (2025, 9) else 19002,
            "startts": _ts(start), "endts": _ts(start + timedelta(hours=2)),
            "locationid": venue[0], "locationname": venue[1], "productionid": production_ids[prod],
            "contingents": [{"id": contingent_id, "name": "Parterre" if venue[6] else "Vrije plaatsing",
                             "amount": amount, "eventid": event_id, "pricelistid": 6, "locks": []}],
            "availability": [{"tickettypeid": contingent_id, "total": amount, "free": free, "reserved": 0,
                              "sold_paid": amount - free, "sold_unpaid": 0, "complimentary": 0,
                              "locked_hard": 0, "locked_soft": 0}],
            "prices": {"contingents": [{"contingentid": contingent_id, "pricetypes": [
                {"pricetypeid": pt, "tickettypepriceid": contingent_id * 10 + pt, "saleschannels": [
                    {"saleschannelid": ch, "price": price, "servicecharge": 1.5 if ch == 2 else 0.0,
                     "tickettypepriceid": contingent_id * 10 + pt, "conditions": [], "costs": []}
                    for ch in SALESCHANNELS]} for pt, price in pricetypes]}]},
            "seatingplanid": 40 + venue[0] if venue[6] else 0,
            "webremark": "", "image": "", "saleschannels": [],
            "c_ypid": f"{1_056_000_000 + prod * 1000 + index}-{1_598_948_541 + index}",
            "c_ypname": nl, "createdts": _ts(created), "lastupdatets": _ts(tick()),
        }
        if index in (4, 17):
            event["c_cancelled"] = True
        events.append(event)
    return events


def _phone(rng: random.Random) -> str:
    return rng.choice(PHONES).format(a=rng.randint(10, 99), b=rng.randint(10, 99), c=rng.randint(10, 99))


def _seed_contacts(rng: random.Random, count: int, tick: Any) -> list[dict[str, Any]]:
    contacts = []
    for index in range(count):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        street, city, zip_code = rng.choice(STREETS)
        contact_id = 10001 + index
        lang = "fr" if street.startswith("Rue") or given in ("Camille", "Elodie", "Nathalie") else \
            rng.choice(["nl", "nl", "nl", "en"])
        created = tick()
        deleted = index in (9, 41)
        contact: dict[str, Any] = {
            "id": contact_id, "customertitleid": rng.choice([1, 2, 3]),
            "firstname": given, "lastname": family, "middlename": "",
            "email": f" {given}.{family.replace(' ', '')}{index}@Voorbeeld.be ".replace("..", "."),
            "languagecode": lang, "birthdate": f"{rng.randint(1940, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "phonenumbers": [{"id": contact_id * 10 + 1, "customerid": contact_id, "typeid": 501,
                              "type": "Mobiel", "number": _phone(rng)}],
            "addresses": [{"id": contact_id * 10 + 2, "customerid": contact_id, "typeid": 301, "type": "Thuis",
                           "street1": street, "street2": str(rng.randint(1, 180)), "street3": "",
                           "zip": zip_code, "city": city, "state": "", "countrycode": "BE", "country": "België"}],
            "optins": [{"id": contact_id * 10 + 3, "optinid": 1, "status": rng.choice([7601, 7602, 7602, 7603]),
                        "createdts": _ts(created), "lastupdatets": _ts(created)}],
            "relationtypes": [], "subscribed": rng.random() < 0.5, "status": "deleted" if deleted else "",
            "isdeleted": deleted, "createdts": _ts(created), "lastupdatets": _ts(tick()),
            "c_uitpasnummer": f"{rng.randint(10**12, 10**13 - 1)}" if index % 5 == 0 else "",
        }
        if index % 7 == 2:
            contact["company"] = f"{family} & Zonen bv"
            contact["phonenumbers"].append({"id": contact_id * 10 + 4, "customerid": contact_id, "typeid": 502,
                                            "type": "Werk", "number": _phone(rng)})
        contacts.append(contact)
    return contacts


def _seed_orders(rng: random.Random, count: int, events: list[dict[str, Any]], contacts: list[dict[str, Any]],
                 tick: Any) -> list[dict[str, Any]]:
    orders = []
    ticket_id = 5_000_001
    live_contacts = [c for c in contacts if not c["isdeleted"]]
    for index in range(count):
        order_id = 1_000_001 + index
        event = rng.choice(events)
        status = 21001 if index % 13 == 5 else 21003 if index % 17 == 8 else 21002
        buyer = 0 if index % 9 == 4 else rng.choice(live_contacts)["id"]
        channel = rng.choice(list(SALESCHANNELS))
        created = tick()
        prices = {p["pricetypeid"]: p["saleschannels"][0]["price"]
                  for p in event["prices"]["contingents"][0]["pricetypes"]}
        contingent = event["contingents"][0]
        seated = contingent["name"] == "Parterre"
        row = rng.randint(1, 20)
        tickets = []
        for n in range(rng.randint(1, 6)):
            pricetype = rng.choice([1, 1, 1, 2, 3, 4])
            scanned = status == 21002 and event["currentstatus"] == 19003 and rng.random() < 0.8
            tickets.append({
                "id": ticket_id, "orderid": order_id, "eventid": event["id"], "price": prices[pricetype],
                "pricetypeid": pricetype, "servicecharge": 1.5 if channel == 2 else 0.0,
                "tickettypeid": contingent["id"], "tickettypename": contingent["name"],
                "tickettypepriceid": contingent["id"] * 10 + pricetype,
                "seatname": f"Rij {row} stoel {n + 1}" if seated else "", "seatdescription": "",
                "seatzoneid": 0, "ticketholderid": rng.choice(live_contacts)["id"] if n == 1 and index % 4 == 0 else 0,
                "ticketname": "", "vouchercodeid": 0, "bundleid": 0, "transferredto": 0,
                "barcode": f"{rng.randint(10**11, 10**12 - 1)}" if status == 21002 else "",
                "cachedaccesscontrolstatus": 1 if scanned else 0,
                "deliveredts": _ts(created) if status == 21002 else None,
            })
            ticket_id += 1
        total = round(sum(t["price"] + t["servicecharge"] for t in tickets), 2)
        payments = []
        if status == 21002:
            payments.append({"id": order_id * 10, "orderid": order_id, "amount": total, "paidts": _ts(created),
                             "paymentmethodid": 1 if channel == 1 else 7, "refundpaymentid": 0, "vouchercodeid": 0})
        order: dict[str, Any] = {
            "orderid": order_id, "code": f"{rng.randint(10**11, 10**12 - 1)}", "customerid": buyer,
            "status": status, "saleschannelid": channel, "deliveryscenarioid": 2, "paymentscenarioid": 1,
            "deliverystatus": 2602 if status == 21002 else 2601, "paymentstatus": 1 if status == 21002 else 0,
            "tickets": tickets, "products": [], "ordercosts": [], "payments": payments, "promocodes": [],
            "nbroftickets": len(tickets), "totalamount": total, "amountpaid": total if status == 21002 else 0.0,
            "expiryts": _ts(created + timedelta(days=3)), "rappelts": None, "expiryhandled": False,
            "rappelhandled": False, "createdts": _ts(created), "lastupdatets": _ts(tick()),
        }
        if status == 21002 and len(tickets) > 1 and index % 6 == 1:
            _return_ticket(order, order["lastupdatets"])
        orders.append(order)
    return orders


def _return_ticket(order: dict[str, Any], when: str) -> None:
    """As Ticketmatic does: the ticket leaves the order (back to the pool) and a refund is paid out."""
    ticket = order["tickets"].pop()
    refund = round(ticket["price"] + ticket["servicecharge"], 2)
    original = order["payments"][0]["id"] if order["payments"] else 0
    order["payments"].append({"id": order["orderid"] * 10 + len(order["payments"]), "orderid": order["orderid"],
                              "amount": -refund, "paidts": when, "paymentmethodid": 1,
                              "refundpaymentid": original, "vouchercodeid": 0})
    order["nbroftickets"] = len(order["tickets"])
    order["totalamount"] = round(order["totalamount"] - refund, 2)
    order["amountpaid"] = round(order["amountpaid"] - refund, 2)
    order["lastupdatets"] = when


def _change(stream: str, record: dict[str, Any], now: str, generation: int) -> None:
    record["lastupdatets"] = now
    if stream == "events":
        record["webremark"] = f"Update {generation}: nog enkele plaatsen"
        for row in record["availability"]:
            row["free"] = max(0, row["free"] - 1)
    elif stream == "contacts":
        record["phonenumbers"] = [*record["phonenumbers"][:1],
                                  {"id": record["id"] * 10 + 9, "customerid": record["id"], "typeid": 502,
                                   "type": "Werk", "number": f"02 {generation % 90 + 10} 12 34"}]
    elif record["status"] == 21002 and len(record["tickets"]) > 1 and generation % 2 == 0:
        _return_ticket(record, now)
    else:
        record["deliverystatus"] = 2603 if record["deliverystatus"] == 2602 else record["deliverystatus"]
