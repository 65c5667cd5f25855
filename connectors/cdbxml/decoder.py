"""The CdbXML decoder: ``<event>``/``<item>`` elements as plain records with their vendor text parsed.

A CdbXML ``<event>`` carries one calendar with many dates, tariffs as text and cancellation as
keywords; the canonical model wants one record per dated occurrence with numbers and flags. The
decoder parses all of it (no mapping does parsing): each event record carries ``occurrences``, a
list of plain objects (id, dates, calendar kind, status, description, prices, info url) that
``mappings/cdbxml/events.yaml`` explodes declaratively. Calendar rules follow udb3-backend's
``CalendarFactory::createFromCdbCalendar`` (timestamps sharing a non-zero seconds value are one
multi-day span; an end before the start on the same day is the next day); tariffs follow its
``PriceDescriptionParser`` ("Basistarief: 10,50 €; Kinderen: 5,00 €", all or nothing).

It also normalises the two other shapes a CdbXML feed carries: Search API list ``<item>``s
(attributes only) become event-shaped records, and a record that cannot become an event
(``<actor>``/``<production>``, no dates, a calendar that does not parse, too many dates) carries
``refused``: the reason the mapping's ``reject`` rule turns into a dead letter, so the record still
reaches the mapping stage as one raw record with its source id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from podium.mapping.engine import MappingError, check_explosion
from podium.parsing import RecordError, XmlRecords

CANCEL_KEYWORDS = frozenset({"geannuleerd", "afgelast", "annulé", "annule", "cancelled", "canceled"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?")
_TARIFF = re.compile(r"^(?P<name>[\w\s\-+]+?)\s*:\s*(?P<value>€?\s*[\d.,]+\s*€?)$")
_SUMMARY_TOKEN = re.compile(r"(?P<date>\d{1,2}/\d{1,2}/\d{2,4})"
                            r"|van (?P<from>\d{1,2}:\d{2}) tot (?P<to>\d{1,2}:\d{2})"
                            r"|om (?P<at>\d{1,2}:\d{2})")
_SUMMARY_PERIOD = re.compile(r"^\s*van (\d{1,2}/\d{1,2}/\d{2,4}) tot (\d{1,2}/\d{1,2}/\d{2,4})")
_DETAIL_MAPPED = {"@lang", "title", "shortdescription", "longdescription", "price"}
_LANGS = ("nl", "fr", "de", "en")


def as_list(value: Any) -> list[Any]:
    """An XML child that may repeat, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    """The text of an XML node (``{'#text': …}``) or scalar, stripped."""
    if isinstance(value, dict):
        value = value.get("#text")
    return " ".join(str(value).split()) if value is not None else ""


# -- calendars --------------------------------------------------------------------------------------

def _clock(value: Any, where: str) -> str | None:
    raw = text(value)
    if not raw:
        return None
    match = _TIME.match(raw)  # tolerates "21:00:00.0000000" (CdbXML guide example 6.2)
    if not match:
        raise ValueError(f"{where}: not a time: {raw!r}")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{where}: not a time: {raw!r}")
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _day(value: Any, where: str) -> str:
    raw = text(value)
    if not _DATE.match(raw):
        raise ValueError(f"{where}: not a date: {raw!r}")
    datetime.strptime(raw, "%Y-%m-%d")
    return raw


def _chronological(start: datetime, end: datetime) -> datetime:
    if end < start and end.date() == start.date():
        end += timedelta(days=1)  # 21:00 -> 03:00 ends the next day
    return max(end, start)


def calendar_occurrences(calendar: Any) -> list[dict[str, Any]]:
    """The dated occurrences of a CdbXML ``<calendar>`` (as plain data): start/end naive local ISO.

    ``timestamps`` -> one ``single`` occurrence per date (or per multi-day span); ``periods`` (or a
    bare ``period``) -> ``periodic`` from ``datefrom`` 00:00 to ``dateto`` 23:59:59;
    ``permanentopeningtimes``/``permanent`` -> one ``permanent`` occurrence without dates.
    """
    if not isinstance(calendar, dict):
        return []
    if "timestamps" in calendar:
        stamps = as_list((calendar.get("timestamps") or {}).get("timestamp"))
        check_explosion(len(stamps), "timestamps")  # before one occurrence per timestamp is built
        return _timestamp_occurrences(stamps)
    periods = as_list((calendar.get("periods") or {}).get("period")) if "periods" in calendar else []
    periods += as_list(calendar.get("period"))
    check_explosion(len(periods), "periods")
    if periods:
        out = []
        for index, period in enumerate(periods):
            if not isinstance(period, dict):
                raise ValueError(f"period {index + 1}: empty")
            start = _day(period.get("datefrom"), f"period {index + 1} datefrom")
            end = _day(period.get("dateto"), f"period {index + 1} dateto")
            if end < start:
                raise ValueError(f"period {index + 1}: dateto {end} before datefrom {start}")
            out.append({"key": start, "calendar": "periodic", "start": f"{start}T00:00:00",
                        "end": f"{end}T23:59:59", "weekscheme": period.get("weekscheme")})
        return out
    if "permanentopeningtimes" in calendar or "permanent" in calendar:
        permanent = (calendar.get("permanentopeningtimes") or {}).get("permanent") or calendar.get("permanent")
        weekscheme = permanent.get("weekscheme") if isinstance(permanent, dict) else None
        return [{"key": "permanent", "calendar": "permanent", "weekscheme": weekscheme}]
    return []


