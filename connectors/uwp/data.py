"""Deterministic, realistic UWP data-product drops: the real sample rows plus generated Flemish rows.

Used by the sandbox (a seeded bucket) and by ``generate.py`` (a drop of any size). The column
names are those of the real export (``samples/*.csv``, copied from cultuurnet/uwp-demo-dataproduct);
the generated activities add three columns the real demo export leaves out but the data product's
own vocabulary has (see README): ``activiteit_name_fr``, ``activiteit_description_fr`` and
``activiteit_status``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from podium.sandbox import flemish

SAMPLES = Path(__file__).resolve().parent / "samples"
BRUSSELS = ZoneInfo("Europe/Brussels")
EXTRA_ACTIVITY_COLUMNS = ["activiteit_name_fr", "activiteit_description_fr", "activiteit_status"]


@dataclass
class CsvFile:
    """One file of a drop: its rows, and how the exporter wrote it (encoding, BOM)."""

    name: str
    header: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    encoding: str = "utf-8"  # utf-8 | utf-8-sig (BOM) | cp1252
    malformed_after: int | None = None  # index of a row after which a broken line is written

    def render(self) -> bytes:
        """The file's bytes as the exporter would write them."""
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header)
        for index, row in enumerate(self.rows):
            writer.writerow([row.get(column, "") for column in self.header])
            if self.malformed_after == index:
                # An unquoted comma inside a title: one field too many, as hand-edited exports do.
                buffer.write("ffffffff,1971,11002A00,ANTWERPEN-CENTRUM,ffffffff,2024-11-02T20:15:00+01:00,"
                             "285c5de7,theater,Hamlet, de voorstelling\n")
        return buffer.getvalue().encode(self.encoding)


