"""A Yesplan sandbox: any organisation's installation, seeded with Flemish events, on one loopback port.

Serves ``/{organisation}/api/...`` (and ``/api/...`` for organisation ``demo``), so a house config
points ``base_url`` at ``http://127.0.0.1:8702/dewarande`` where production has
``https://dewarande.yesplan.be``. Endpoints, as the public sources show them:

- ``GET api/events/<query>``: the search query in the path, e.g. ``event:date:01-03-2025 TO 31-03-2026``
  (``date:28-03-2013`` for one day; ``event:status:<name>`` narrows it), answered with
  ``{"pagination": {"next": ..., "expires": ...}, "data": [...]}``. Next links carry a ``page``, a
  ``book`` (the booked result set) and, as Yesplan's do, the ``api_key``: a client must not store them as is.
- ``GET api/event/<id>`` and ``GET api/event/<id>/customdata`` (``groups`` tree; ``?keywords=a,b`` gives
  the flat ``items`` list).
- ``GET api/statuses``: the installation's statuses.

A missing or wrong ``api_key`` is 401; one given twice is 400 (the sandbox's strictness, so a
client that duplicates it notices). The base class gives 429 + Retry-After past 20 requests a second.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks
from podium.sandbox.calendar import last_sunday
from podium.sandbox.datasets import TenantDatasets, tenant_random

BRUSSELS = ZoneInfo("Europe/Brussels")
DEFAULT_ORG = "demo"
_DATE = r"(\d{2}-\d{2}-\d{4})"
_DATE_CLAUSE = re.compile(rf"(?:event:)?date:{_DATE}(?:\s+TO\s+{_DATE})?", re.IGNORECASE)
_STATUS_CLAUSE = re.compile(r"event:status:(\S+)", re.IGNORECASE)

# (location name, room) — rooms of Flemish houses as a multi-venue installation would list them.
LOCATIONS = [
    "CC Hasselt - Grote zaal", "CC Hasselt - Kleine zaal", "De Warande Turnhout - Theaterzaal",
    "De Warande Turnhout - Kuub", "Stadsschouwburg Brugge", "CC Strombeek - Theaterzaal",
    "CC Strombeek - Foyer", "Concertgebouw Brugge - Concertzaal",
]
PROFILES = ["Theater", "Concert", "Dans", "Humor", "Familie", "Lezing", "Film"]
STATUSES = ["Bevestigd", "Optie", "Geannuleerd", "Uitgesteld", "Verplaatst"]
STATUS_TYPES = {"Bevestigd": ["locked"], "Optie": ["option"], "Geannuleerd": [], "Uitgesteld": [],
                "Verplaatst": ["locked"]}
# (production name, profile) — bilingual titles as Brussels-rim houses write them.
PRODUCTIONS = [
    ("De Kersentuin", "Theater"), ("Het Gezin van Paemel", "Theater"),
    ("Le Petit Prince / De Kleine Prins", "Familie"), ("Wintervoorraad", "Theater"),
    ("Brel ! Chansons / liedjes", "Concert"), ("Strijkkwartetten van Sjostakovitsj", "Concert"),
    ("Rosas danst opnieuw", "Dans"), ("Nachtwacht - dansvoorstelling", "Dans"),
    ("Zuurstof - comedy", "Humor"), ("Eén tegen allen", "Humor"),
    ("Kapitein Winokio's verjaardag", "Familie"), ("Lezing: het Vlaamse landschap", "Lezing"),
    ("Filmconcert: De Witte", "Film"), ("Mozart & Haydn - Brussels Philharmonic", "Concert"),
    ("Ça va, ça va ? / Gaat het ?", "Theater"), ("Jazz in de foyer", "Concert"),
    ("Smartlappen en levensliederen", "Concert"), ("Ballet van Vlaanderen: Giselle", "Dans"),
    ("Poppentheater Pierke", "Familie"), ("Kom Op Tegen Kanker - benefiet", "Concert"),
]
# Every event starts inside [today - DAYS_BEFORE, today + DAYS_AFTER]; a fortnightly series keeps every
# three weeks of that span programmed, whatever day ``today`` is.
DAYS_BEFORE, DAYS_AFTER = 90, 420
SERIES = ("Zondagmatinee in de foyer", "Concert")


def _stamp(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BRUSSELS)


def _iso(moment: datetime) -> str:
    """Yesplan's timestamp: local wall time with its UTC offset."""
    return moment.astimezone(BRUSSELS).isoformat()


def _object_id(rng: random.Random) -> str:
    # Yesplan ids are two numbers joined by a dash (e.g. the dataview result ids in SilTada/Yesplan).
    return f"{rng.randrange(10**8, 10**9)}-{rng.randrange(15 * 10**8, 17 * 10**8)}"