def _timestamp_occurrences(stamps: list[Any]) -> list[dict[str, Any]]:
    singles: list[tuple[datetime, datetime | None]] = []
    spans: dict[int, list[tuple[datetime, datetime]]] = {}
    for index, stamp in enumerate(stamps):
        where = f"timestamp {index + 1}"
        if not isinstance(stamp, dict):
            raise ValueError(f"{where}: no date")
        day = _day(stamp.get("date"), where)
        start = datetime.fromisoformat(f"{day}T{_clock(stamp.get('timestart'), where) or '00:00:00'}")
        end_clock = _clock(stamp.get("timeend"), where)
        end = _chronological(start, datetime.fromisoformat(f"{day}T{end_clock}")) if end_clock else None
        if start.second > 0:  # udb3 writes a multi-day span as daily timestamps sharing this seconds index
            spans.setdefault(start.second, []).append((start, end or start))
        else:
            singles.append((start, end))
    for parts in spans.values():
        first, last = parts[0], parts[-1]
        singles.append((first[0].replace(second=0), last[1].replace(second=0) if last[1].second else last[1]))
    singles.sort(key=lambda pair: pair[0])
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for start, end in singles:
        key = start.strftime("%Y-%m-%dT%H:%M")
        while key in keys:
            key += "+"
        keys.add(key)
        occurrence: dict[str, Any] = {"key": key, "calendar": "single", "start": start.isoformat()}
        if end is not None and end != start:
            occurrence["end"] = end.isoformat()
        out.append(occurrence)
    return out


# -- prices ---------------------------------------------------------------------------------------

def _amount(value: str) -> float:
    cleaned = value.replace("€", "").strip()
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    return float(cleaned)


def parse_tariffs(description: str) -> list[tuple[str, float]] | None:
    """'Basistarief: 10,50 €; Kinderen: 5,00 €' -> [(name, amount)]; None when any part does not parse."""
    out = []
    for part in re.split(r"\s*;\s*", description.strip()):
        if not part:
            continue
        match = _TARIFF.match(part.strip())
        if not match:
            return None
        try:
            out.append((" ".join(match["name"].split()), _amount(match["value"])))
        except ValueError:
            return None
    return out or None


