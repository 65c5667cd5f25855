"""The mapping escape hatch for Recreatex culture events (``post:`` in ``mappings/recreatex/culture_events.yaml``).

It re-keys texts to the language Recreatex answered in, reads a cancellation from the title,
derives availability from seat counts and composes the venue name and street. No I/O.
"""

from __future__ import annotations

import re
from typing import Any

from podium.mapping.transforms import LANGS

_ANNOUNCEMENT = re.compile(
    r"^\s*(GEANNULEERD|AFGELAST|ANNUL[EÉ]E?|UITGESTELD|REPORT[EÉ]E?|VERPLAATST)\b\s*[:\-\u2013\u2014!]*\s*(.*)$",
    re.IGNORECASE | re.DOTALL)
_STATUS_WORDS = {"geannuleerd": "cancelled", "afgelast": "cancelled", "annule": "cancelled",
                 "annulee": "cancelled", "uitgesteld": "postponed", "reporte": "postponed",
                 "reportee": "postponed", "verplaatst": "rescheduled"}
LIMITED_SHARE = 0.1  # at most this share of the seats left: "limited"


def _language(raw: dict[str, Any]) -> str:
    """The language the texts were served in (``@_language`` is set by the connector; files: nl)."""
    lang = str(raw.get("@_language") or "nl").lower()[:2]
    return lang if lang in LANGS else "nl"


def _relang(text_map: Any, lang: str) -> Any:
    if isinstance(text_map, dict) and lang != "nl" and "nl" in text_map:
        return {lang: text_map["nl"]}
    return text_map


def _street(address: Any) -> str | None:
    if not isinstance(address, dict) or not address.get("Street"):
        return None
    line = " ".join(str(p).strip() for p in (address.get("Street"), address.get("Number")) if p)
    return f"{line} bus {address['Box']}" if address.get("Box") else line


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def event_post(record: dict[str, Any], raw: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Language, cancellation announced in the title, availability, venue name and street."""
    lang = _language(raw)
    title = (record.get("title") or {}).get("nl")
    if title:
        match = _ANNOUNCEMENT.match(title)
        if match and match.group(2).strip():
            word = match.group(1).lower().replace("é", "e")
            record["status"] = _STATUS_WORDS.get(word, "cancelled")
            record["title"] = {"nl": match.group(2).strip()}
    for key in ("title", "description"):
        if key in record:
            record[key] = _relang(record[key], lang)
    if "production" in record and "title" in record["production"]:
        record["production"]["title"] = _relang(record["production"]["title"], lang)
    for price in record.get("prices", []):
        if "name" in price:
            price["name"] = _relang(price["name"], lang)

    left = _int(raw.get("AvailableTotal"))
    left = left if left is not None else _int(raw.get("AvailableSeats"))
    capacity = _int(raw.get("MaxVisitors"))
    if record.get("status", "scheduled") != "scheduled" or raw.get("Status") in ("Closed", "NotForSale"):
        record["availability"] = "unavailable"
    elif left is not None:
        if left <= 0:
            record["availability"] = "sold_out"
        elif capacity and left <= capacity * LIMITED_SHARE:
            record["availability"] = "limited"
        else:
            record["availability"] = "available"

    hall = _dict(raw.get("Hall"))
    address = _dict(hall.get("Address"))
    place, room = address.get("LocationName"), hall.get("Name")
    if place or room:
        record.setdefault("venue", {})["name"] = " \u2013 ".join(str(p) for p in (place, room) if p)
    street = _street(address)
    if street:
        record.setdefault("venue", {}).setdefault("address", {})["street"] = street
    return record
