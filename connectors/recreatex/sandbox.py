"""A Recreatex WebShop sandbox: a real SOAP 1.1 endpoint on loopback serving the shipped WSDL.

``GET /WebShop.svc?wsdl`` serves the WSDL (address rewritten to this server); ``POST /WebShop.svc``
dispatches on the ``SOAPAction`` header like WCF: FindCultureEvents, FindPerson and
FindCultureReservations with the ``Context`` and criteria body parts, ``PagingCriteria`` paging
(zero-based) and ``From``/``Until`` windows. Answers are serialised by zeep from the WSDL's own
output types (member order and types come from the WSDL), WCF-shaped: ``s:`` envelope, every member
present, ``i:nil`` for nulls. Faults are SOAP 1.1 faults with HTTP 500: an unknown ShopId is a
``s:Client`` fault; an unknown action is WCF's ``a:ActionNotSupported`` ContractFilter fault.

Data is seeded per ShopId. A valid ShopId carries a checksum, so any house name gets one
(``RecreatexSandbox.shop_id_for("cc-hasselt")``) and a mistyped or made-up GUID is refused.
"""

from __future__ import annotations

import functools
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import zeep
from lxml import etree
from zeep import xsd

from connectors.recreatex.soap import BINDING, NAMESPACE, SOAP_ENV, WSDL_PATH, ZEEP_SETTINGS
from podium import clock
from podium.parsing import element_to_dict
from podium.sandbox import Request, Response, Sandbox, flemish
from podium.sandbox.calendar import dst_nights, season_start
from podium.sandbox.datasets import TenantDatasets, stable_int

XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACTION_PREFIX = f"{NAMESPACE}IWebShop/"
_ID_NS = uuid.UUID("5b0f4a57-8f4e-4d43-9a8e-2b6c1c0d7e11")
BRUSSELS = ZoneInfo("Europe/Brussels")
SERIES_DAYS_BEFORE, SERIES_DAYS_AFTER = 30, 365  # the connector's default window

# Venues: the kit's Flemish cultural centres; telephone zones are theirs, halls and capacities invented.
_HALLS: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "cc-hasselt": ("011", [("Theaterzaal", 886), ("Kleine zaal", 180)]),
    "de-warande": ("014", [("Grote zaal", 850), ("Kleine zaal", 200)]),
    "stadsschouwburg-brugge": ("050", [("Schouwburgzaal", 700), ("Foyer", 120)]),
    "cc-strombeek": ("02", [("Theaterzaal", 414), ("Studio", 90)]),
}
VENUES: list[dict[str, Any]] = [
    {"key": v.key, "name": v.long_name, "street": v.street, "number": v.number, "zip": v.zip, "town": v.town,
     "phone": _HALLS[v.key][0], "halls": _HALLS[v.key][1]} for v in flemish.venues(*_HALLS)]

# (nl title, fr title, category index, base price, performances)
PRODUCTIONS: list[tuple[str, str, int, int, int]] = [
    ("De Kersentuin", "La Cerisaie", 0, 26, 3),
    ("Mira", "Mira", 2, 22, 2),
    ("Lies Vandamme zingt Brel", "Lies Vandamme chante Brel", 1, 28, 3),
    ("Nonkel Fons en de verloren sleutel", "Oncle Fons et la clé perdue", 4, 12, 4),
    ("Het Gezin van Paemel", "La Famille Van Paemel", 0, 24, 2),
    ("Strijkkwartet Aurora: Beethoven", "Quatuor Aurora : Beethoven", 5, 20, 2),
    ("Lachsalvo: stand-up avond", "Salve de rires : soirée stand-up", 3, 30, 3),
    ("Rauw", "Brut", 2, 18, 2),
    ("De Ontembare Feeks", "La Mégère apprivoisée", 0, 25, 3),
    ("Jazz in de Foyer", "Jazz au Foyer", 1, 15, 4),
    ("Sneeuwwitje, de musical", "Blanche-Neige, la comédie musicale", 4, 16, 3),
    ("Requiem voor een stad", "Requiem pour une ville", 5, 27, 2),
]
CATEGORIES = [("THEA", "Theater", "Théâtre"), ("MUZ", "Muziek", "Musique"), ("DANS", "Dans", "Danse"),
              ("HUM", "Humor", "Humour"), ("FAM", "Familie", "Famille"), ("KLAS", "Klassiek", "Classique")]
