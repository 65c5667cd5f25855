"""A Kunstenpunt API v1 sandbox: Flemish companies, cultuurcentra, artists, productions and performances.

Serves the swagger's base path ``/v1`` (``Kunstenpunt/kunstenpunt_api_checker`` ``swagger.json``):

- ``GET /v1/organiteiten?offset=&limit=`` (filters ``organiteit_naam_begint_met``, ``active``) and
  ``GET /v1/organiteiten/{organiteit_id}``;
- ``GET /v1/podiumvoorstellingen?offset=&limit=`` (filters ``organiteit_id``, ``podiumproductie_id``,
  ``from_date``, ``until_date`` on the performance's date) and ``GET /v1/podiumvoorstellingen/{activiteit_id}``;
- ``GET /v1/buitenlandse_concerten?offset=&limit=`` (``organiteit_id``, ``from_date``, ``until_date``) and
  ``GET /v1/buitenlandse_concerten/{activiteit_id}``: Flemish musicians' concerts abroad.

Lists are **bare JSON arrays**; the number of hits is only in the ``x_total_count`` response header.
``offset`` and ``limit`` are required: a list request without them (or with a non-number) is a 400 with
the swagger's error object ``Fout {code, message, fields}``; an unknown id is a 404 ``Fout``. No auth
(the spec has none). The kit answers more than ``rate_limit`` (20) requests a second with 429 +
``Retry-After`` (Kunstenpunt documents no limit; the sandbox has one so that clients meet it).

Performances carry a date and no time (``datum``, ``YYYY-MM-DD``). The sandbox serves the swagger's
shape; the 2017 staging server's departures from it (``production``, ``ruimte``, dd/mm/yyyy dates, the
``type`` of an organiteit) are golden cases of the connector, except ``type``, which the sandbox serves
too because the mapping tells people from organisations by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks
from podium.sandbox.calendar import season_start
from podium.sandbox.datasets import TenantDatasets, tenant_random
from podium.sandbox.flemish import FAMILY_NAMES, GIVEN_NAMES, VENUES

TOTAL_HEADER = "x_total_count"
DATABASE = "kunstenpunt"  # one public database, no tenants

# Flemish performing-arts companies (their public names; everything else about them here is invented).
COMPANIES = (
    ("Toneelhuis", "Antwerpen", "03 224 88 44", "Theater"), ("FC Bergman", "Antwerpen", "03 298 11 20", "Theater"),
    ("Ontroerend Goed", "Gent", "09 233 44 70", "Theater"), ("Rosas", "Brussel", "02 344 55 98", "Dans"),
    ("Peeping Tom", "Brussel", "02 410 21 11", "Dans"), ("LOD muziektheater", "Gent", "09 266 11 33", "Muziektheater"),
    ("hetpaleis", "Antwerpen", "03 202 83 60", "Jeugdtheater"), ("Kopergietery", "Gent", "09 266 11 44", "Jeugdtheater"),
)
# Invented productions.
PRODUCTIONS = (
    "Vergeten land", "De storm", "Huis van de nacht", "Wolken boven Gent", "Het lied van de Schelde",
    "Stille zondag", "Kinderen van de kust", "Nachtwacht", "De laatste tram", "Zomervogels", "Onder het ijs",
    "Echo's uit de polder",
)
PERSON_ROLES = ("Regisseur", "Acteur", "Choreograaf", "Danser")
# (artist, venue, "city, country") of concerts abroad by Flemish musicians (the dates are invented).
CONCERTS_ABROAD = (
    ("Balthazar", "Paradiso", "Amsterdam, Nederland"), ("Warhaus", "La Cigale", "Parijs, Frankrijk"),
    ("Brussels Jazz Orchestra", "Ronnie Scott's", "Londen, Verenigd Koninkrijk"),
    ("Oscar and the Wolf", "Columbiahalle", "Berlijn, Duitsland"), ("Zwangere Guy", "Tivoli", "Utrecht, Nederland"),
    ("Echo Collective", "Elbphilharmonie", "Hamburg, Duitsland"),
)
# Performances fall within [today - DAYS_BEFORE, today + DAYS_AFTER].
DAYS_BEFORE, DAYS_AFTER = 120, 300
_DAY_FIRST = re.compile(r"(\d{2})/(\d{2})/(\d{4})")


@dataclass
class _Database:
    organiteiten: dict[int, dict[str, Any]]  # full fiches (GET /organiteiten/{id})
    producties: dict[int, dict[str, Any]]
    voorstellingen: dict[int, dict[str, Any]]  # {id, productie_id, datum, venue organiteit id}
    concerten: dict[int, dict[str, Any]]  # BuitenlandsConcert fiches, with the list's gps


def company_ids() -> list[int]:
    """The organiteit ids of the seeded companies (fixed: they do not depend on seed or today)."""
    return [_company_id(index) for index in range(len(COMPANIES))]


def _company_id(index: int) -> int:
    return 361000 + index * 13


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())


def _season(day: date) -> tuple[str, int]:
    first = season_start(day).year
    return f"{first}-{first + 1}", first


class KunstenpuntSandbox(Sandbox):
    """The Kunstenpunt API v1 with seeded performing-arts data around ``today`` (``podium.clock``)."""

    name = "kunstenpunt"
    default_port = 8711
    rate_limit_requests = 20
    rate_limit_window = 1.0

    def __init__(self, *, seed: int = 7, today: date | None = None, productions: int = len(PRODUCTIONS),
                 rate_limit: int = 20) -> None:
        super().__init__(seed=seed)
        # Kunstenpunt documents no rate limit: 20 requests a second is the sandbox's own, so clients
        # meet a 429 + Retry-After at all; tests that read much raise it.
        self.rate_limit_requests = rate_limit
        self.today = today or clock.today()
        self.productions = productions
        self._data: TenantDatasets[_Database] = TenantDatasets(self._generate)
        self._mutations = 0

    # -- data ------------------------------------------------------------------------------------
    @property
    def database(self) -> _Database:
        """The seeded database (deterministic for seed + today)."""
        return self._data.get(DATABASE)

    def _generate(self, tenant: str) -> _Database:
        rng = tenant_random("kunstenpunt", self.seed, tenant)
        organiteiten: dict[int, dict[str, Any]] = {}

        def organiteit(oid: int, name: str, kind: str, types: list[str], genres: list[str], town: str,
                       **fiche: Any) -> dict[str, Any]:
            organiteiten[oid] = {
                "id": oid, "type": kind, "toonnaam": name, "toonnaam_kort": fiche.pop("kort", None),
                "toonnaam_internationaal": None, "thesaurus": [], "beeldmateriaal": [], "downloads": [],
                "beschrijvingen_nl": fiche.pop("beschrijving", None), "beschrijvingen_en": None,
                "gelinkte_organiteiten": [], "startjaar": fiche.pop("startjaar", None), "startlocatie": town,
                "einddatum": None, "eindlocatie": None, "instrumenten": [], "organiteit_type": types,
                "genres": genres, "locatie": town, "actief": fiche.pop("actief", True),
                "gps": fiche.pop("gps", None), "websites": [], "emails": [], "adressen": [],
                "telefoonnummers": [], "activiteiten": {"podiumproducties": []}, **fiche,
            }
            return organiteiten[oid]

        venues = []
        for index, venue in enumerate(VENUES):
            venues.append(organiteit(
                363000 + index * 17, venue.name, "Organisation", ["Cultuurcentrum"], [], venue.town,
                websites=[venue.homepage] if venue.homepage else [],
                emails=[f"info@{_slug(venue.name)}.be"],
                adressen=[f"{venue.street_address}, {venue.zip} {venue.town}"],
                telefoonnummers=[f"0{rng.randrange(2, 9)} {rng.randrange(200, 999)} {rng.randrange(10, 99)} "
                                 f"{rng.randrange(10, 99)}"],
                gps={"latitude": float(venue.lat), "longitude": float(venue.lon)} if venue.lat else None,
                startjaar=rng.choice([1968, 1973, 1980, 1995, 2002]),
                beschrijving=f"{venue.long_name}, {venue.street_address}, {venue.zip} {venue.town}."))
        companies = []
        for index, (name, town, phone, genre) in enumerate(COMPANIES):
            companies.append(organiteit(
                _company_id(index), name, "Organisation", ["Gezelschap"], [genre], town,
                websites=[f"https://www.{_slug(name)}.be/"], emails=[f"info@{_slug(name)}.be"],
                adressen=[], telefoonnummers=[phone], startjaar=rng.randrange(1980, 2012),
                actief=index != len(COMPANIES) - 1,  # one company that has stopped
                beschrijving=f"{name} maakt {genre.lower()} vanuit {town}."))
        people = []
        for index in range(16):
            given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
            if index % 5 == 4:
                family = f"Van den {family}"  # a particle: stays with the family name
            role = PERSON_ROLES[index % len(PERSON_ROLES)]
            people.append(organiteit(1877400 + index * 7, f"{given} {family}", "Person", [role], [],
                                     rng.choice([v.town for v in VENUES]), startjaar=rng.randrange(1955, 1998)))

        producties: dict[int, dict[str, Any]] = {}
        voorstellingen: dict[int, dict[str, Any]] = {}
        first_day = self.today - timedelta(days=DAYS_BEFORE)
        next_show = 1990100
        for index, title in enumerate(PRODUCTIONS[: self.productions]):
            company = companies[index % len(companies)]
            director, cast = people[(index * 4) % len(people)], rng.sample(people, 2)
            coproducer = venues[rng.randrange(len(venues))]
            day = first_day + timedelta(days=rng.randrange(0, DAYS_BEFORE + DAYS_AFTER - 40))
            seizoen, beginjaar = _season(day)
            pid = 452500 + index * 11
            producties[pid] = {
                "id": pid, "titel": title, "seizoen": seizoen, "seizoen_beginjaar": beginjaar,
                "organiteiten": [
                    {"id": coproducer["id"], "naam": coproducer["toonnaam"], "functie": "coproducent"},
                    {"id": company["id"], "naam": company["toonnaam"], "functie": "gezelschap"},
                    {"id": director["id"], "naam": director["toonnaam"], "functie": "regie"},
                    *({"id": p["id"], "naam": p["toonnaam"], "functie": "met"} for p in cast),
                ],
            }
            for member in (company, coproducer, director, *cast):
                member["activiteiten"]["podiumproducties"].append(
                    {"id": pid, "titel": title, "seizoen": seizoen, "seizoen_beginjaar": beginjaar})
            touring = rng.sample(venues, 3)
            for _ in range(rng.randint(2, 7)):
                voorstellingen[next_show] = {"id": next_show, "productie_id": pid, "datum": day.isoformat(),
                                             "venue_id": rng.choice(touring)["id"]}
                next_show += rng.randint(1, 4)
                day += timedelta(days=rng.choice([1, 1, 2, 5, 12]))
        concerten: dict[int, dict[str, Any]] = {}
        for index, (artist, venue_name, location) in enumerate(CONCERTS_ABROAD):
            cid = 2112300 + index * 5
            day = first_day + timedelta(days=rng.randrange(0, DAYS_BEFORE + DAYS_AFTER))
            concerten[cid] = {
                "id": cid, "titel": f"{artist} in {venue_name}", "datum": day.isoformat(),
                "artiesten": [{"artiest_id": 212345000 + index, "artiest_naam": artist}],
                "venue": venue_name, "locatie": location, "gps": None,
                "beschrijving_nl": f"{artist} speelt in {location.split(',')[0]}.", "beschrijving_en": None}
        return _Database(organiteiten, producties, voorstellingen, concerten)

    def mutate(self, count: int) -> list[str]:
        """Move ``count`` upcoming performances a day later and rename as many companies; returns their ids."""
        changed: list[str] = []
        with self._data.lock:
            self._mutations += 1
            db = self.database
            upcoming = sorted((s for s in db.voorstellingen.values() if s["datum"] >= self.today.isoformat()),
                              key=lambda s: (s["datum"], s["id"]))
            for show in upcoming[:count]:
                show["datum"] = (date.fromisoformat(show["datum"]) + timedelta(days=1)).isoformat()
                changed.append(str(show["id"]))
            companies = [o for o in db.organiteiten.values() if "Gezelschap" in o["organiteit_type"]]
            for company in companies[:count]:
                company["beschrijvingen_nl"] = f"{company['toonnaam']} (wijziging {self._mutations})"
                changed.append(str(company["id"]))
        return changed

    # -- shapes as the swagger defines them ------------------------------------------------------
    _LIST_FIELDS = ("id", "type", "toonnaam", "instrumenten", "organiteit_type", "genres", "startjaar", "locatie",
                    "gps", "actief")

    def organiteit_item(self, fiche: dict[str, Any]) -> dict[str, Any]:
        """``OrganiteitenItem``."""
        return {key: fiche[key] for key in self._LIST_FIELDS}

    def organiteit_fiche(self, fiche: dict[str, Any]) -> dict[str, Any]:
        """``Organiteit`` (the detail)."""
        return {key: value for key, value in fiche.items() if key not in ("organiteit_type", "locatie", "gps")}

    def _place(self, show: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
        venue = self.database.organiteiten[show["venue_id"]]
        return venue, [venue["toonnaam"]], [venue["locatie"]]

    def voorstelling_item(self, show: dict[str, Any]) -> dict[str, Any]:
        """``PodiumVoorstellingenItem``: the production only by title, its owners only by name."""
        productie = self.database.producties[show["productie_id"]]
        venue, ruimtes, locaties = self._place(show)
        owners = [o["naam"] for o in productie["organiteiten"] if o["functie"] in ("gezelschap", "regie")]
        return {"id": show["id"], "productie_titel": productie["titel"], "productie_eigenaars": owners,
                "ruimtes": ruimtes, "locaties": locaties, "datum": show["datum"], "gps": venue["gps"]}

    def voorstelling_fiche(self, show: dict[str, Any]) -> dict[str, Any]:
        """``PodiumVoorstelling``: the whole ``PodiumProductie`` under ``productie``, its performances included."""
        productie = self.database.producties[show["productie_id"]]
        siblings = sorted((s for s in self.database.voorstellingen.values() if s["productie_id"] == productie["id"]),
                          key=lambda s: (s["datum"], s["id"]))
        _, ruimtes, locaties = self._place(show)
        return {"id": show["id"], "productie": {**productie, "voorstellingen": [self.voorstelling_item(s)
                                                                              for s in siblings]},
                "ruimtes": ruimtes, "locaties": locaties, "datum": show["datum"]}

    @staticmethod
    def concert_item(concert: dict[str, Any]) -> dict[str, Any]:
        """``BuitenlandseConcertenItem``: artists by name, the place as ``location``."""
        return {"id": concert["id"], "titel": concert["titel"],
                "artiesten": [a["artiest_naam"] for a in concert["artiesten"]], "datum": concert["datum"],
                "venue": concert["venue"], "location": concert["locatie"], "gps": concert["gps"]}

    @staticmethod
    def concert_fiche(concert: dict[str, Any]) -> dict[str, Any]:
        """``BuitenlandsConcert`` (the detail)."""
        return {key: value for key, value in concert.items() if key != "gps"}

    # -- serving ---------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        if request.method != "GET":
            raise Refused(405, f"methode {request.method} niet toegelaten")
        match = re.fullmatch(r"/v1/(organiteiten|podiumvoorstellingen|buitenlandse_concerten)(?:/([^/]+))?/?",
                             request.path)
        if match is None:
            raise Refused(404, f"onbekende resource {request.path}")
        resource, item_id = match.groups()
        db = self.database
        if item_id is not None:
            checks.require(item_id.isdigit(), 400, f"{item_id!r} is geen geldig id")
            with self._data.lock:
                if resource == "organiteiten":
                    fiche = db.organiteiten.get(int(item_id))
                    checks.require(fiche is not None, 404, f"organiteit {item_id} niet gevonden")
                    return Response.json(self.organiteit_fiche(fiche))  # type: ignore[arg-type]
                if resource == "buitenlandse_concerten":
                    concert = db.concerten.get(int(item_id))
                    checks.require(concert is not None, 404, f"buitenlands concert {item_id} niet gevonden")
                    return Response.json(self.concert_fiche(concert))  # type: ignore[arg-type]
                show = db.voorstellingen.get(int(item_id))
                checks.require(show is not None, 404, f"podiumvoorstelling {item_id} niet gevonden")
                return Response.json(self.voorstelling_fiche(show))  # type: ignore[arg-type]
        offset, limit = self._page(request)
        with self._data.lock:
            if resource == "organiteiten":
                items = [self.organiteit_item(o) for o in self._organiteiten(request)]
            elif resource == "buitenlandse_concerten":
                items = [self.concert_item(c) for c in self._concerten(request)]
            else:
                items = [self.voorstelling_item(s) for s in self._voorstellingen(request)]
        raw = self.take_raw()
        if raw is not None:
            return Response(raw[0], raw[1], {"Content-Type": "application/json", TOTAL_HEADER: str(len(items))})
        return Response.json(items[offset: offset + limit], headers={TOTAL_HEADER: str(len(items))})

    @staticmethod
    def _page(request: Request) -> tuple[int, int]:
        for name in ("offset", "limit"):
            checks.require(bool(request.arg(name)), 400, f"parameter {name} is verplicht", kind=name)
        params = checks.int_params(request, {"offset": 0, "limit": 0}, "offset en limit moeten gehele getallen zijn",
                                   kind="offset,limit")
        checks.require(params["offset"] >= 0 and params["limit"] >= 1, 400,
                       "offset moet >= 0 en limit >= 1 zijn", kind="offset,limit")
        return params["offset"], params["limit"]

    def _organiteiten(self, request: Request) -> list[dict[str, Any]]:
        found = sorted(self.database.organiteiten.values(), key=lambda o: o["id"])
        prefix = (request.arg("organiteit_naam_begint_met") or "").strip().lower()
        if prefix:
            found = [o for o in found if o["toonnaam"].lower().startswith(prefix)]
        active = (request.arg("active") or "").strip().lower()
        if active:
            checks.require(active in ("true", "false"), 400, "active is true of false", kind="active")
            found = [o for o in found if bool(o["actief"]) == (active == "true")]
        return found

    def _voorstellingen(self, request: Request) -> list[dict[str, Any]]:
        db = self.database
        found = sorted(db.voorstellingen.values(), key=lambda s: (s["datum"], s["id"]))
        organiteit_id = request.arg("organiteit_id")
        if organiteit_id:
            checks.require(organiteit_id.isdigit(), 400, "organiteit_id is een getal", kind="organiteit_id")
            found = [s for s in found if s["venue_id"] == int(organiteit_id) or any(
                o["id"] == int(organiteit_id) for o in db.producties[s["productie_id"]]["organiteiten"])]
        productie_id = request.arg("podiumproductie_id")
        if productie_id:
            checks.require(productie_id.isdigit(), 400, "podiumproductie_id is een getal", kind="podiumproductie_id")
            found = [s for s in found if s["productie_id"] == int(productie_id)]
        first, last = _date_param(request, "from_date"), _date_param(request, "until_date")
        return [s for s in found if (first is None or s["datum"] >= first) and (last is None or s["datum"] <= last)]

    def _concerten(self, request: Request) -> list[dict[str, Any]]:
        found = sorted(self.database.concerten.values(), key=lambda c: (c["datum"], c["id"]))
        organiteit_id = request.arg("organiteit_id")
        if organiteit_id:
            checks.require(organiteit_id.isdigit(), 400, "organiteit_id is een getal", kind="organiteit_id")
            found = [c for c in found if any(a["artiest_id"] == int(organiteit_id) for a in c["artiesten"])]
        first, last = _date_param(request, "from_date"), _date_param(request, "until_date")
        return [c for c in found if (first is None or c["datum"] >= first) and (last is None or c["datum"] <= last)]

    def error(self, refusal: Refused) -> Response:
        """The swagger's ``Fout``: ``{code, message, fields}``."""
        return Response.json({"code": refusal.status, "message": refusal.message, "fields": refusal.kind or None},
                             refusal.status)

    def rate_limited(self) -> Response:
        return Response.json({"code": 429, "message": "te veel aanvragen", "fields": None}, 429,
                             {"Retry-After": str(self.retry_after_seconds)})


def _date_param(request: Request, name: str) -> str | None:
    """A date filter as ISO text; the 2017 checker sent dd/mm/yyyy, the swagger says only 'string'."""
    value = (request.arg(name) or "").strip()
    if not value:
        return None
    day_first = _DAY_FIRST.fullmatch(value)
    if day_first:
        value = f"{day_first.group(3)}-{day_first.group(2)}-{day_first.group(1)}"
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise Refused(400, f"{name}: {value!r} is geen datum", name) from None
