"""The listed transforms a mapping may use. Each is ``factory(arg) -> fn(value, ctx)``.

A transform gets a non-empty value and returns the converted value, or raises ``ValueError``
with a message the dead letter shows. ``TRANSFORMS`` is the registry; an unknown name in a
mapping fails at compile time with the list of known names.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale

from podium.errors import ConfigError
from podium.ids import canonical_id

Fn = Callable[[Any, Any], Any]
Factory = Callable[[Any], Fn]

LANGS = ("nl", "fr", "de", "en")
_LANG_ALIASES = {"nederlands": "nl", "dutch": "nl", "vlaams": "nl", "frans": "fr", "français": "fr",
                 "francais": "fr", "french": "fr", "duits": "de", "deutsch": "de", "german": "de",
                 "engels": "en", "english": "en"}
# Announcements houses put at the start of a title ("GEANNULEERD: Hamlet"), nl/fr/en, once for all vendors.
ANNOUNCEMENTS = {"geannuleerd": "cancelled", "afgelast": "cancelled", "geschrapt": "cancelled",
                 "annulé": "cancelled", "annulée": "cancelled", "annule": "cancelled", "annulee": "cancelled",
                 "cancelled": "cancelled", "canceled": "cancelled", "uitgesteld": "postponed",
                 "reporté": "postponed", "reportée": "postponed", "reporte": "postponed", "reportee": "postponed",
                 "postponed": "postponed", "verplaatst": "rescheduled", "rescheduled": "rescheduled"}
_ANNOUNCED = re.compile(r"^\s*(" + "|".join(sorted(ANNOUNCEMENTS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
# "Kerkstraat 12 bus 3", "Rue de la Loi 16/2", "Grote Markt 1A": street, number, box.
_BE_STREET = re.compile(r"^(?P<street>.*?\D)\s*(?P<number>\d+\s?[a-zA-Z]?)(?:\s*(?:bus|boîte|bte|b\.?|/)\s*"
                        r"(?P<box>\w+))?\s*$", re.IGNORECASE)


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value) / (1000 if value > 1e11 else 1), UTC)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = text.replace(" ", "T", 1) if "T" not in text and " " in text else text
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y", "%Y%m%dT%H%M%S"):
        try:
            return datetime.strptime(str(value).strip(), fmt)
        except ValueError:
            continue
    raise ValueError(f"not a date-time: {value!r}")


def _house_tz(ctx: Any) -> ZoneInfo:
    return ctx.timezone if ctx is not None else ZoneInfo("Europe/Brussels")


def _local_dt(value: Any, ctx: Any, naive: Any = None) -> datetime:
    parsed = _parse_datetime(value)
    if parsed.tzinfo is None:
        if str(naive or "").lower() == "utc":  # vendors that serve naive UTC timestamps
            return parsed.replace(tzinfo=UTC)
        # fold=0: in the repeated autumn hour take the first (summer-time) occurrence, as vendors mean.
        parsed = parsed.replace(tzinfo=_house_tz(ctx))
    return parsed


def local_datetime(naive: Any) -> Fn:
    """A vendor time -> ISO 8601 with the house's offset.

    Naive values are house-local wall-clock times; with the argument ``utc`` they are read as UTC.
    """
    def fn(value: Any, ctx: Any) -> str:
        parsed = _local_dt(value, ctx, naive)
        if str(naive or "").lower() == "utc":
            parsed = parsed.astimezone(_house_tz(ctx))
        return parsed.isoformat()
    return fn


def utc_datetime(naive: Any) -> Fn:
    """Any vendor time -> UTC ISO 8601 with ``Z`` (naive = house time zone, or UTC with argument ``utc``).

    What ``utc_text(_local_dt(value, ctx, naive).astimezone(UTC))`` returns, with the common case (a
    text, as JSON parsing makes it) parsed inline and a naive UTC time written without converting
    it: this runs for every order's timestamps (tests compare it with that composition).
    """
    as_utc = str(naive or "").lower() == "utc"
    fromisoformat = datetime.fromisoformat

    def fn(value: Any, ctx: Any) -> str:
        if type(value) is str:  # ``_parse_datetime``'s first try, inline
            text = value.strip()
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            if " " in text and "T" not in text:
                text = text.replace(" ", "T", 1)
            try:
                parsed = fromisoformat(text)
            except ValueError:
                parsed = _parse_datetime(value)  # the other formats it knows, or its error
        else:
            parsed = _parse_datetime(value)
        if parsed.tzinfo is None:
            if as_utc:  # already UTC: ``utc_text`` of it as it is
                if parsed.year < 1000:
                    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
                return (parsed.replace(microsecond=0) if parsed.microsecond else parsed).isoformat() + "Z"
            parsed = parsed.replace(tzinfo=_house_tz(ctx))
        return utc_text(parsed.astimezone(UTC))
    return fn


def utc_text(moment: datetime) -> str:
    """``moment`` (in UTC) as ``strftime("%Y-%m-%dT%H:%M:%SZ")`` writes it, at a fifth of its cost (every
    ticket's timestamps); ``strftime`` itself for years before 1000, which it does not pad to four digits."""
    if moment.year < 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def to_date(_: Any) -> Fn:
    """A date or date-time -> ``YYYY-MM-DD``."""
    def fn(value: Any, ctx: Any) -> str:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text).isoformat()
        return _parse_datetime(text).date().isoformat()
    return fn