PRICE_GROUPS = [("Standaard", "Tarif plein", Decimal("1")), ("-26", "-26 ans", Decimal("0.8")),
                ("65+", "65+", Decimal("0.9")), ("UiTPAS kansentarief", "UiTPAS tarif réduit", Decimal("0.2"))]
FIRST, LAST, FRENCH = flemish.GIVEN_NAMES, flemish.FAMILY_NAMES, flemish.FRANCOPHONE_NAMES
DOMAINS = flemish.MAIL_DOMAINS
PAYMENT = ["Bancontact", "Kassa (cash)", "Overschrijving", "Payconiq"]


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(_ID_NS, "/".join(str(p) for p in parts)))


@dataclass
class ShopData:
    """One shop's records, as Python dicts in WebShop member names."""

    shop_id: str
    venue: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    reservations: list[dict[str, Any]] = field(default_factory=list)
    mutations: int = 0


class RecreatexSandbox(Sandbox):
    """The WebShop service, as public client code shows it behaves (see the connector README).

    ``today`` (default ``podium.clock.today()``) anchors the season, every event date and every
    reservation date, so the same ``today`` always gives the same data.
    """

    name = "recreatex"
    default_port = 8703
    rate_limit_requests = 20
    rate_limit_window = 1.0

    def __init__(self, *, seed: int = 7, today: date | None = None) -> None:
        super().__init__(seed=seed)
        self.today = today or clock.today(BRUSSELS)
        self._shops: TenantDatasets[ShopData] = TenantDatasets(self._build)
        self.default_shop_id = self.shop_id_for("demo")

    # -- ShopIds ---------------------------------------------------------------------------------
    @staticmethod
    def shop_id_for(name: str) -> str:
        """The sandbox ShopId for a house name (a known venue key gets that venue's data)."""
        wanted = next((i for i, v in enumerate(VENUES) if v["key"] == name), None)
        salt = 0
        while True:
            body = hashlib.sha256(f"recreatex-sandbox:{name}:{salt}".encode()).hexdigest()[:20]
            if wanted is None or int(body, 16) % len(VENUES) == wanted:
                break
            salt += 1
        check = hashlib.sha256(body.encode()).hexdigest()[:12]
        return f"{body[:8]}-{body[8:12]}-{body[12:16]}-{body[16:20]}-{check}"

    @staticmethod
    def is_valid_shop_id(shop_id: str | None) -> bool:
        """True for a ShopId made by ``shop_id_for`` (checksum in the last group)."""
        text = (shop_id or "").strip().lower()
        parts = text.split("-")
        if [len(p) for p in parts] != [8, 4, 4, 4, 12]:
            return False
        body = "".join(parts[:4])
        return hashlib.sha256(body.encode()).hexdigest()[:12] == parts[4]

    # -- test controls ---------------------------------------------------------------------------
    def mutate(self, count: int) -> list[str]:
        """Change ``count`` records of every stream in every shop served so far; returns their ids."""
        if not self._shops:
            self._shops.get(self.default_shop_id)
        shops = list(self._shops.values())
        changed: list[str] = []
        for shop in shops:
            shop.mutations += 1
            upcoming = [e for e in shop.events if e["From"] >= datetime.combine(self.today, datetime.min.time())]
            for event in (upcoming or shop.events)[:count]:
                event["AvailableSeats"] = max(0, event["AvailableSeats"] - 2)
                event["AvailableTotal"] = event["AvailableSeats"]
                event["Description"] = f"{event['Description']} Extra info ({shop.mutations})."
                changed.append(event["Id"])
            for person in shop.persons[:count]:
                person["CellPhone"] = f"0476 {shop.mutations:02d} {len(changed) % 100:02d} 11"
                changed.append(person["Id"])
            for reservation in shop.reservations[:count]:
                reservation["Payed"] = True
                reservation["PaymentMethodName"] = PAYMENT[(shop.mutations + 1) % len(PAYMENT)]
                changed.append(reservation["Id"])
        return changed

    def shop(self, shop_id: str) -> ShopData:
        """The (lazily seeded) data of one shop."""
        return self._shops.get(shop_id.strip().lower())

    # -- HTTP ------------------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return Response(429, b"<html><body><h1>429 Too Many Requests</h1></body></html>",
                        {"Content-Type": "text/html; charset=utf-8", "Retry-After": str(self.retry_after_seconds)})

    def route(self, request: Request) -> Response:
        if request.path.rstrip("/").lower() != "/webshop.svc":
            return Response(404, b"<html><body><h1>404 Not Found</h1></body></html>",
                            {"Content-Type": "text/html; charset=utf-8"})
        if request.method == "GET":
            if "wsdl" in {k.lower() for k in request.query}:
                return Response.xml(self.wsdl())
            return Response(200, b"<html><body><p>WebShop Service: append ?wsdl for the WSDL.</p></body></html>",
                            {"Content-Type": "text/html; charset=utf-8"})
        if request.method != "POST":
            return Response(405, b"", {"Allow": "GET, POST"})
        raw = self.take_raw()  # attack/garbage tests: ``serve_raw`` answers the next SOAP calls
        if raw is not None:
            return Response.xml(raw[1], status=raw[0])
        return self.soap(request)

    def wsdl(self) -> str:
        """The shipped WSDL with this server's address."""
        text = WSDL_PATH.read_text(encoding="utf-8")
        return text.replace('location="http://localhost/WebShop.svc"', f'location="{self.url}/WebShop.svc"')

    def soap(self, request: Request) -> Response:
        """Parse the envelope safely, check the ShopId, dispatch on SOAPAction."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        action = headers.get("soapaction", "").strip().strip('"')
        try:
            body = _parse_envelope(request.body)
        except ValueError as exc:
            return _fault("s:Client", f"The message could not be read: {exc}")
        operation = action[len(ACTION_PREFIX):] if action.startswith(ACTION_PREFIX) else ""
        handler = {"FindCultureEvents": self._find_culture_events, "FindPerson": self._find_person,
                   "FindCultureReservations": self._find_culture_reservations}.get(operation)
        if handler is None:
            return _action_not_supported(action)
        parts = {etree.QName(child).localname: child for child in body
                 if isinstance(child.tag, str) and etree.QName(child).namespace == NAMESPACE}
        context = element_to_dict(parts["Context"]) if "Context" in parts else {}
        shop_id = context.get("ShopId")
        if not self.is_valid_shop_id(shop_id):
            return _fault("s:Client", "Invalid ShopId: no web shop is configured with this id.")
        language = "fr" if str(context.get("Language") or "nl").lower().startswith("fr") else "nl"
        return handler(self.shop(str(shop_id)), parts, language)

    # -- operations ------------------------------------------------------------------------------
    def _find_culture_events(self, shop: ShopData, parts: dict[str, Any], language: str) -> Response:
        criteria = _criteria(parts, "CultureEventSearchCriteria")
        events = [e for e in shop.events if _in_window(e["From"], criteria)]
        if criteria.get("CultureEventId"):
            events = [e for e in events if e["Id"] == criteria["CultureEventId"]]
        items = [_localised(e, language) for e in _page(events, criteria)]
        return _answer("FindCultureEvents", items)

    def _find_person(self, shop: ShopData, parts: dict[str, Any], language: str) -> Response:
        criteria = _criteria(parts, "Criteria")
        persons = shop.persons
        if criteria.get("Id"):
            persons = [p for p in persons if p["Id"] == criteria["Id"]]
        if criteria.get("Email"):
            persons = [p for p in persons if (p.get("Email") or "").lower() == str(criteria["Email"]).lower()]
        return _answer("FindPerson", _page(persons, criteria))

    def _find_culture_reservations(self, shop: ShopData, parts: dict[str, Any], language: str) -> Response:
        criteria = _criteria(parts, "CultureReservationSearchCriteria")
        starts = {e["Id"]: e["From"] for e in shop.events}
        reservations = [r for r in shop.reservations if _in_window(starts[r["CultureEventId"]], criteria)]
        if criteria.get("PersonId"):
            reservations = [r for r in reservations if r["CustomerId"] == criteria["PersonId"]]
        return _answer("FindCultureReservations", _page(reservations, criteria))

    # -- seed data -------------------------------------------------------------------------------
    def _build(self, shop_id: str) -> ShopData:
        shop, rng = self.seed_events(shop_id)
        shop.persons = self._persons(shop_id, shop.venue, rng)
        shop.reservations = self._reservations(shop_id, shop, rng)
        return shop

    def seed_events(self, shop_id: str) -> tuple[ShopData, random.Random]:
        """A shop with its events only (persons and reservations follow from the returned generator)."""
        shop_id = shop_id.strip().lower()
        body = shop_id.replace("-", "")[:20]
        venue = VENUES[int(body, 16) % len(VENUES)] if len(body) == 20 else VENUES[0]
        rng = random.Random(stable_int(shop_id) ^ self.seed)
        shop = ShopData(shop_id, venue)
        shop.events = self._events(shop_id, venue, rng)
        return shop, rng

    def _events(self, shop_id: str, venue: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
        season = season_start(self.today)
        now = datetime.combine(self.today, datetime.min.time())
        halls = [{"Id": _guid(shop_id, "hall", i), "Code": f"Z{i + 1}", "Name": name, "Capacity": capacity,
                  "Address": {"Street": venue["street"], "Number": venue["number"], "ZipCode": venue["zip"],
                              "Town": venue["town"], "Country": "BE", "LocationName": venue["name"]}}
                 for i, (name, capacity) in enumerate(venue["halls"])]
        events: list[dict[str, Any]] = []
        for p, (title_nl, title_fr, cat, base, performances) in enumerate(PRODUCTIONS):
            activity = {"Id": _guid(shop_id, "activity", p), "Code": f"P{24 + p:03d}", "Name": title_nl,
                        "Name_fr": title_fr}
            code, label_nl, label_fr = CATEGORIES[cat]
            category = {"Id": _guid("category", code), "Code": code, "Name": label_nl, "Name_fr": label_fr}
            hall = halls[0] if base >= 20 else halls[1]
            first_day = season + timedelta(days=rng.randrange(5, 240))
            for n in range(performances):
                day = first_day + timedelta(days=7 * n + rng.randrange(0, 3))
                matinee = day.weekday() == 6 or cat == 4
                start = datetime.combine(day, datetime.min.time()) + timedelta(hours=15 if matinee else 20)
                events.append(self._event(shop_id, len(events), activity, category, hall, title_nl, title_fr,
                                          base, start, start + timedelta(minutes=rng.choice([75, 90, 120, 150])),
                                          now, rng))
        # Nights that cross the clock change: summer->winter (late October), winter->summer (late March).
        autumn, spring = dst_nights(season.year)[1], dst_nights(season.year + 1)[0]
        night = {"Id": _guid(shop_id, "activity", "night"), "Code": "P900", "Name": "Nacht van de Kortfilm",
                 "Name_fr": "Nuit du court métrage"}
        film = {"Id": _guid("category", "FILM"), "Code": "FILM", "Name": "Film", "Name_fr": "Cinéma"}
        for day in (autumn, spring):
            start = datetime.combine(day, datetime.min.time()) + timedelta(hours=22)
            events.append(self._event(shop_id, len(events), night, film, halls[1], night["Name"], night["Name_fr"],
                                      10, start, start + timedelta(hours=6), now, rng))
        # A fortnightly lunch concert keeps every two weeks around ``today`` programmed, whatever day it is.
        lunch = {"Id": _guid(shop_id, "activity", "lunch"), "Code": "P901", "Name": "Middagconcert in de foyer",
                 "Name_fr": "Concert de midi au foyer"}
        code, label_nl, label_fr = CATEGORIES[5]
        classical = {"Id": _guid("category", code), "Code": code, "Name": label_nl, "Name_fr": label_fr}
        day = self.today - timedelta(days=SERIES_DAYS_BEFORE)
        while day <= self.today + timedelta(days=SERIES_DAYS_AFTER):
            start = datetime.combine(day, datetime.min.time()) + timedelta(hours=12, minutes=30)
            events.append(self._event(shop_id, len(events), lunch, classical, halls[1], lunch["Name"],
                                      lunch["Name_fr"], 8, start, start + timedelta(hours=1), now, rng))
            day += timedelta(days=14)
        # Cancelled and postponed performances (the title carries the announcement, status NotForSale).
        for index, (nl, fr) in ((3, ("GEANNULEERD", "ANNULÉ")), (11, ("GEANNULEERD", "ANNULÉ")),
                                (20, ("UITGESTELD", "REPORTÉ"))):
            event = events[index]
            event["Name"] = f"{nl} \u2013 {event['Name']}"
            event["Name_fr"] = f"{fr} \u2013 {event['Name_fr']}"
            event["Status"] = "NotForSale"
            event["AvailableSeats"] = event["AvailableTotal"] = 0
        events[7]["AvailableSeats"] = events[7]["AvailableTotal"] = 0  # sold out, still Open
        events.sort(key=lambda e: (e["From"], e["Id"]))
        return events

    def _event(self, shop_id: str, index: int, activity: dict[str, Any], category: dict[str, Any],
               hall: dict[str, Any], title_nl: str, title_fr: str, base: int, start: datetime, end: datetime,
               now: datetime, rng: random.Random) -> dict[str, Any]:
        capacity = int(hall["Capacity"])
        available = rng.choice([capacity, capacity // 2, capacity // 7, 12, rng.randrange(1, capacity)])
        prices = [{"Amount": (Decimal(base) * factor).quantize(Decimal("0.5")),
                   "Group": {"Id": _guid("pricegroup", name), "Name": name, "Name_fr": name_fr, "Type": "Ticketing"}}
                  for name, name_fr, factor in PRICE_GROUPS]
        return {
            "Id": _guid(shop_id, "event", index), "Code": f"{activity['Code']}-{index:03d}",
            "CultureActivity": activity, "CultureEventCategory": category, "Hall": hall,
            "Name": title_nl, "Name_fr": title_fr,
            "Description": f"<p>{title_nl} in {hall['Address']['LocationName']}.</p>",
            "Description_fr": f"<p>{title_fr} à {hall['Address']['LocationName']}.</p>",
            "From": start, "Until": end, "SalesFrom": start - timedelta(days=120), "SalesUntil": start,
            "Status": "Closed" if start < now else "Open", "Prices": prices,
            "ImageUri": f"voorstelling-{index}.jpg", "MaxVisitors": capacity, "MaxVisitorsWeb": capacity,
            "AvailableSeats": available, "AvailableTotal": available, "UseReservationCost": False,
            "AllowBasReservation": True, "AllowExplicitSeatReservation": index % 3 == 0,
        }

    def _persons(self, shop_id: str, venue: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
        persons: list[dict[str, Any]] = []
        streets = flemish.STREETS
        for i in range(60):
            french = i % 12 == 5
            first, last = FRENCH[i % len(FRENCH)] if french else (FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)])
            local = f"{first}.{last}".lower().replace(" ", "").replace("é", "e")
            email = f"{local}{i}@{DOMAINS[i % len(DOMAINS)]}"
            person: dict[str, Any] = {
                "Id": _guid(shop_id, "person", i), "Code": f"K{10400 + i}",
                "Name": {"First": first, "Last": last}, "Email": email.title() if i % 9 == 0 else email,
                "Phone": f"{venue['phone']} {rng.randrange(20, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}"
                if i % 3 else None,
                "CellPhone": f"04{rng.choice([75, 76, 77, 78, 79, 85, 86])} {rng.randrange(10, 99)} "
                             f"{rng.randrange(10, 99)} {rng.randrange(10, 99)}" if i % 4 else None,
                "Address": {"Street": streets[i % len(streets)], "Number": str(1 + (i * 13) % 140),
                            "Box": str(1 + i % 3) if i % 5 == 0 else None, "ZipCode": venue["zip"],
                            "Town": venue["town"], "Country": "BE"},
                "Language": "fr" if french else "nl", "Gender": ["Female", "Male", "Unknown"][i % 3],
                "BirthDate": datetime(1950 + (i * 3) % 55, 1 + i % 12, 1 + (i * 5) % 28) if i % 6 else None,
                "Settings": {"SubscribeMailingList": i % 2 == 0}, "IsBlocked": False, "Type": "Person",
                "NationalNumber": f"{(50 + i) % 100:02d}.{1 + i % 12:02d}.{1 + i % 28:02d}-{100 + i:03d}.{i % 97:02d}"
                if i % 10 == 0 else None,
                "Comments": "Rolstoelplaats gewenst." if i % 17 == 0 else None,
            }
            persons.append(person)
        persons[13]["Address"] = {"Street": "Oudegracht", "Number": "12", "ZipCode": "3511 AB", "Town": "Utrecht",
                                  "Country": "NL"}
        persons[13]["CellPhone"] = "+31 6 12345678"
        persons[27]["Name"] = {"First": None, "Last": None}  # a newsletter-only contact: e-mail only
        return persons

    def _reservations(self, shop_id: str, shop: ShopData, rng: random.Random) -> list[dict[str, Any]]:
        reservations: list[dict[str, Any]] = []
        now = datetime.combine(self.today, datetime.min.time())
        bookable = [e for e in shop.events if not e["Name"].startswith(("GEANNULEERD", "UITGESTELD"))]
        for i in range(70):
            event = bookable[rng.randrange(len(bookable))]
            customer = shop.persons[rng.randrange(len(shop.persons))]
            booked = event["From"] - timedelta(days=rng.randrange(1, 90), hours=rng.randrange(0, 9))
            if booked > now:
                booked = now - timedelta(days=1 + i % 20, minutes=7 * i)
            row = rng.randrange(1, 25)
            seats = []
            for s in range(rng.choice([1, 2, 2, 3, 4])):
                group = PRICE_GROUPS[0] if s == 0 else PRICE_GROUPS[rng.randrange(len(PRICE_GROUPS))]
                amount = next(p["Amount"] for p in event["Prices"] if p["Group"]["Name"] == group[0])
                number = 1 + (i * 3 + s) % 30
                seats.append({"Id": _guid(shop_id, "seatline", i, s), "CultureEventId": event["Id"],
                              "Price": amount, "PriceGroupName": group[0],
                              "PriceGroup": {"Amount": amount, "Group": {"Id": _guid("pricegroup", group[0]),
                                                                          "Name": group[0], "Type": "Ticketing"}},
                              "Seat": {"Id": _guid(shop_id, "seat", event["Hall"]["Id"], row, number),
                                       "Code": f"R{row:02d}-{number:02d}", "Number": number, "Sequence": number},
                              "SeatId": _guid(shop_id, "seat", event["Hall"]["Id"], row, number)})
            reservations.append({
                "Id": _guid(shop_id, "reservation", i), "ReservationNumber": 240100 + i,
                "ReservationDate": booked.replace(second=0, microsecond=0), "ReservationSeats": seats,
                "PaymentMethodName": PAYMENT[i % len(PAYMENT)], "PaymentMethodId": _guid("payment", i % len(PAYMENT)),
                "CultureEventId": event["Id"], "CustomerId": customer["Id"], "Payed": i % 7 != 3,
                "SalesLineId": _guid(shop_id, "salesline", i),
            })
        # Returned tickets: a credit reservation with the same seats at a negative price.
        for i in (4, 18, 33, 51):
            original = reservations[i]
            credit = dict(original, Id=_guid(shop_id, "reservation", "retour", i),
                          ReservationNumber=original["ReservationNumber"] + 50000,
                          ReservationDate=original["ReservationDate"] + timedelta(days=2), Payed=True,
                          SalesLineId=_guid(shop_id, "salesline", "retour", i))
            credit["ReservationSeats"] = [dict(seat, Id=_guid(shop_id, "seatline", "retour", i, n),
                                               Price=-seat["Price"])
                                          for n, seat in enumerate(original["ReservationSeats"])]
            reservations.append(credit)
        return reservations


# -- SOAP helpers ------------------------------------------------------------------------------------
def _parse_envelope(body: bytes) -> Any:
    """The Body element of a SOAP 1.1 envelope; DTDs and entities are refused, not parsed."""
    head = body[:65536].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise ValueError("DTDs and entities are not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"malformed XML ({exc})") from None
    if root.getroottree().docinfo.doctype:
        raise ValueError("DTDs are not allowed")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ValueError("not a SOAP 1.1 envelope")
    found = root.find(f"{{{SOAP_ENV}}}Body")
    if found is None:
        raise ValueError("the envelope has no Body")
    return found


def _criteria(parts: dict[str, Any], name: str) -> dict[str, Any]:
    element = parts.get(name)
    return element_to_dict(element) if element is not None else {}


def _in_window(start: datetime, criteria: dict[str, Any]) -> bool:
    low, high = criteria.get("From"), criteria.get("Until")
    if low and start < _naive(low):
        return False
    return not (high and start >= _naive(high))


def _naive(text: str) -> datetime:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value.replace(tzinfo=None)


def _page(items: list[dict[str, Any]], criteria: dict[str, Any]) -> list[dict[str, Any]]:
    paging = criteria.get("Paging") or {}
    if not paging.get("PageSize"):
        return items[:1000]  # WCF's default page when no paging is asked for
    size = max(1, int(paging["PageSize"]))
    index = max(0, int(paging.get("PageIndex") or 0))
    return items[index * size:(index + 1) * size]


def _localised(event: dict[str, Any], language: str) -> dict[str, Any]:
    """The event as served in ``language`` (Recreatex answers texts in the Context language)."""
    def pick(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: pick(v) for k, v in node.items() if not k.endswith("_fr") and k != "Capacity"}
            for key in node:
                if key.endswith("_fr") and language == "fr":
                    out[key[:-3]] = node[key]
            return out
        if isinstance(node, list):
            return [pick(v) for v in node]
        return node
    return pick(event)  # type: ignore[no-any-return]


@functools.cache
def _webshop() -> Any:
    """The shipped WSDL's binding (loaded once): its output messages carry the answer types."""
    return zeep.Client(str(WSDL_PATH), settings=ZEEP_SETTINGS).wsdl.bindings[BINDING]


