"""Escape hatch for ``mappings/yesplan/events.yaml``: the few rules a field spec cannot say."""

from __future__ import annotations

from typing import Any


def finish(record: dict[str, Any], raw: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Drop half-filled objects the schema refuses, and keep every location of a multi-room event."""
    production = record.get("production")
    if isinstance(production, dict) and not production.get("source_id"):
        record.pop("production")
        record.setdefault("extras", {})["production"] = raw.get("production")
    categories = record.get("categories")
    if isinstance(categories, list):
        kept = [c for c in categories if isinstance(c, dict) and c.get("label")]
        if kept:
            record["categories"] = kept
        else:
            record.pop("categories")
    locations = raw.get("locations")
    if isinstance(locations, list) and len(locations) > 1:
        # The canonical venue holds one place; Yesplan books an event in several rooms at times.
        record.setdefault("extras", {})["locations"] = locations
    return record
