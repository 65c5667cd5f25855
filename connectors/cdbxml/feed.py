"""CdbXML 3.3 documents as publiq's legacy Search API v1 served them, for the sandbox and the generator.

``xmlview`` answered ``<cdbxml><nofrecords>N</nofrecords><event …/>…</cdbxml>`` (the root shape is
the one cultuurnet/cultuurnet-xslt ``CDB_3_3_to_3_2`` transforms); each ``<event>`` follows the
element order of cultuurnet/Cdb's ``CultureFeed_Cdb_Item_Event::appendToDOM`` and the
udb3-cdbxml-service samples. The data is seeded and deterministic: realistic Flemish venues,
bilingual titles, series that cross the spring and autumn DST changes, exhibition periods,
permanent collections, cancelled and deleted shows.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from podium.sandbox import flemish
from podium.sandbox.calendar import last_sunday

NS_33 = "http://www.cultuurdatabank.com/XMLSchema/CdbXSD/3.3/FINAL"
NS_32 = "http://www.cultuurdatabank.com/XMLSchema/CdbXSD/3.2/FINAL"
_SANDBOX_NS = uuid.UUID("6f2b1c9e-3d1a-5c7e-9a4b-2c8d0e1f3a5b")

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          f'<cdbxml xmlns="{NS_33}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          f'xsi:schemaLocation="{NS_33} {NS_33}/CdbXSD.xsd">\n')
FOOTER = "</cdbxml>\n"


@dataclass(frozen=True)
class Venue:
    name: str
    street: str
    housenr: str
    zipcode: str
    city: str

    @property
    def cdbid(self) -> str:
        return str(uuid.uuid5(_SANDBOX_NS, f"venue/{self.name}"))


# The kit's venues; the seeded feed has always served CC Strombeek at number 25 (kept: same cdbids, same bytes).
VENUES = tuple(Venue(v.name, v.street, "25" if v.key == "cc-strombeek" else v.number, v.zip, v.town)
               for v in flemish.venues("cc-hasselt", "de-warande", "stadsschouwburg-brugge", "cc-strombeek",
                                       "desingel", "handelsbeurs", "het-depot", "cc-mechelen"))

# (nl title, fr title or None, eventtype catid, eventtype label, theme catid, theme label)
PROGRAMME = (
    ("Het Zwanenmeer", "Le Lac des cygnes", "0.54.0.0.0", "Dansvoorstelling", "1.9.1.0.0", "Ballet en klassieke dans"),
    ("De Vrek", "L'Avare", "0.55.0.0.0", "Theatervoorstelling", "1.3.1.0.0", "Tekst- en muziektheater"),
    ("Wachten op Godot", "En attendant Godot", "0.55.0.0.0", "Theatervoorstelling", "1.3.1.0.0",
     "Tekst- en muziektheater"),
    ("Jazz aan de Schelde", "Jazz sur l'Escaut", "0.50.4.0.0", "Concert", "1.8.2.0.0", "Jazz en blues"),
    ("Kamermuziek op zondag", "Musique de chambre du dimanche", "0.50.4.0.0", "Concert", "1.8.1.0.0",
     "Klassieke muziek"),
    ("Filmklassiekers: Daens", "Classiques du cinéma : Daens", "0.50.6.0.0", "Film", "1.7.1.0.0", "Drama"),
    ("Kindervoorstelling: Pluk van de Petteflet", None, "0.55.0.0.0", "Theatervoorstelling", "1.3.4.0.0",
     "Jeugdtheater"),
    ("Nacht van de Poëzie", "Nuit de la poésie", "0.3.1.0.0", "Lezing of congres", "1.11.2.0.0", "Poëzie"),
    ("Fanfarefestival", "Festival de fanfares", "0.50.4.0.0", "Concert", "1.8.4.0.0", "Folk en wereldmuziek"),
    ("Stand-upavond met lokaal talent", None, "0.55.0.0.0", "Theatervoorstelling", "1.3.5.0.0", "Humor en comedy"),
)
EXHIBITIONS = (
    ("Vlaamse Primitieven van dichtbij", "Les Primitifs flamands de près"),
    ("Honderd jaar affiches", "Cent ans d'affiches"),
    ("Textiel uit de Kempen", "Textiles de Campine"),
)
PERMANENT = (("Vaste collectie: stadsgeschiedenis", "Collection permanente : histoire de la ville"),
             ("Erfgoedwandeling langs de vesten", None))
FACILITY = ("3.23.1.0.0", "Voorzieningen voor rolstoelgebruikers")
WEEKSCHEME = (("monday", None), ("tuesday", ("10:00:00", "17:00:00")), ("wednesday", ("10:00:00", "17:00:00")),
              ("thursday", ("10:00:00", "17:00:00")), ("friday", ("10:00:00", "17:00:00")),
              ("saturday", ("10:00:00", "18:00:00")), ("sunday", ("13:00:00", "18:00:00")))
UPDATED_FROM = datetime(2025, 1, 6, 9, 0, 0)


@dataclass
class CdbEvent:
    """One CdbXML event as the sandbox stores it (times are naive Europe/Brussels, as CdbXML writes them)."""

    cdbid: str
    lastupdated: str
    title: dict[str, str]
    description: dict[str, str]
    venue: Venue
    organiser: str
    eventtype: tuple[str, str]
    theme: tuple[str, str] | None = None
    timestamps: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # date, start, end
    periods: list[tuple[str, str]] = field(default_factory=list)  # datefrom, dateto
    permanent: bool = False
    base_price: float | None = None
    tariffs: list[tuple[dict[str, str], float]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    wfstatus: str = "approved"
    externalid: str | None = None
    maxparticipants: int | None = None
    agefrom: int | None = None

    @property
    def occurrences(self) -> int:
        return len(self.timestamps) or len(self.periods) or 1


def _money(amount: float) -> str:
    return f"{amount:.2f}".replace(".", ",") + " €"


def make_event(rng: random.Random, index: int, organiser: str, venue: Venue | None = None) -> CdbEvent:
    """A deterministic, realistic event; ``index`` picks the calendar kind so every kind recurs."""
    kind = index % 10
    year = 2025 + (index // 10) % 2
    venue = venue or VENUES[rng.randrange(len(VENUES))]
    cdbid = str(uuid.uuid5(_SANDBOX_NS, f"event/{organiser}/{index}"))
    updated = UPDATED_FROM + timedelta(minutes=(37 * index) % 525_600, seconds=rng.randrange(60))
    nl, fr, type_id, type_label, theme_id, theme_label = PROGRAMME[rng.randrange(len(PROGRAMME))]
    event = CdbEvent(
        cdbid=cdbid, lastupdated=updated.strftime("%Y-%m-%dT%H:%M:%S"), title={"nl": nl}, description={},
        venue=venue, organiser=organiser, eventtype=(type_id, type_label), theme=(theme_id, theme_label),
        externalid=f"SANDBOX:{organiser[:12].upper().replace(' ', '')}-{index:05d}",
        maxparticipants=rng.choice((None, 120, 250, 480, 900)), agefrom=rng.choice((None, None, 6, 12, 16)))
    if fr:
        event.title["fr"] = fr
    event.description["nl"] = f"{nl} in {venue.name}: een avond om niet te missen."
    if fr:
        event.description["fr"] = f"{fr} à {venue.name} : une soirée à ne pas manquer."
    week = timedelta(weeks=rng.randrange(1, 40))
    start_day = date(year, 1, 8) + week
    if kind in (0, 1):  # a series across a DST change: three evenings, the last one on the switch day
        switch = last_sunday(year, 3 if kind == 0 else 10)
        event.timestamps = [((switch - timedelta(days=d)).isoformat(), "20:15:00", "22:30:00") for d in (2, 1)]
        event.timestamps.append((switch.isoformat(), "15:00:00", "17:15:00"))
    elif kind == 2:  # a night programme that ends after the spring switch (02:00 -> 03:00)
        switch = last_sunday(year, 3)
        event.timestamps = [((switch - timedelta(days=1)).isoformat(), "23:00:00", "05:00:00")]
        event.title = {"nl": "Nacht van de Poëzie", "fr": "Nuit de la poésie"}
        event.eventtype, event.theme = ("0.3.1.0.0", "Lezing of congres"), ("1.11.2.0.0", "Poëzie")
    elif kind == 3:  # an exhibition period
        nl, fr = EXHIBITIONS[rng.randrange(len(EXHIBITIONS))]
        event.title = {"nl": nl, **({"fr": fr} if fr else {})}
        event.periods = [(start_day.isoformat(), (start_day + timedelta(days=55)).isoformat())]
        event.eventtype, event.theme = ("0.0.0.0.0", "Tentoonstelling"), ("1.0.2.0.0", "Schilderkunst")
    elif kind == 4:  # a permanent offer
        nl, fr = PERMANENT[rng.randrange(len(PERMANENT))]
        event.title = {"nl": nl, **({"fr": fr} if fr else {})}
        event.permanent = True
        event.eventtype, event.theme = ("0.14.0.0.0", "Monument"), ("1.0.9.0.0", "Meerdere kunstvormen")
    elif kind == 5:  # cancelled: UiTdatabank 2 editors flagged it with the keyword
        event.timestamps = [(start_day.isoformat(), "20:00:00", "22:00:00")]
        event.keywords = ["geannuleerd"]
    elif kind == 6 and index % 20 == 6:  # withdrawn from the UiTdatabank
        event.timestamps = [(start_day.isoformat(), "20:00:00", None)]
        event.wfstatus = "deleted"
    elif kind == 7:  # a two-date run with a matinee
        event.timestamps = [(start_day.isoformat(), "14:30:00", "16:00:00"),
                            ((start_day + timedelta(days=1)).isoformat(), "20:00:00", "21:30:00")]
    else:
        event.timestamps = [(start_day.isoformat(), "20:00:00", "22:15:00" if rng.random() < 0.7 else None)]
    if kind in (2, 8) or rng.random() < 0.15:
        event.base_price = 0.0
        event.tariffs = [({"nl": "Basistarief", "fr": "Tarif de base"}, 0.0)]
    else:
        base = float(rng.choice((12, 15, 18, 22, 26, 32)))
        event.base_price = base
        event.tariffs = [({"nl": "Basistarief", "fr": "Tarif de base"}, base),
                         ({"nl": "-26", "fr": "-26"}, round(base * 0.7, 2)),
                         ({"nl": "UiTPAS kansentarief", "fr": "Tarif social UiTPAS"}, round(base * 0.2, 2))]
    return event


def seed_events(organiser: str, seed: int = 7, count: int = 40) -> list[CdbEvent]:
    """The sandbox's dataset for one organiser: deterministic for (organiser, seed)."""
    rng = random.Random(f"{seed}/{organiser}")
    own = next((v for v in VENUES if v.name.lower() == organiser.lower()), None)
    return [make_event(rng, i, organiser, own) for i in range(count)]