def _typed(xsd_type: Any, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the members of a WSDL type, in the type's order; every member present (WCF writes
    them all), an absent value as ``i:nil``."""
    return {name: _member(element.type, data.get(name)) for name, element in xsd_type.elements}


def _member(xsd_type: Any, value: Any) -> Any:
    if value is None:
        return xsd.Nil
    if isinstance(value, list):  # a WCF ``ArrayOfX``: one repeated item element
        [(item_name, item)] = xsd_type.elements
        return {item_name: [_typed(item.type, entry) for entry in value]}
    if isinstance(value, dict):
        return _typed(xsd_type, value)
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))  # WCF writes money with its two decimals
    return value


def _answer(operation: str, items: list[dict[str, Any]]) -> Response:
    """The operation's answer, serialised by zeep from the WSDL's output type of ``operation``."""
    result = _webshop().get(operation).output.body
    [(item_name, item)] = result.type.elements
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"s": SOAP_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body", nsmap={None: NAMESPACE, "i": XSI})
    result.render(body, result(**{item_name: [_typed(item.type, data) for data in items]}))
    return Response.xml(etree.tostring(envelope, xml_declaration=False, encoding="utf-8"))


def _fault(code: str, message: str, nsmap: dict[str, str] | None = None) -> Response:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"s": SOAP_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault", nsmap=nsmap or {})
    etree.SubElement(fault, "faultcode").text = code
    string = etree.SubElement(fault, "faultstring")
    string.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    string.text = message
    return Response.xml(etree.tostring(envelope, encoding="utf-8"), status=500)


def _action_not_supported(action: str) -> Response:
    return _fault("a:ActionNotSupported",
                  f"The message with Action '{action}' cannot be processed at the receiver, due to a "
                  "ContractFilter mismatch at the EndpointDispatcher. This may be because of either a contract "
                  "mismatch (mismatched Actions between sender and receiver) or a binding/security mismatch "
                  "between the sender and the receiver. Check that sender and receiver have the same contract and "
                  "the same binding (including security requirements, e.g. Message, Transport, None).",
                  {"a": "http://schemas.microsoft.com/ws/2005/05/addressing/none"})