def year(_: Any) -> Fn:
    """A year, or the year of a date -> int."""
    def fn(value: Any, ctx: Any) -> int:
        text = str(value).strip()
        if re.fullmatch(r"\d{4}", text):
            return int(text)
        return _parse_datetime(text).year
    return fn


def string(_: Any) -> Fn:
    """Any scalar -> str (integers stay without '.0')."""
    def fn(value: Any, ctx: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, dict | list):
            raise ValueError(f"expected a scalar, got {type(value).__name__}")
        return str(value).strip()
    return fn


def integer(_: Any) -> Fn:
    """-> int (refuses fractions)."""
    def fn(value: Any, ctx: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"not an integer: {value!r}")
        number = Decimal(str(value).strip())
        if number != number.to_integral_value():
            raise ValueError(f"not an integer: {value!r}")
        return int(number)
    return fn


def number(mode: Any) -> Fn:
    """-> float (accepts '12,50' as well as '12.50'; with the argument ``strict`` only JSON numbers)."""
    strict = str(mode or "").lower() == "strict"

    def fn(value: Any, ctx: Any) -> float:
        if isinstance(value, bool) or (strict and not isinstance(value, int | float)):
            raise ValueError(f"not a number: {value!r}")
        if isinstance(value, int | float):
            return float(value)
        return float(str(value).strip().replace(",", "."))
    return fn


def cents(_: Any) -> Fn:
    """An amount in cents -> main unit (euros)."""
    def fn(value: Any, ctx: Any) -> float:
        return float(Decimal(str(value).strip()) / 100)
    return fn