def event_prices(details: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Canonical prices from the ``price`` of every eventdetail, and the descriptions that did not parse."""
    base: float | None = None
    tariffs: dict[str, list[tuple[str, float]]] = {}
    unparsed: dict[str, str] = {}
    for detail in details:
        price = detail.get("price")
        if not isinstance(price, dict):
            continue
        lang = str(detail.get("@lang", "nl")).lower()[:2]
        value = text(price.get("pricevalue"))
        if value and base is None:
            try:
                base = _amount(value)
            except ValueError:
                unparsed[lang] = value
        description = text(price.get("pricedescription"))
        if description:
            parsed = parse_tariffs(description)
            if parsed is None:
                unparsed[lang] = description
            elif lang in _LANGS:
                tariffs[lang] = parsed
    prices: list[dict[str, Any]] = []
    primary = "nl" if "nl" in tariffs else next(iter(tariffs), None)
    if primary is not None:
        rows = tariffs[primary]
        if base is not None and rows[0][1] != base:
            prices.append({"category": "base", "amount": base, "currency": "EUR"})
        for index, (_name, amount) in enumerate(rows):
            names = {lang: found[index][0] for lang, found in tariffs.items()
                     if len(found) == len(rows) and found[index][1] == amount and found[index][0]}
            category = "base" if index == 0 and not prices else "tariff"
            prices.append({"category": category, "name": names, "amount": amount, "currency": "EUR"})
    elif base is not None:
        prices.append({"category": "base", "amount": base, "currency": "EUR"})
    return [p for p in prices if p["amount"] >= 0], unparsed


# -- the other record shapes ------------------------------------------------------------------------

def _summary_date(value: str) -> str:
    day, month, year = value.split("/")
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    return f"{full_year:04d}-{int(month):02d}-{int(day):02d}"


def summary_calendar(summary: str) -> dict[str, Any] | None:
    """A calendar from a Search API list ``calendarsummary`` ("do 12/12/13 van 18:00 tot 20:00")."""
    period = _SUMMARY_PERIOD.match(summary)
    if period:
        return {"periods": {"period": {"datefrom": _summary_date(period[1]), "dateto": _summary_date(period[2])}}}
    stamps: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for token in _SUMMARY_TOKEN.finditer(summary):
        if token["date"]:
            stamp = {"date": _summary_date(token["date"])}
            stamps.append(stamp)
            pending.append(stamp)
            continue
        for stamp in pending:  # "ma 11/03/13, vrij 15/03/13 om 19:30": the hour holds for both dates
            stamp["timestart"] = f"{token['from'] or token['at']}:00"
            if token["to"]:
                stamp["timeend"] = f"{token['to']}:00"
        pending = []
    return {"timestamps": {"timestamp": stamps}} if stamps else None


def _list_address(value: str) -> dict[str, str]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    out: dict[str, str] = {}
    if parts and re.fullmatch(r"[A-Z]{2}", parts[-1]):
        out["country"] = parts.pop()
    for part in parts:
        postal = re.fullmatch(r"(\d{4})\s+(.+)", part)
        if postal:
            out["zipcode"], out["city"] = postal[1], postal[2]
        elif "street" not in out:
            street = re.fullmatch(r"(.+?)\s+(\d+\w*)", part)
            out["street"], out["housenr"] = (street[1], street[2]) if street else (part, "")
    return out


def item_as_event(item: dict[str, Any]) -> dict[str, Any]:
    """A Search API v1 list ``<item>`` (attributes only) as an event-shaped record.

    What the list does not carry stays missing: no category ids, no translations, no end times
    beyond the calendarsummary, no organiser/location cdbids (``locationid`` is a numeric list id).
    """
    consumed = {"@cidn", "@title", "@shortdescription", "@modifiedon", "@externalid", "@address", "@city",
                "@location", "@locationid", "@organizer", "@eventtype", "@theme", "@price", "@pricedescription",
                "@cancelled", "@soldout", "@deeplink"}
    event = {k: v for k, v in item.items() if k not in consumed}
    event["@cdbid"] = item.get("@cidn")
    event["@lastupdated"] = item.get("@modifiedon")
    if item.get("@externalid"):
        event["@externalid"] = item["@externalid"]
    detail: dict[str, Any] = {"@lang": "nl", "title": item.get("@title")}
    if item.get("@shortdescription"):
        detail["shortdescription"] = item["@shortdescription"]
    if item.get("@price") or item.get("@pricedescription"):
        detail["price"] = {"pricevalue": item.get("@price"), "pricedescription": item.get("@pricedescription")}
    event["eventdetails"] = {"eventdetail": detail}
    calendar = summary_calendar(str(item.get("@calendarsummary") or ""))
    if calendar is not None:
        event["calendar"] = calendar
    location: dict[str, Any] = {}
    if item.get("@location"):
        location["label"] = {"#text": item["@location"], **({"@cdbid": item["@locationid"]}
                                                            if item.get("@locationid") else {})}
    if item.get("@address"):
        physical = _list_address(str(item["@address"]))
        if item.get("@city") and "city" not in physical:
            physical["city"] = item["@city"]
        location["address"] = {"physical": physical}
    if location:
        event["location"] = location
    if item.get("@organizer"):
        event["organiser"] = {"label": item["@organizer"]}
    categories = [{"@type": kind, "#text": item[f"@{kind}"]} for kind in ("eventtype", "theme") if item.get(f"@{kind}")]
    if categories:
        event["categories"] = {"category": categories}
    if item.get("@deeplink"):
        event["contactinfo"] = {"url": item["@deeplink"]}
    event["@_cancelled"] = str(item.get("@cancelled", "")).lower() == "true"
    event["@_soldout"] = str(item.get("@soldout", "")).lower() == "true"
    return event


def _keywords(raw: dict[str, Any]) -> list[str]:
    keywords = raw.get("keywords")
    if isinstance(keywords, dict) and "keyword" in keywords:  # CdbXML 3.3: <keyword> elements
        return [text(k) for k in as_list(keywords["keyword"])]
    return [k.strip() for k in re.split(r"[;,]", text(keywords))]  # CdbXML 3.2: "a;b" text


def _info_url(raw: dict[str, Any]) -> str | None:
    urls = as_list((raw.get("contactinfo") or {}).get("url")) if isinstance(raw.get("contactinfo"), dict) else []
    urls.sort(key=lambda u: not (isinstance(u, dict) and str(u.get("@main", "")).lower() == "true"))
    for url in urls:
        value = text(url)
        if re.match(r"^https?://\S+$", value):
            return value
    return None


# -- the decoder ----------------------------------------------------------------------------------

def decode_event(raw: dict[str, Any]) -> dict[str, Any]:
    """One raw CdbXML record -> a plain event record with ``occurrences`` (or ``refused``, the reason)."""
    tag = raw.get("@_tag", "event")
    if tag == "nofrecords":
        return raw
    if tag == "item":
        raw = item_as_event(raw)
    try:
        return _decoded(raw, tag)
    except MappingError as exc:  # e.g. too many dates: refused before any occurrence list is built
        return {**raw, "refused": str(exc)}


def _refused(raw: dict[str, Any], reason: str) -> dict[str, Any]:
    return {**raw, "refused": reason}


def _decoded(raw: dict[str, Any], tag: str) -> dict[str, Any]:
    if tag in ("actor", "production"):
        return _refused(raw, f"{tag}, not an event: the CdbXML events stream skips <{tag}> records "
                             f"(places, organisers and productions are not canonical events)")
    if tag not in ("event", "item"):
        return _refused(raw, f"<{tag}> is not a CdbXML event")
    cdbid = text(raw.get("@cdbid"))
    if not cdbid:
        return _refused(raw, "event without a cdbid")
    deleted = text(raw.get("@wfstatus")).lower() == "deleted"
    try:
        occurrences = calendar_occurrences(raw.get("calendar"))
    except ValueError as exc:
        if not deleted:
            return _refused(raw, f"calendar: {exc}")
        occurrences = []
    if not occurrences:
        if not deleted:
            return _refused(raw, "event has no dates: no <timestamp>, <period> or <permanent> in its calendar"
                            + (" (the list item's calendarsummary is empty)" if tag == "item" else ""))
        occurrences = [{"key": "", "calendar": None}]
    eventdetails = raw.get("eventdetails")
    details = [d for d in as_list(eventdetails.get("eventdetail") if isinstance(eventdetails, dict) else None)
               if isinstance(d, dict)]
    description: dict[str, str] = {}
    leftovers: dict[str, dict[str, Any]] = {}
    for detail in details:
        lang = str(detail.get("@lang", "nl")).lower()[:2]
        body = text(detail.get("longdescription")) or text(detail.get("shortdescription"))
        if body and lang in _LANGS:
            description.setdefault(lang, body)
        for key, value in detail.items():
            if key not in _DETAIL_MAPPED and value not in (None, "", {}, []):
                leftovers.setdefault(key, {})[lang] = value
    prices, unparsed = event_prices(details)
    cancelled = bool(raw.get("@_cancelled")) or any(k.lower() in CANCEL_KEYWORDS for k in _keywords(raw))
    record = {k: v for k, v in raw.items() if k != "calendar"}
    if leftovers:
        record["eventdetail_extras"] = leftovers
    if unparsed:
        record["pricedescription_unparsed"] = unparsed
    info = _info_url(raw)
    several = len(occurrences) > 1
    record["occurrences"] = [_occurrence(occurrence, cdbid, several, cancelled, description, prices, info,
                                         bool(raw.get("@_soldout")))
                             for occurrence in occurrences]
    return record


def _occurrence(occurrence: dict[str, Any], cdbid: str, several: bool, cancelled: bool,
                description: dict[str, str], prices: list[dict[str, Any]], info: str | None,
                soldout: bool) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "id": f"{cdbid}#{occurrence['key']}" if several else cdbid,
        "production": cdbid,
        "status": "cancelled" if cancelled else "scheduled",
        "description": description,
        "prices": prices,
    }
    for key in ("calendar", "start", "end"):
        if occurrence.get(key):
            facts[key] = occurrence[key]
    if soldout:
        facts["availability"] = "sold_out"
    if info:
        facts["info_url"] = info
    if occurrence.get("weekscheme"):
        facts["weekscheme"] = occurrence["weekscheme"]
    return facts


@dataclass(frozen=True)
class CdbXmlRecords(XmlRecords):
    """CdbXML elements as records (see ``XmlRecords``), each event decoded by ``decode_event``."""

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        for item in super().decode(data):
            yield item if isinstance(item, RecordError) else decode_event(item)
