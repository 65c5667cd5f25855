"""The mapping escape hatch for Recreatex culture events (``post:`` in ``mappings/recreatex/culture_events.yaml``).

It re-keys texts to the language Recreatex answered in, reads a cancellation from the title,
and derives availability from seat counts (the shared rule). No I/O.
"""

from __future__ import annotations

import re
from typing import Any

from podium.mapping.engine import availability_from
from podium.mapping.transforms import ANNOUNCEMENTS, LANGS

# The sector's announcement words (nl/fr/en, shared with every mapping), followed by the real title.
_ANNOUNCEMENT = re.compile(r"^\s*(" + "|".join(sorted(ANNOUNCEMENTS, key=len, reverse=True)) +
                           r")\b\s*[:\-\u2013\u2014!]*\s*(.*)$", re.IGNORECASE | re.DOTALL)
LIMITED_SHARE = 0.1  # at most this share of the seats left: "limited"


def _language(raw: dict[str, Any]) -> str:
    """The language the texts were served in (``@_language`` is set by the connector; files: nl)."""
    lang = str(raw.get("@_language") or "nl").lower()[:2]
    return lang if lang in LANGS else "nl"


def _relang(text_map: Any, lang: str) -> Any:
    if isinstance(text_map, dict) and lang != "nl" and "nl" in text_map:
        return {lang: text_map["nl"]}
    return text_map


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def event_post(record: dict[str, Any], raw: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Language of the texts, cancellation announced in the title, availability."""
    lang = _language(raw)
    title = (record.get("title") or {}).get("nl")
    if title:
        match = _ANNOUNCEMENT.match(title)
        if match and match.group(2).strip():
            record["status"] = ANNOUNCEMENTS[match.group(1).lower()]
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
        record["availability"] = availability_from(capacity, left, LIMITED_SHARE, inclusive=True)
    return record