def boolean(_: Any) -> Fn:
    """true/false, 1/0, yes/no, ja/nee -> bool."""
    truthy, falsy = {"true", "1", "yes", "ja", "y", "j", "oui"}, {"false", "0", "no", "nee", "n", "non"}
    def fn(value: Any, ctx: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in truthy:
            return True
        if text in falsy:
            return False
        raise ValueError(f"not a boolean: {value!r}")
    return fn


def trim(_: Any) -> Fn:
    """Strip surrounding white space (and collapse inner runs)."""
    return lambda v, ctx: " ".join(str(v).split())


def lower(_: Any) -> Fn:
    """Trim and lower-case (e-mail addresses)."""
    return lambda v, ctx: str(v).strip().lower()


def upper(_: Any) -> Fn:
    """Trim and upper-case."""
    return lambda v, ctx: str(v).strip().upper()


def phone_e164(region: Any) -> Fn:
    """A phone number -> E.164 where parseable (default region BE), else as given."""
    default_region = str(region or "BE")
    def fn(value: Any, ctx: Any) -> str:
        text = str(value).strip()
        try:
            parsed = phonenumbers.parse(text, default_region)
        except phonenumbers.NumberParseException:
            return text
        if not phonenumbers.is_possible_number(parsed):
            return text
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return fn


def language(mode: Any) -> Fn:
    """'NL', 'nl-BE', 'Nederlands' -> nl; a language outside nl/fr/de/en is an error.

    With the argument ``lenient`` such a language gives nothing instead (the field stays empty).
    """
    lenient = str(mode or "").lower() == "lenient"

    def fn(value: Any, ctx: Any) -> str | None:
        text = str(value).strip().lower()
        code = _LANG_ALIASES.get(text, text.split("-")[0].split("_")[0])
        if code not in LANGS:
            if lenient:
                return None
            raise ValueError(f"unsupported language {value!r} (nl, fr, de, en)")
        return code
    return fn


def lang_map(arg: Any) -> Fn:
    """Text -> language map.

    A plain string becomes ``{arg or 'nl': text}``; a dict is filtered to nl/fr/de/en; a list of
    ``{lang, value}``-like items (keys given as ``arg: {lang: key, text: key}``) is folded.
    """
    default_lang = arg if isinstance(arg, str) else "nl"
    lang_key = arg.get("lang", "lang") if isinstance(arg, dict) else "lang"
    text_key = arg.get("text", "value") if isinstance(arg, dict) else "value"
    def fn(value: Any, ctx: Any) -> dict[str, str]:
        if isinstance(value, dict) and lang_key not in value:
            return {k.lower(): " ".join(str(v).split()) for k, v in value.items()
                    if k.lower() in LANGS and v is not None and str(v).strip()}
        if isinstance(value, list | dict):
            items = value if isinstance(value, list) else [value]
            out: dict[str, str] = {}
            for item in items:
                if isinstance(item, dict) and item.get(lang_key) and item.get(text_key):
                    lang = str(item[lang_key]).lower()[:2]
                    if lang in LANGS:
                        out.setdefault(lang, " ".join(str(item[text_key]).split()))
            return out
        return {default_lang: " ".join(str(value).split())}
    return fn


def _fold(text: str) -> str:
    """Lower case without accents: 'België' and 'belgie' are one key."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.strip().lower()) if not unicodedata.combining(c))


@functools.cache
def _country_codes() -> dict[str, str]:
    """Country name in nl/fr/de/en (CLDR, via babel) -> ISO 3166 alpha-2, built once."""
    codes: dict[str, str] = {}
    for lang in ("en", "de", "fr", "nl"):
        for code, name in Locale.parse(lang).territories.items():
            if len(code) == 2 and code.isalpha():
                codes[_fold(name)] = code
    return codes


def country(_: Any) -> Fn:
    """'België', 'be', 'Belgium', 'Pays-Bas' -> ISO 3166 alpha-2 (names in nl/fr/de/en from CLDR)."""
    def fn(value: Any, ctx: Any) -> str:
        text = str(value).strip()
        if len(text) == 2 and text.isalpha():
            return text.upper()
        code = _country_codes().get(_fold(text))
        if code is None:
            raise ValueError(f"unknown country {value!r}")
        return code
    return fn


def country_name(lang: Any) -> Fn:
    """ISO 3166 alpha-2 -> the country's name in ``lang`` (nl by default; CLDR, via babel)."""
    territories = Locale.parse(str(lang or "nl")).territories

    def fn(value: Any, ctx: Any) -> str:
        code = str(value).strip().upper()
        if code not in territories:
            raise ValueError(f"unknown country code {value!r}")
        return str(territories[code])
    return fn


def announced_status(only: Any) -> Fn:
    """A title announcing a change ('GEANNULEERD: …', 'Annulé', 'Uitgesteld - …') -> the event status.

    ``only``: the statuses to recognise (a name or a list); a title without an announcement gives nothing.
    """
    wanted = set(only if isinstance(only, list) else [only]) if only else set(ANNOUNCEMENTS.values())

    def fn(value: Any, ctx: Any) -> str | None:
        match = _ANNOUNCED.match(str(value))
        status = ANNOUNCEMENTS.get(match.group(1).lower()) if match else None
        return status if status in wanted else None
    return fn


_TITLE_ANNOUNCEMENT = re.compile(r"^\s*(" + "|".join(sorted(ANNOUNCEMENTS, key=len, reverse=True)) +
                                 r")\b\s*[:\-\u2013\u2014!]*\s*(.*)$", re.IGNORECASE | re.DOTALL)


def title_announcement(part: Any) -> Fn:
    """'GEANNULEERD: Hamlet' -> ``status`` (cancelled) or ``title`` (Hamlet); a title without an
    announcement followed by the real title gives no status and stays as it is."""
    wanted = str(part or "title")
    if wanted not in ("status", "title"):
        raise ValueError(f"title_announcement: part is status or title, got {part!r}")

    def fn(value: Any, ctx: Any) -> str | None:
        match = _TITLE_ANNOUNCEMENT.match(str(value))
        announced = match is not None and bool(match.group(2).strip())
        if wanted == "status":
            return ANNOUNCEMENTS[match.group(1).lower()] if announced else None  # type: ignore[union-attr]
        return match.group(2).strip() if announced else value  # type: ignore[union-attr]
    return fn


def html_text(_: Any) -> Fn:
    """HTML -> plain text: tags removed, entities decoded (``&amp;`` -> ``&``), white space collapsed."""
    tag = re.compile(r"<[^>]+>")
    return lambda v, ctx: " ".join(html.unescape(tag.sub(" ", str(v))).split())


def be_street(part: Any) -> Fn:
    """A Belgian address line 'Kerkstraat 12 bus 3' -> one part: ``street`` (default), ``number`` or ``box``."""
    wanted = str(part or "street")
    if wanted not in ("street", "number", "box"):
        raise ValueError(f"be_street: part is street, number or box, got {part!r}")

    def fn(value: Any, ctx: Any) -> str | None:
        text = " ".join(str(value).split())
        match = _BE_STREET.match(text)
        if match is None:
            return text if wanted == "street" else None
        found = match.group(wanted)
        return " ".join(found.split()).rstrip(",") if found else None
    return fn


def strip_html(_: Any) -> Fn:
    """Remove tags and collapse white space (descriptions stored as HTML)."""
    tag = re.compile(r"<[^>]+>")
    return lambda v, ctx: " ".join(tag.sub(" ", str(v)).split())


def name_part(part: Any) -> Fn:
    """A person's display name 'Jan Van den Broeck' -> ``given`` (the first word, 'Jan') or ``family`` (the
    rest, 'Van den Broeck': Dutch particles stay with the family name). A one-word name is a family name
    only (a stage name): ``given`` of it is empty.
    """
    wanted = str(part or "family")
    if wanted not in ("given", "family"):
        raise ConfigError(f"name_part: unknown part {wanted!r} (given, family)")
    def fn(value: Any, ctx: Any) -> str | None:
        words = str(value).split()
        if not words:
            return None
        if wanted == "family":
            return " ".join(words[1:] or words)
        return words[0] if len(words) > 1 else None
    return fn


def split(separator: Any) -> Fn:
    """'a;b' -> ['a', 'b'] (separator given as the argument, default ';')."""
    sep = str(separator or ";")
    return lambda v, ctx: [p.strip() for p in str(v).split(sep) if p.strip()]


def as_list(_: Any) -> Fn:
    """A single value -> [value]; a list stays a list (XML elements that may repeat)."""
    return lambda v, ctx: v if isinstance(v, list) else [v]


def first(_: Any) -> Fn:
    """A list -> its first element (a scalar passes)."""
    return lambda v, ctx: (v[0] if v else None) if isinstance(v, list) else v


def text(_: Any) -> Fn:
    """An XML node (``{'#text': …, '@attr': …}``) or scalar -> its text."""
    def fn(value: Any, ctx: Any) -> Any:
        if isinstance(value, dict):
            return value.get("#text")
        return value
    return fn


def url_segment(index: Any) -> Fn:
    """A URL or path -> one of its segments (default the last): JSON-LD ``@id`` URIs -> the vendor id."""
    position = int(index) if index is not None else -1
    def fn(value: Any, ctx: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a URL, got {type(value).__name__}")
        segments = [part for part in value.split("?")[0].split("#")[0].split("/") if part]
        try:
            return segments[position]
        except IndexError:
            raise ValueError(f"no segment {position} in {value!r}") from None
    return fn


def format_fields(template: Any) -> Fn:
    """An object (e.g. an XML node) -> ``template`` filled from its fields: ``{street} {housenr}``.

    A missing or empty field is left out (white space collapsed), so a partial address still reads well.
    """
    pattern = str(template or "")
    field = re.compile(r"\{([^{}]+)\}")

    def piece(value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("#text")
        return "" if value is None or isinstance(value, list) else str(value).strip()

    def fn(value: Any, ctx: Any) -> str:
        if not isinstance(value, dict):
            raise ValueError(f"format needs an object, got {type(value).__name__}")
        return " ".join(field.sub(lambda m: piece(value.get(m.group(1))), pattern).split())
    return fn


def calendar_kind(arg: Any) -> Fn:
    """A record -> ``single`` (one date, or one night past midnight), ``periodic`` (several days) or
    ``permanent`` (no start). The argument names the start and end fields: ``{start: a, end: b}``."""
    start_key, end_key = (arg or {}).get("start", "start"), (arg or {}).get("end", "end")

    def fn(value: Any, ctx: Any) -> str:
        if not isinstance(value, dict):
            raise ValueError(f"calendar_kind needs an object, got {type(value).__name__}")
        if value.get(start_key) in (None, ""):
            return "permanent"
        if value.get(end_key) in (None, ""):
            return "single"
        start, end = _local_dt(value[start_key], ctx), _local_dt(value[end_key], ctx)
        # Several days (an exhibition with opening hours) is a period; one evening is a single date.
        return "single" if start.date() == end.date() or (end - start).days < 1 else "periodic"
    return fn


def linked_id(entity: Any) -> Fn:
    """A vendor id -> the canonical id of the ``entity`` record it names (same house and system)."""
    if entity not in ("event", "contact", "ticket"):
        raise ValueError(f"canonical_id: entity is event, contact or ticket, got {entity!r}")

    def fn(value: Any, ctx: Any) -> str:
        return _canonical_id(ctx.house, ctx.system, str(entity), str(value).strip())
    return fn


@functools.lru_cache(maxsize=65536)
def _canonical_id(house: str, system: str, entity: str, source_id: str) -> str:
    # References repeat the same few events and contacts: hash each once (uuid5 is the costly part).
    return canonical_id(house, system, entity, source_id)


TRANSFORMS: dict[str, Factory] = {
    "string": string, "int": integer, "number": number, "cents": cents, "bool": boolean,
    "trim": trim, "lower": lower, "upper": upper, "local_datetime": local_datetime,
    "utc_datetime": utc_datetime, "date": to_date, "year": year, "phone_e164": phone_e164,
    "language": language, "lang_map": lang_map, "country": country, "strip_html": strip_html,
    "split": split, "list": as_list, "first": first, "text": text, "url_segment": url_segment,
    "format": format_fields, "country_name": country_name, "announced_status": announced_status,
    "html_text": html_text, "be_street": be_street, "canonical_id": linked_id,
    "calendar_kind": calendar_kind, "title_announcement": title_announcement, "name_part": name_part,
}
