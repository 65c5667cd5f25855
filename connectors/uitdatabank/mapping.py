"""Mapping hook for UiTdatabank events: one raw event -> the raw records the YAML maps declaratively.

A ``multiple`` event carries its dates as ``subEvent``s; the canonical model wants one event per dated
occurrence, so each subEvent becomes its own raw record (dates, status and booking availability of
that subEvent) with source id ``<uuid>#<subEvent id>`` and a shared ``production``. Computed keys
start with ``@_`` so the mapping engine never copies them into ``extras``.
"""

from __future__ import annotations

from typing import Any

from podium.mapping import check_explosion

LANGS = ("nl", "fr", "de", "en")


def _uuid(raw: dict[str, Any]) -> str:
    ident = raw.get("@id")
    if not isinstance(ident, str) or not ident.strip("/"):
        raise ValueError("event without an @id URI")
    return ident.split("?")[0].rstrip("/").rsplit("/", 1)[-1]


def _lang_map(value: Any, main_language: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {k: " ".join(str(v).split()) for k, v in value.items() if k in LANGS and v and str(v).strip()}
    if isinstance(value, str) and value.strip():
        lang = main_language if main_language in LANGS else "nl"
        return {lang: " ".join(value.split())}
    return {}


def _production(raw: dict[str, Any]) -> dict[str, Any] | None:
    production = raw.get("production")
    if not isinstance(production, dict) or not production.get("id"):
        return None
    out: dict[str, Any] = {"source_id": str(production["id"])}
    title = _lang_map(production.get("title"), raw.get("mainLanguage"))
    if title:
        out["title"] = title
    return out


def explode_subevents(raw: dict[str, Any], ctx: Any) -> list[dict[str, Any]]:
    """The raw records of one event: itself, or one per subEvent for ``calendarType: multiple``."""
    uuid = _uuid(raw)
    base = {**raw, "@_source_id": uuid}
    production = _production(raw)
    if production:
        base["@_production"] = production
    subs = raw.get("subEvent")
    if raw.get("calendarType") != "multiple" or not isinstance(subs, list) or not subs:
        return [base]
    check_explosion(len(subs), "subEvents", source_id=uuid)  # before one record per subEvent is built
    series = production or {"source_id": uuid}
    if "title" not in series:
        title = _lang_map(raw.get("name"), raw.get("mainLanguage"))
        series = {**series, **({"title": title} if title else {})}
    out = []
    for index, sub in enumerate(subs):
        if not isinstance(sub, dict):
            raise ValueError(f"subEvent {index} is {type(sub).__name__}, not an object")
        number = sub.get("id", index)
        occurrence = {**base, "@_source_id": f"{uuid}#{number}", "@_production": series,
                      "startDate": sub.get("startDate"), "endDate": sub.get("endDate"), "subEvent": [sub]}
        for key in ("status", "bookingAvailability"):
            if isinstance(sub.get(key), dict):
                occurrence[key] = sub[key]
        out.append(occurrence)
    return out
