"""The fleet at a glance: one cell per house × connector, and what the operations team needs to act.

Built from the store's read API (``podium.store.history``) and the house configs (for the house's
name, its kind and the connectors it enables — a configured pair that never ran shows as such). No
Airflow here: the Airflow plugin renders it (``plugins/podium_provider/cockpit``), a CLI or another
UI could too.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from podium.errors import advice
from podium.paths import houses_dir as default_houses_dir
from podium.store import history


@dataclass(frozen=True)
class HouseInfo:
    key: str
    name: str
    kind: str
    connectors: dict[str, str | None]  # enabled connector -> its credentials.conn_id (None for env credentials)


@dataclass
class PairStatus:
    """One cell of the matrix: the last sync of a house × connector."""

    house: str
    connector: str
    status: str  # succeeded | rejections | failed | interrupted | running | never
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    changed: int = 0
    rejected: int = 0
    open_dead_letters: int = 0
    cursor: str | None = None
    cursor_lag_seconds: float | None = None
    error_class: str | None = None
    error: str | None = None
    failed_stream: str | None = None

    def success_age_seconds(self, now: datetime) -> float | None:
        return (now - self.last_success_at).total_seconds() if self.last_success_at else None


@dataclass
class FleetMatrix:
    now: datetime
    houses: list[HouseInfo]
    connectors: list[str]
    cells: dict[tuple[str, str], PairStatus] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many cells are in each status (the headline above the matrix)."""
        totals: dict[str, int] = {}
        for cell in self.cells.values():
            totals[cell.status] = totals.get(cell.status, 0) + 1
        return totals

    def as_json(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "connectors": self.connectors,
                "houses": [asdict(h) for h in self.houses],
                "cells": [{**asdict(cell), "success_age_seconds": cell.success_age_seconds(self.now)}
                          for cell in self.cells.values()]}


def read_houses(folder: str | os.PathLike[str] | None = None) -> list[HouseInfo]:
    """Key, name, kind and enabled connectors of every house file (a light read: no validation; a file
    that cannot be read is left to ``podium_fleet_config_errors``, which reports it)."""
    houses = []
    for path in sorted(Path(folder or default_houses_dir()).glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("connectors"), dict):
            continue
        connectors: dict[str, str | None] = {}
        for name, spec in data["connectors"].items():
            spec = spec if isinstance(spec, dict) else {}
            if spec.get("enabled", True) is not False:
                credentials = spec.get("credentials")
                connectors[str(name)] = (str(credentials["conn_id"]) if isinstance(credentials, dict)
                                         and credentials.get("conn_id") else None)
        houses.append(HouseInfo(key=str(data.get("house") or path.stem), name=str(data.get("name") or path.stem),
                                kind=str(data.get("kind") or "unknown"), connectors=connectors))
    return houses


def _cursor_lag(cursor: Any, now: datetime) -> float | None:
    """Seconds between now and a cursor that is a point in time (None for offsets, tokens, ids)."""
    if not isinstance(cursor, str) or len(cursor) < 10:
        return None
    try:
        moment = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return max(0.0, (now - moment).total_seconds())


def fleet_matrix(store: Any, houses_dir: str | os.PathLike[str] | None = None, *, now: datetime | None = None,
                 kind: str | None = None, connector: str | None = None, house: str | None = None) -> FleetMatrix:
    """The house × connector matrix, optionally only one house kind, one connector or one house."""
    now = now or datetime.now(UTC)
    houses = [h for h in read_houses(houses_dir)
              if (kind is None or h.kind == kind) and (house is None or h.key == house)]
    known = {h.key for h in houses}
    latest = [row for row in store.status(house)
              if (connector is None or row["connector"] == connector)
              and (row["house"] in known or (kind is None and house in (None, row["house"])))]
    successes = history.last_successes(store)
    letters = history.open_letters_by_pair(store)

    streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in latest:
        streams.setdefault((row["house"], row["connector"]), []).append(row)
    # Pairs in the store whose house file is gone still show (named as not configured any more).
    for pair_house in sorted({h for h, _ in streams} - known):
        houses.append(HouseInfo(pair_house, f"{pair_house} (no house file)", "unknown",
                                {c: None for h, c in streams if h == pair_house}))
    matrix = FleetMatrix(now=now, houses=houses, connectors=[])
    names: set[str] = set()
    for info in houses:
        for name in info.connectors:
            if connector is not None and name != connector:
                continue
            names.add(name)
            matrix.cells[(info.key, name)] = _cell(info.key, name, streams.get((info.key, name), []),
                                                   successes.get((info.key, name)),
                                                   letters.get((info.key, name), 0), now)
    matrix.connectors = sorted(names)
    return matrix


def _cell(house: str, connector: str, rows: list[dict[str, Any]], last_success: datetime | None,
          open_letters: int, now: datetime) -> PairStatus:
    if not rows:
        return PairStatus(house, connector, "never", last_success_at=last_success, open_dead_letters=open_letters)
    status = history.worst_status([r["status"] for r in rows])
    rejected = sum(int(r["rejected"] or 0) for r in rows)
    if status == "succeeded" and rejected:
        status = "rejections"
    failed = next((r for r in rows if r["error_class"]), None)
    lags = [(lag, str((r["state"] or {}).get("cursor"))) for r in rows
            if (lag := _cursor_lag((r["state"] or {}).get("cursor"), now)) is not None]
    worst_lag = max(lags, default=None)
    started = [datetime.fromisoformat(r["started_at"]) for r in rows if r["started_at"]]
    return PairStatus(
        house=house, connector=connector, status=status,
        last_run_at=max(started, default=None), last_success_at=last_success,
        changed=sum(int(r["inserted"] or 0) + int(r["updated"] or 0) + int(r["deleted"] or 0) for r in rows),
        rejected=rejected, open_dead_letters=open_letters,
        cursor=worst_lag[1] if worst_lag else None, cursor_lag_seconds=worst_lag[0] if worst_lag else None,
        error_class=failed["error_class"] if failed else None, error=failed["error"] if failed else None,
        failed_stream=failed["stream"] if failed else None)


@dataclass
class PairDetail:
    """The drill-down of one house × connector."""

    house: HouseInfo | None
    connector: str
    cell: PairStatus | None
    runs: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    what_happened: str | None
    what_to_do: str | None


def pair_detail(store: Any, house: str, connector: str, houses_dir: str | os.PathLike[str] | None = None, *,
                now: datetime | None = None, runs: int = 20, letters: int = 100) -> PairDetail:
    matrix = fleet_matrix(store, houses_dir, now=now, house=house, connector=connector)
    info = next((h for h in matrix.houses if h.key == house), None)
    cell = matrix.cells.get((house, connector))
    what = todo = None
    if cell is not None and cell.error_class:
        what, todo = advice(cell.error_class, house=house,
                            conn=(info.connectors.get(connector) if info else None))
    return PairDetail(
        house=info, connector=connector, cell=cell, runs=history.recent_runs(store, house, connector, runs),
        dead_letters=store.dead_letters(house=house, connector=connector, status="open", limit=letters),
        what_happened=what, what_to_do=todo)


def human_age(seconds: float | None) -> str:
    """'3 min', '5 h', '2 d' — short enough for a matrix cell."""
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"
