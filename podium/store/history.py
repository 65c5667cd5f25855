"""The store's read API for the operations cockpit: per house × connector, what happened lately.

Reads only; every query is bounded (latest rows per pair, a page of runs, a page of letters) so the
fleet view of 248 houses stays one cheap round of queries however long the history grows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, select

from podium.store.tables import dead_letters, sync_runs, sync_state


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def last_successes(store: Any) -> dict[tuple[str, str], datetime]:
    """(house, connector) -> when a sync of every stream last finished successfully (the latest such run)."""
    query = (select(sync_runs.c.house, sync_runs.c.connector, func.max(sync_runs.c.finished_at))
             .where(sync_runs.c.status == "succeeded")
             .group_by(sync_runs.c.house, sync_runs.c.connector))
    with store.engine.connect() as conn:
        return {(house, connector): stamp for house, connector, finished in conn.execute(query)
                if (stamp := _utc(finished)) is not None}


def open_letters_by_pair(store: Any) -> dict[tuple[str, str], int]:
    query = (select(dead_letters.c.house, dead_letters.c.connector, func.count())
             .where(dead_letters.c.status == "open")
             .group_by(dead_letters.c.house, dead_letters.c.connector))
    with store.engine.connect() as conn:
        return {(house, connector): int(count) for house, connector, count in conn.execute(query)}


def states(store: Any, house: str | None = None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(house, connector, stream) -> the stored sync state (cursor, resume position)."""
    query = select(sync_state.c.house, sync_state.c.connector, sync_state.c.stream, sync_state.c.state)
    if house is not None:
        query = query.where(sync_state.c.house == house)
    with store.engine.connect() as conn:
        return {(h, c, s): orjson.loads(state) for h, c, s, state in conn.execute(query)}


def recent_runs(store: Any, house: str, connector: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest ``limit`` syncs of a pair, newest first, each with its streams' rows."""
    latest = (select(sync_runs.c.run_id, func.min(sync_runs.c.started_at).label("started_at"))
              .where(and_(sync_runs.c.house == house, sync_runs.c.connector == connector))
              .group_by(sync_runs.c.run_id)
              .order_by(func.min(sync_runs.c.started_at).desc()).limit(limit))
    with store.engine.connect() as conn:
        run_ids = [row.run_id for row in conn.execute(latest)]
        rows = [dict(r._mapping) for r in conn.execute(
            select(sync_runs).where(and_(sync_runs.c.house == house, sync_runs.c.connector == connector,
                                         sync_runs.c.run_id.in_(run_ids)))
            .order_by(sync_runs.c.started_at))] if run_ids else []
    runs: dict[str, dict[str, Any]] = {run_id: {"run_id": run_id, "streams": []} for run_id in run_ids}
    for row in rows:
        row["started_at"], row["finished_at"] = _utc(row["started_at"]), _utc(row["finished_at"])
        runs[row["run_id"]]["streams"].append(row)
    for run in runs.values():
        streams = run["streams"]
        run["started_at"] = min((s["started_at"] for s in streams if s["started_at"]), default=None)
        run["trigger"] = streams[0]["trigger"] if streams else None
        run["status"] = worst_status([s["status"] for s in streams])
        run["changed"] = sum(s["inserted"] + s["updated"] + s["deleted"] for s in streams)
        run["rejected"] = sum(s["rejected"] for s in streams)
        run["read"] = sum(s["read"] for s in streams)
        failed = next((s for s in streams if s["error_class"]), None)
        run["error_class"], run["error"] = (failed["error_class"], failed["error"]) if failed else (None, None)
        run["failed_stream"] = failed["stream"] if failed else None
    return [runs[run_id] for run_id in run_ids]


# The order in which one stream's status outweighs another's when a sync is summed up in one word.
_SEVERITY = ("failed", "interrupted", "running", "already_running", "succeeded")


def worst_status(statuses: list[str]) -> str:
    """The status that tells most about a sync made of several streams (a failed stream fails the sync)."""
    if not statuses:
        return "never"
    return min(statuses, key=lambda s: _SEVERITY.index(s) if s in _SEVERITY else 0)