@dataclass
class _Book:
    ids: list[str]
    expires: datetime


class YesplanSandbox(Sandbox):
    """Yesplan's REST API for any organisation, with seeded events around ``today``.

    ``today`` defaults to ``podium.clock.today()`` (``PODIUM_TODAY`` or the real date); every event
    date is an offset from it, so the same ``today`` always gives the same events.
    """

    name = "yesplan"
    default_port = 8702
    api_key = "yesplan-sandbox-key"
    page_size = 25
    rate_limit_requests = 20
    rate_limit_window = 1.0

    def __init__(self, *, seed: int = 7, today: date | None = None, productions: int = len(PRODUCTIONS)) -> None:
        super().__init__(seed=seed)
        self.today = today or clock.today(BRUSSELS)
        self.productions = productions
        self._orgs: TenantDatasets[dict[str, dict[str, Any]]] = TenantDatasets(self._generate)
        self._books: dict[str, _Book] = {}
        self._data_lock = self._orgs.lock
        self._mutations = 0

    # -- data ------------------------------------------------------------------------------------
    def events(self, org: str = DEFAULT_ORG) -> dict[str, dict[str, Any]]:
        """The organisation's events by id (generated once, deterministic for org + seed + today)."""
        return self._orgs.get(org)

    def _generate(self, org: str) -> dict[str, dict[str, Any]]:
        rng = tenant_random("yesplan", self.seed, org)
        base = f"https://{org}.yesplan.be/api"
        locations = [{"url": "", "id": _object_id(rng), "name": name, "_type": "location"} for name in LOCATIONS]
        for loc in locations:
            loc["url"] = f"{base}/location/{loc['id']}"
        statuses = {name: {"url": "", "id": _object_id(rng), "name": name, "_type": "status"} for name in STATUSES}
        for resource in statuses.values():
            resource["url"] = f"{base}/status/{resource['id']}"
        profiles = {name: {"url": "", "id": _object_id(rng), "name": name, "_type": "profile"} for name in PROFILES}
        for resource in profiles.values():
            resource["url"] = f"{base}/profile/{resource['id']}"
        owner = {"url": "", "id": _object_id(rng), "name": "planning", "_type": "user"}
        owner["url"] = f"{base}/user/{owner['id']}"
        events: dict[str, dict[str, Any]] = {}
        first_day = self.today - timedelta(days=DAYS_BEFORE)
        last_day = self.today + timedelta(days=DAYS_AFTER)

        def add(name: str, start: datetime, end: datetime, location: dict[str, Any], profile: str,
                status: str, production: dict[str, Any] | None, extra_locations: int = 0) -> None:
            event_id = _object_id(rng)
            rooms = [location, *rng.sample([loc for loc in locations if loc is not location], extra_locations)]
            events[event_id] = {
                "url": f"{base}/event/{event_id}", "id": event_id, "_type": "event",
                "owner": owner, "name": name,
                "group": production, "starttime": _iso(start), "endtime": _iso(end),
                "startdate": start.date().isoformat(), "enddate": end.date().isoformat(),
                "profile": profiles[profile], "status": statuses[status], "locations": rooms,
                "production": production, "isproduction": False, "attributes": {},
                "defaultscheduledescription": "Voorstelling",
                "defaultschedulestarttime": start.strftime("%H:%M"), "defaultscheduleendtime": end.strftime("%H:%M"),
                "defaultschedulestart": _iso(start), "defaultscheduleend": _iso(end),
                "_customdata": self._customdata(rng, name),
            }

        for title, profile in PRODUCTIONS[: self.productions]:
            group_id = _object_id(rng)
            production = {"url": f"{base}/group/{group_id}", "id": group_id, "name": title, "_type": "group"}
            location = rng.choice(locations)
            day = first_day + timedelta(days=rng.randrange(0, 480))
            for _ in range(rng.randint(1, 8)):
                if day > last_day:
                    break
                matinee = profile == "Familie" or day.weekday() == 6
                hour, minute = (14, 30) if matinee else (20, rng.choice([0, 15, 30]))
                start = _stamp(day, hour, minute)
                end = start + timedelta(minutes=rng.choice([75, 90, 120, 150]))
                status = rng.choices(STATUSES, weights=[80, 8, 7, 3, 2])[0]
                add(title, start, end, location, profile, status, production,
                    extra_locations=1 if rng.random() < 0.05 else 0)
                day += timedelta(days=rng.choice([1, 1, 2, 7]))

        # Nights that cross the daylight-saving switch: the end carries another offset than the start.
        night = {"url": "", "id": _object_id(rng), "name": "Nacht van de Poëzie / Nuit de la Poésie",
                 "_type": "group"}
        night["url"] = f"{base}/group/{night['id']}"
        for year in (self.today.year - 1, self.today.year, self.today.year + 1):
            for month, status in ((3, "Bevestigd"), (10, "Geannuleerd" if year % 2 else "Bevestigd")):
                sunday = last_sunday(year, month)
                saturday = sunday - timedelta(days=1)
                if not (first_day <= saturday and sunday <= last_day):
                    continue
                add(f"Nacht van de Poëzie {year}", _stamp(saturday, 22, 0), _stamp(sunday, 3, 30),
                    locations[2], "Lezing", status, night)
                add(f"Zondagsconcert {sunday:%d/%m}", _stamp(sunday, 15, 0), _stamp(sunday, 17, 0),
                    locations[7], "Concert", "Bevestigd", None)

        title, profile = SERIES
        series = {"url": "", "id": _object_id(rng), "name": title, "_type": "group"}
        series["url"] = f"{base}/group/{series['id']}"
        sunday = first_day + timedelta(days=(6 - first_day.weekday()) % 7)
        while sunday <= last_day:
            add(title, _stamp(sunday, 11, 0), _stamp(sunday, 12, 30), locations[6], profile, "Bevestigd", series)
            sunday += timedelta(days=14)
        return events

    @staticmethod
    def _customdata(rng: random.Random, name: str) -> dict[str, Any]:
        """The custom data tree of one event: groups > children (sections) > children (fields)."""
        tm_event = str(rng.randrange(10000, 99999))
        return {"groups": [
            {"name": "Ticketing", "keyword": "ticketing", "type": "Group", "children": [
                {"name": "Ticketmatic", "keyword": "ticketing_ticketmatic", "type": "Group", "children": [
                    {"name": "Ticketmatic event-ID", "keyword": "ticketing_tm_eventid", "type": "String",
                     "value": tm_event},
                    {"name": "Capaciteit", "keyword": "ticketing_capaciteit", "type": "Integer",
                     "value": rng.choice([120, 250, 420, 780])},
                    {"name": "Online verkoop", "keyword": "ticketing_online", "type": "Boolean",
                     "value": rng.random() < 0.9},
                ]},
            ]},
            {"name": "Publicatie", "keyword": "publicatie", "type": "Group", "children": [
                {"name": "Publiek", "keyword": "publicatie_algemeen", "type": "Group", "children": [
                    {"name": "Genre", "keyword": "publicatie_genre", "type": "List",
                     "value": [rng.choice(["theater", "muziek", "dans", "humor", "jeugd"])]},
                    {"name": "Wervende tekst", "keyword": "publicatie_tekst", "type": "Text",
                     "value": f"{name}: niet te missen in ons huis."},
                    {"name": "UiTdatabank-ID", "keyword": "publicatie_uitdb_id", "type": "String", "value": ""},
                ]},
            ]},
        ]}

    def mutate(self, count: int) -> list[str]:
        """Rename and move ``count`` upcoming events of every organisation served; returns their ids."""
        changed: list[str] = []
        with self._data_lock:
            self._mutations += 1
            for org in self._orgs.tenants() or [DEFAULT_ORG]:
                events = self.events(org)
                upcoming = sorted((e for e in events.values() if e["startdate"] >= self.today.isoformat()),
                                  key=lambda e: (e["starttime"], e["id"]))
                for event in upcoming[:count]:
                    start = datetime.fromisoformat(event["starttime"]) + timedelta(minutes=30)
                    end = datetime.fromisoformat(event["endtime"]) + timedelta(minutes=30)
                    event["name"] = f"{event['name'].split(' (wijziging')[0]} (wijziging {self._mutations})"
                    event["starttime"], event["endtime"] = _iso(start), _iso(end)
                    event["defaultschedulestart"], event["defaultscheduleend"] = _iso(start), _iso(end)
                    changed.append(event["id"])
        return changed

    # -- serving ---------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        org, path = self._split(request.path)
        if path is None:
            return self._error(404, "not found")
        checks.api_key_param(request, "api_key", self.api_key, missing="Unauthorized: missing or invalid api_key",
                             repeated="api_key given more than once")
        if request.method != "GET":
            return self._error(405, "method not allowed")
        if path.startswith("events/"):
            return self._events(request, org, unquote(path[len("events/"):]))
        match = re.fullmatch(r"event/([^/]+)(/customdata)?", path)
        if match:
            event = self.events(org).get(unquote(match.group(1)))
            if event is None:
                return self._error(404, f"no event with id {match.group(1)}")
            if match.group(2):
                return self._customdata_answer(event, request.arg("keywords"))
            return Response.json(self._public(event))
        if path == "statuses":
            statuses = {e["status"]["id"]: e["status"] for e in self.events(org).values()}
            data = [{**s, "statustypes": STATUS_TYPES.get(s["name"], [])} for s in statuses.values()]
            return Response.json({"pagination": {}, "data": sorted(data, key=lambda s: s["name"])})
        return self._error(404, f"unknown resource api/{path}")

    @staticmethod
    def _split(raw_path: str) -> tuple[str, str | None]:
        parts = raw_path.lstrip("/").split("/", 2)
        if parts and parts[0] == "api":
            return DEFAULT_ORG, "/".join(parts[1:])
        if len(parts) >= 2 and parts[1] == "api" and re.fullmatch(r"[a-z0-9][a-z0-9-]*", parts[0]):
            return parts[0], parts[2] if len(parts) > 2 else ""
        return DEFAULT_ORG, None

    @staticmethod
    def _error(status: int, message: str) -> Response:
        return Response.json({"message": message}, status)

    def error(self, refusal: Refused) -> Response:
        return self._error(refusal.status, refusal.message)

    @staticmethod
    def _public(event: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in event.items() if not k.startswith("_customdata")}

    def _customdata_answer(self, event: dict[str, Any], keywords: str | None) -> Response:
        tree = event["_customdata"]
        if not keywords:
            return Response.json(tree)
        wanted = [k.strip() for k in keywords.split(",") if k.strip()]
        fields: dict[str, dict[str, Any]] = {}

        def walk(nodes: list[dict[str, Any]]) -> None:
            for node in nodes:
                if "children" in node:
                    walk(node["children"])
                else:
                    fields[node["keyword"]] = node
        walk(tree["groups"])
        return Response.json({"items": [fields[k] for k in wanted if k in fields]})

    def _events(self, request: Request, org: str, query: str) -> Response:
        book_id = request.arg("book")
        if book_id:
            book = self._books.get(book_id)
            # A booked result set lives ten real minutes (a TTL), whatever day ``today`` pretends it is.
            if book is None or book.expires < datetime.now(BRUSSELS):
                return self._error(404, "pagination book expired or unknown: start the query again")
            ids = book.ids
        else:
            found = self._search(org, query)
            if isinstance(found, Response):
                return found
            ids = found
        page = int(request.arg("page", "1") or 1)
        events = self.events(org)
        chunk = ids[(page - 1) * self.page_size: page * self.page_size]
        data = [self._public(events[i]) for i in chunk if i in events]
        pagination: dict[str, Any] = {}
        if page * self.page_size < len(ids):
            if not book_id:
                book_id = hashlib.sha1(f"{org}|{query}|{len(self._books)}".encode()).hexdigest()[:12]
                self._books[book_id] = _Book(ids, datetime.now(BRUSSELS) + timedelta(minutes=10))
            expires = self._books[book_id].expires
            prefix = "" if org == DEFAULT_ORG and not request.path.startswith(f"/{org}/") else f"/{org}"
            # Like Yesplan, the next link carries the caller's api_key.
            pagination = {"next": f"{self.url}{prefix}/api/events/{quote(query, safe=':')}"
                                  f"?page={page + 1}&book={book_id}&api_key={quote(self.api_key, safe='')}",
                          "expires": _iso(expires)}
        return Response.json({"pagination": pagination, "data": data})

    def _search(self, org: str, query: str) -> list[str] | Response:
        date_match = _DATE_CLAUSE.search(query)
        status_match = _STATUS_CLAUSE.search(query)
        if date_match is None and status_match is None:
            return self._error(400, f"cannot parse query {query!r}")
        first = last = None
        if date_match:
            try:
                first = datetime.strptime(date_match.group(1), "%d-%m-%Y").date()
                last = datetime.strptime(date_match.group(2) or date_match.group(1), "%d-%m-%Y").date()
            except ValueError:
                return self._error(400, f"invalid date in query {query!r} (use dd-mm-yyyy)")
            if last < first:
                return self._error(400, "the end of the date range lies before its start")
        wanted_status = status_match.group(1).lower() if status_match else None
        hits = []
        for event in self.events(org).values():
            day = date.fromisoformat(event["startdate"])
            if first is not None and last is not None and not first <= day <= last:
                continue
            if wanted_status and wanted_status not in event["status"]["name"].lower():
                continue
            hits.append(event)
        hits.sort(key=lambda e: (e["starttime"], e["id"]))
        return [e["id"] for e in hits]