def _element(name: str, text: str, attrs: str = "") -> str:
    return f"<{name}{attrs}>{escape(text)}</{name}>"


def event_xml(event: CdbEvent) -> str:
    """The ``<event>`` element of one event (CdbXML 3.3)."""
    attrs = (f' availableto={quoteattr(_available_to(event))} cdbid="{event.cdbid}" createdby="sandbox"'
             f' creationdate="{UPDATED_FROM:%Y-%m-%dT%H:%M:%S}"'
             + (f" externalid={quoteattr(event.externalid)}" if event.externalid else "")
             + f' externalurl="https://www.uitinvlaanderen.be/agenda/e/-/{event.cdbid}"'
             f' lastupdated="{event.lastupdated}" lastupdatedby="sandbox" private="false"'
             f' wfstatus="{event.wfstatus}"')
    parts = [f"  <event{attrs}>"]
    if event.agefrom is not None:
        parts.append(f"    <agefrom>{event.agefrom}</agefrom>")
    parts.append("    <calendar>" + _calendar_xml(event) + "</calendar>")
    categories = [_element("category", event.eventtype[1], f' catid="{event.eventtype[0]}" type="eventtype"')]
    if event.theme:
        categories.append(_element("category", event.theme[1], f' catid="{event.theme[0]}" type="theme"'))
    if event.maxparticipants:
        categories.append(_element("category", FACILITY[1], f' catid="{FACILITY[0]}" type="facility"'))
    parts.append("    <categories>" + "".join(categories) + "</categories>")
    parts.append('    <contactinfo><url main="true">https://www.uitinvlaanderen.be/agenda/e/-/'
                 f"{event.cdbid}</url></contactinfo>")
    details = []
    for lang, title in event.title.items():
        body = []
        if event.description.get(lang):
            body.append(_element("longdescription", event.description[lang]))
        if event.base_price is not None:
            tariffs = "; ".join(f"{names.get(lang, names['nl'])}: {_money(amount)}" for names, amount in event.tariffs)
            body.append(f"<price><pricevalue>{event.base_price:g}</pricevalue>"
                        + (_element("pricedescription", tariffs) if tariffs else "") + "</price>")
        if event.description.get(lang):
            body.append(_element("shortdescription", event.description[lang].split(":")[0]))
        body.append(_element("title", title))
        details.append(f'<eventdetail lang="{lang}">' + "".join(body) + "</eventdetail>")
    parts.append("    <eventdetails>" + "".join(details) + "</eventdetails>")
    if event.keywords:
        parts.append("    <keywords>" + "".join(_element("keyword", k) for k in event.keywords) + "</keywords>")
    venue = event.venue
    parts.append("    <location><address><physical>" + _element("city", venue.city) + "<country>BE</country>"
                 + _element("housenr", venue.housenr) + _element("street", venue.street)
                 + _element("zipcode", venue.zipcode) + "</physical></address>"
                 + _element("label", venue.name, f' cdbid="{venue.cdbid}"') + "</location>")
    if event.maxparticipants:
        parts.append(f"    <maxparticipants>{event.maxparticipants}</maxparticipants>")
    organiser_id = str(uuid.uuid5(_SANDBOX_NS, f"organiser/{event.organiser}"))
    parts.append("    <organiser>" + _element("label", event.organiser, f' cdbid="{organiser_id}"') + "</organiser>")
    parts.append("  </event>\n")
    return "\n".join(parts)