def read_sample(name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of one real sample file."""
    with (SAMPLES / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def hex_id(*parts: object) -> str:
    """An 8-hex-digit id like the real export's, stable for the same parts."""
    return hashlib.sha1("/".join(str(p) for p in parts).encode()).hexdigest()[:8]


def local_iso(moment: datetime) -> str:
    """Brussels wall time with its offset, as the exporter writes it (``2024-10-27T02:30:00+01:00``)."""
    return moment.astimezone(BRUSSELS).isoformat(timespec="seconds")


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# The kit's venues as the export lists them: (id key, name, street, number, postcode, city, location type,
# organiser name, homepage, lat, lon). Id keys, location types and organisers are the export's own.
_EXPORT = (("cc-hasselt", "cultuurcentrum", "Cultuurcentrum Hasselt"), ("warande", "cultuurcentrum", "De Warande vzw"),
           ("ssb-brugge", "theaterzaal", "Cultuurcentrum Brugge"), ("cc-strombeek", "cultuurcentrum", "CC Strombeek vzw"),
           ("desingel", "concertzaal", "deSingel internationale kunstcampus"),
           ("handelsbeurs", "concertzaal", "Handelsbeurs vzw"), ("kaaitheater", "theaterzaal", "Kaaitheater vzw"),
           ("schouwburg-kortrijk", "theaterzaal", "Schouwburg Kortrijk"))
VENUES = [(key, v.name, v.street, v.number, v.zip, v.municipality, loc_type, organiser, v.homepage, v.lat, v.lon)
          for v, (key, loc_type, organiser) in zip(
              flemish.venues("cc-hasselt", "de-warande", "stadsschouwburg-brugge", "cc-strombeek", "desingel",
                             "handelsbeurs", "kaaitheater", "schouwburg-kortrijk"), _EXPORT, strict=True)]

# (title nl, title fr or "", description nl, description fr or "", type, thema, performer, performer thema)
PRODUCTIONS = [
    ("Het Lam Gods", "L'Agneau mystique", "Een muziektheaterstuk over het beroemdste altaarstuk van Vlaanderen.",
     "Un spectacle musical autour du retable le plus célèbre de Flandre.", "theatervoorstelling", "theater",
     "FC Bergman", "podiumkunsten"),
    ("Rosas danst Rosas", "Rosas danst Rosas", "Het iconische dansstuk van Anne Teresa De Keersmaeker.",
     "La pièce iconique d'Anne Teresa De Keersmaeker.", "dansvoorstelling", "dans",
     "Rosas", "podiumkunsten"),
    ("Brussels Philharmonic speelt Ravel", "Le Brussels Philharmonic joue Ravel",
     "Boléro, La Valse en het Pianoconcerto in G.", "Boléro, La Valse et le Concerto en sol.",
     "concert", "klassiekeMuziek", "Brussels Philharmonic", "muziek"),
    ("Zoë en de zee", "", "Familievoorstelling vanaf 6 jaar over een meisje dat de zee wil leegscheppen.", "",
     "theatervoorstelling", "theater", "Zoë Demoustier & Théâtre Variété", "podiumkunsten"),
    ("Jazz in de Warande: Aka Moon", "Jazz à la Warande : Aka Moon", "Het Brusselse trio viert 30 jaar.",
     "Le trio bruxellois fête ses 30 ans.", "concert", "jazzEnBlues", "Aka Moon", "muziek"),
    ("Wim Opbrouck zingt", "", "Chansons, Nederlandstalig en Frans, met een strijkkwartet.", "",
     "concert", "meerdereKunstvormen", "Wim Opbrouck", "muziek"),
    ("Lezing: Stefan Hertmans", "", "De schrijver over zijn nieuwste roman.", "",
     "lezing", "literatuur", "Stefan Hertmans", "literatuur"),
    ("Nachtfestival: lentewende", "Festival de nuit : équinoxe", "Een nacht vol elektronische muziek en video.",
     "Une nuit de musique électronique et de vidéo.", "festival", "meerdereKunstvormen",
     "Ictus & Stray Dogs", "muziek"),
    ("Ça ira (1) Fin de Louis", "Ça ira (1) Fin de Louis", "Joël Pommerat over de Franse Revolutie.",
     "Joël Pommerat et la Révolution française.", "theatervoorstelling", "theater",
     "Compagnie Louis Brouillard", "podiumkunsten"),
]

# Shows with a fixed date: DST-crossing nights and late-March / late-October performances.
FIXED_DATES = [
    (datetime(2025, 3, 29, 22, 0), timedelta(hours=6)),    # crosses 2025-03-30 02:00 CET -> CEST
    (datetime(2024, 10, 26, 22, 0), timedelta(hours=5)),   # crosses 2024-10-27 03:00 CEST -> CET
    (datetime(2025, 3, 28, 20, 15), timedelta(hours=2)),
    (datetime(2025, 3, 31, 20, 15), timedelta(hours=2)),
    (datetime(2025, 10, 25, 20, 0), timedelta(hours=2, minutes=30)),
    (datetime(2025, 10, 27, 20, 0), timedelta(hours=2, minutes=30)),
]

# (statistical sector id, name): NIS municipality code + sector, names as Statbel writes them.
SECTORS = [
    ("71022A00", "HASSELT-CENTRUM"), ("13040A00", "TURNHOUT-CENTRUM"), ("31005A00", "BRUGGE-CENTRUM"),
    ("23025A11", "STROMBEEK-BEVER-CENTRUM"), ("11002A00", "ANTWERPEN-CENTRUM"),
    ("44021A00", "GENT-CENTRUM"), ("34022A00", "KORTRIJK-CENTRUM"), ("24062A00", "LEUVEN-CENTRUM"),
    ("21009A21", "ELSENE-VIJVERS / IXELLES-ÉTANGS"), ("21005A02", "ETTERBEEK-CHÂTELAIN"),
]

AVAILABILITY = ["InStock", "InStock", "LimitedAvailability", "SoldOut"]
STATUS = ["EventScheduled"] * 8 + ["EventCancelled", "EventPostponed"]


@dataclass
class Drop:
    """All files of one data-product drop, by file name."""

    files: dict[str, CsvFile]

    def __getitem__(self, name: str) -> CsvFile:
        return self.files[name]


def build_drop(name: str, *, activities: int = 36, participants: int = 60, participations: int = 150,
               malformed_row: bool = True) -> Drop:
    """A drop seeded from ``name`` (a bucket/prefix or house): the same name gives the same bytes."""
    rng = random.Random(name)
    base = datetime(2024, 9, 2, 9, 0, tzinfo=UTC)

    loc_header, loc_rows = read_sample("locatie_results.csv")
    org_header, org_rows = read_sample("organisator_results.csv")
    per_header, per_rows = read_sample("uitvoerder_results.csv")
    act_header, act_rows = read_sample("activiteit_results.csv")
    price_header, price_rows = read_sample("activiteit_prijsinfo_mapping.csv")
    hours_header, hours_rows = read_sample("activiteit_beschikbaarheid_mapping.csv")
    pp_header, pp_rows = read_sample("participant_results.csv")
    dn_header, dn_rows = read_sample("deelname_results.csv")

    venues = []
    for key, title, street, number, postcode, city, loc_type, org_name, homepage, lat, lon in VENUES:
        created = base - timedelta(days=rng.randint(400, 4000))
        modified = base + timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 600))
        location_id, organizer_id = hex_id(name, "locatie", key), hex_id(name, "organisator", key)
        loc_rows.append({
            "locatie_createddate": local_iso(created), "locatie_modifieddate": local_iso(modified),
            "location_id": location_id, "location_name_nl": title, "location_address_street_nl": street,
            "location_address_housenumber": number, "location_address_postcode": postcode,
            "location_address_postName_nl": city, "location_address_country": "BE",
            "location_geo_latitude": lat, "location_geo_longitude": lon, "location_type": loc_type,
            "locatie_processeddate": utc_iso(modified + timedelta(hours=6)),
        })
        org_rows.append({
            "organisator_id": organizer_id, "organisator_creationdate": local_iso(created),
            "organisator_modifieddate": local_iso(modified), "organisator_processeddate": utc_iso(modified),
            "organisator_name_nl": org_name, "organisator_homepage": homepage,
            "organisator_address_postname_nl": city, "organisator_address_postcode": postcode,
            "organisator_address_country": "BE", "organisator_address_street_nl": street,
            "organisator_address_housenumber": number, "organisator_geo_latitude": lat,
            "organisator_geo_longitude": lon,
        })
        venues.append((location_id, organizer_id, title))

    performers = {}
    for production in PRODUCTIONS:
        performer, thema = production[6], production[7]
        if performer in performers:
            continue
        performer_id = hex_id(name, "uitvoerder", performer)
        created = base - timedelta(days=rng.randint(100, 900))
        per_rows.append({
            "uitvoerder_id": performer_id, "uitvoerder_creationdate": local_iso(created),
            "uitvoerder_modifieddate": local_iso(created + timedelta(days=3)),
            "uitvoerder_processedDate": local_iso(created + timedelta(days=4)), "uitvoerder_thema": thema,
            "uitvoerder_name_nl": performer,
            "uitvoerder_homepage": f"https://www.example.be/{hex_id(performer)}",
        })
        performers[performer] = performer_id

    act_header = act_header + EXTRA_ACTIVITY_COLUMNS
    act_rows[0].update({"activiteit_name_fr": "", "activiteit_description_fr": "",
                        "activiteit_status": "EventScheduled"})
    price_id = len(price_rows)
    activity_info = []
    for index in range(activities):
        production = PRODUCTIONS[index % len(PRODUCTIONS)]
        title_nl, title_fr, desc_nl, desc_fr, act_type, thema, performer, _ = production
        location_id, organizer_id, _ = venues[(index * 3 + index // len(PRODUCTIONS)) % len(venues)]
        if index < len(FIXED_DATES):
            start_local, duration = FIXED_DATES[index]
        else:
            start_local = datetime(2024, 9, 20, 20, 0) + timedelta(days=index * 9 + rng.randint(0, 5))
            duration = timedelta(hours=2)
        start = start_local.replace(tzinfo=BRUSSELS)
        end = (start.astimezone(UTC) + duration).astimezone(BRUSSELS)
        created = base + timedelta(days=index, hours=rng.randint(0, 8))
        modified = created + timedelta(days=rng.randint(0, 30), minutes=rng.randint(1, 500))
        status = "EventScheduled" if index < len(FIXED_DATES) else rng.choice(STATUS)
        activity_id = hex_id(name, "activiteit", index)
        booking_start = start - timedelta(days=120)
        act_rows.append({
            "activiteit_id": activity_id, "activiteit_creationdate": local_iso(created),
            "activiteit_modifieddate": local_iso(modified),
            "activiteit_processeddate": utc_iso(modified + timedelta(hours=6)),
            "activiteit_name_nl": title_nl, "activiteit_description_nl": desc_nl,
            "activiteit_type": act_type, "activiteit_thema": thema, "activiteit_location_id": location_id,
            "activiteit_startDate": local_iso(start), "activiteit_endDate": local_iso(end),
            "activiteit_organizer_id": organizer_id, "activiteit_performer_id": performers[performer],
            "activiteit_locatietype": "fysiek", "aantal_beschikbare_tickets": str(rng.randint(0, 400)),
            "ticket_beschikbaarheid": rng.choice(AVAILABILITY), "boeking_startDate": local_iso(booking_start),
            "boeking_endDate": local_iso(start - timedelta(hours=1)),
            "boeking_link": f"https://tickets.example.be/{activity_id}", "boeking_email": "tickets@example.be",
            "boeking_tel": "+3211223344", "activiteit_name_fr": title_fr, "activiteit_description_fr": desc_fr,
            "activiteit_status": status,
        })
        activity_info.append((activity_id, thema, act_type, status, start))
        base_price = rng.choice([12, 15, 18, 22.5, 25, 32])
        tariffs = [("basis", "Basistarief", "Tarif de base", base_price),
                   ("tarief", "-26 jaar", "-26 ans", round(base_price * 0.6, 2)),
                   ("uitpas", "UiTPAS kansentarief", "UiTPAS tarif social", round(base_price * 0.2, 2))]
        for category, label_nl, label_fr, amount in tariffs[: rng.randint(1, 3)]:
            price_id += 1
            price_rows.append({"prijs_id": str(price_id), "prijs_activiteitId": activity_id,
                               "prijscategorie": category, "prijslabelNL": label_nl, "prijslabelFR": label_fr,
                               "prijs_value": f"{amount}", "prijs_currency": "EUR"})
        if act_type == "tentoonstelling":
            for day in ("Saturday", "Sunday"):
                hours_rows.append({"beschikbaarheid_id": str(len(hours_rows) + 1),
                                   "beschikbaarheid_activiteit_id": activity_id, "dayofweek": day,
                                   "openingsuur": "10:00", "sluitingsuur": "18:00"})

    people = [(pp_rows[0]["participant_id"], pp_rows[0]["participant_birthyear"],
               pp_rows[0]["participant_statsector_id"], pp_rows[0]["participant_statsector_name"])]
    for index in range(participants):
        sector_id, sector_name = SECTORS[index % len(SECTORS)]
        created = base + timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 1400))
        modified = created + timedelta(days=rng.randint(0, 20))
        person_id = hex_id(name, "participant", index)
        birth_year = str(rng.randint(1942, 2012))
        pp_rows.append({"participant_id": person_id, "participant_creationdate": local_iso(created),
                        "participant_modifieddate": local_iso(modified), "participant_birthyear": birth_year,
                        "participant_statsector_id": sector_id, "participant_statsector_name": sector_name,
                        "participant_processeddate": utc_iso(modified + timedelta(hours=6))})
        people.append((person_id, birth_year, sector_id, sector_name))

    held = [a for a in activity_info if a[3] != "EventCancelled"]
    for index in range(participations):
        activity_id, thema, act_type, _, start = held[index % len(held)]
        person_id, birth_year, sector_id, sector_name = people[rng.randrange(len(people))]
        at = start + timedelta(minutes=rng.randint(-40, 5))
        dn_rows.append({"participant_id": person_id, "participant_birthyear": birth_year,
                        "participant_statsector_id": sector_id, "participant_statsector_name": sector_name,
                        "deelname_id": hex_id(name, "deelname", index), "deelname_modifieddate": local_iso(at),
                        "event_id": activity_id, "event_theme": thema, "event_type": act_type})

    files = [
        CsvFile("activiteit_results.csv", act_header, act_rows, "utf-8-sig"),
        CsvFile("participant_results.csv", pp_header, pp_rows, "cp1252"),
        CsvFile("deelname_results.csv", dn_header, dn_rows, "utf-8",
                malformed_after=len(dn_rows) // 2 if malformed_row else None),
        CsvFile("locatie_results.csv", loc_header, loc_rows, "utf-8"),
        CsvFile("organisator_results.csv", org_header, org_rows, "utf-8"),
        CsvFile("uitvoerder_results.csv", per_header, per_rows, "cp1252"),
        CsvFile("activiteit_prijsinfo_mapping.csv", price_header, price_rows, "utf-8"),
        CsvFile("activiteit_beschikbaarheid_mapping.csv", hours_header, hours_rows, "utf-8"),
    ]
    return Drop({f.name: f for f in files})


# Stream files the sandbox's ``mutate`` changes, with their id and modified-date columns.
MUTABLE = {
    "activiteit_results.csv": ("activiteit_id", "activiteit_modifieddate"),
    "participant_results.csv": ("participant_id", "participant_modifieddate"),
    "deelname_results.csv": ("deelname_id", "deelname_modifieddate"),
}


def newest_change(drop: Drop) -> datetime | None:
    """The latest ``modifieddate`` of the stream files ``mutate`` changes (None when none parses)."""
    stamps = []
    for file_name, (_, modified_column) in MUTABLE.items():
        for row in drop[file_name].rows:
            try:
                moment = datetime.fromisoformat((row.get(modified_column) or "").replace("Z", "+00:00"))
            except ValueError:
                continue
            stamps.append(moment if moment.tzinfo else moment.replace(tzinfo=BRUSSELS))
    return max(stamps, default=None)


def mutate_drop(drop: Drop, count: int, now: datetime, turn: int) -> list[str]:
    """Bump ``modifieddate`` to ``now`` on ``count`` rows of every stream file; returns their ids."""
    changed = []
    for file_name, (id_column, modified_column) in MUTABLE.items():
        rows = drop[file_name].rows
        for step in range(min(count, len(rows))):
            row = rows[(turn * count + step) % len(rows)]
            row[modified_column] = local_iso(now)
            if file_name == "activiteit_results.csv":
                tickets = row.get("aantal_beschikbare_tickets") or "0"
                row["aantal_beschikbare_tickets"] = str(max(int(tickets) - 1, 0)) if tickets.isdigit() else "0"
            changed.append(row[id_column])
    return changed
