"""Mapping escape hatch for UWP: what the declarative YAML cannot say.

``finish_event`` decides the calendar kind from the period, builds the venue street from street +
house number, and turns the OSLO type/theme concepts into categories.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podium.mapping import MappingContext

# Concept schemes of the OSLO Cultuurparticipatie IRIs the data product builds from these columns
# (transformer/yarrrml-data/activiteit_yarrrml.yml: dcterms:type and cp:thema).
_CONCEPTS = {
    "activiteit_type": "https://data.cultuurparticipatie.be/id/concept/ActiviteitType/",
    "activiteit_thema": "https://data.cultuurparticipatie.be/id/concept/ThemaType/",
}


def finish_event(record: dict[str, Any], raw: dict[str, Any], ctx: MappingContext) -> dict[str, Any]:
    """Calendar (single/periodic), venue street, categories; consumed columns leave ``extras``."""
    extras = record.get("extras", {})
    start, end = record.get("start"), record.get("end")
    if start is None:
        record["calendar"] = "permanent"
    else:
        # Several days (an exhibition with opening hours) is a period; one evening is a single date.
        same_day = end is None or datetime.fromisoformat(start).date() == datetime.fromisoformat(end).date()
        long_night = end is not None and (datetime.fromisoformat(end) - datetime.fromisoformat(start)).days < 1
        record["calendar"] = "single" if same_day or long_night else "periodic"
    location = raw.get("locatie") or {}
    street = " ".join(p for p in (str(location.get("location_address_street_nl") or "").strip(),
                                  str(location.get("location_address_housenumber") or "").strip()) if p)
    if street:
        record.setdefault("venue", {}).setdefault("address", {})["street"] = street
    place = {k: location.get(c) for k, c in (("type", "location_type"), ("latitude", "location_geo_latitude"),
                                             ("longitude", "location_geo_longitude")) if location.get(c)}
    if place:  # the rest of the joined venue row, which no canonical field holds
        extras["venue"] = place
    homepage = (raw.get("organisator") or {}).get("organisator_homepage")
    if homepage:
        extras["organizer_homepage"] = homepage
    categories = []
    for column, scheme in _CONCEPTS.items():
        value = str(raw.get(column) or "").strip()
        if value:
            categories.append({"id": scheme + value, "label": value, "domain": scheme.rstrip("/").rsplit("/", 1)[-1]})
        extras.pop(column, None)
    if categories:
        record["categories"] = categories
    if extras:
        record["extras"] = extras
    else:
        record.pop("extras", None)
    return record