def _available_to(event: CdbEvent) -> str:
    if event.timestamps:
        return f"{max(t[0] for t in event.timestamps)}T23:59:59"
    if event.periods:
        return f"{max(p[1] for p in event.periods)}T23:59:59"
    return "2100-01-01T00:00:00"


def _calendar_xml(event: CdbEvent) -> str:
    if event.permanent:
        days = "".join(f'<{day} opentype="closed"/>' if hours is None else
                       f'<{day} opentype="open"><openingtime from="{hours[0]}" to="{hours[1]}"/></{day}>'
                       for day, hours in WEEKSCHEME)
        return f"<permanentopeningtimes><permanent><weekscheme>{days}</weekscheme></permanent></permanentopeningtimes>"
    if event.periods:
        return "<periods>" + "".join(f"<period><datefrom>{a}</datefrom><dateto>{b}</dateto></period>"
                                     for a, b in event.periods) + "</periods>"
    stamps = []
    for day, start, end in event.timestamps:
        stamps.append("<timestamp><date>" + day + "</date>"
                      + (f"<timestart>{start}</timestart>" if start else "")
                      + (f"<timeend>{end}</timeend>" if end else "") + "</timestamp>")
    return "<timestamps>" + "".join(stamps) + "</timestamps>"


def document(events: list[CdbEvent], total: int) -> bytes:
    """One xmlview answer: ``nofrecords`` (the total over all pages) and the events of this page."""
    return (HEADER + f"  <nofrecords>{total}</nofrecords>\n" + "".join(event_xml(e) for e in events)
            + FOOTER).encode("utf-8")
