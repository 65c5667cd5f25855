"""The body of one sync task: the same engine as ``podium sync``, for one house × connector.

What Airflow adds around the engine, and nothing else:
- credentials come from Airflow Connections (any secrets backend) via the installed resolver;
- the returned report (counts only) becomes the task's XCom, shown in the UI;
- canonical entities that changed are announced as asset events (house and counts in ``extra``);
  changes made by a try that later failed are kept in the task state store and announced by the
  try that succeeds, so a downstream DAG never misses them;
- a failed sync raises the error class's exception with the report attached, for the retry policy
  and the ops notifier; a sync with rejected records succeeds but is flagged (report ``flag``,
  a WARNING line, and the map-index label in the grid);
- a sync skipped because another sync of the same house × connector holds the lock becomes a
  skipped task (not a failure, not retried), naming the holder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from plugins.podium_provider.assets import CHANGES_ALIAS, canonical_asset

log = logging.getLogger("podium.airflow")

PENDING_KEY = "podium_pending_changes"
REJECTION_FLAG = "rejections"


def _entity_changes(summary: dict[str, Any]) -> dict[str, dict[str, int]]:
    changes: dict[str, dict[str, int]] = {}
    for stream in summary.get("streams", {}).values():
        counts = {k: int(stream.get(k) or 0) for k in ("inserted", "updated", "deleted")}
        if any(counts.values()):
            total = changes.setdefault(stream["entity"], {"inserted": 0, "updated": 0, "deleted": 0})
            for key, value in counts.items():
                total[key] += value
    return changes


def _merge(into: dict[str, dict[str, int]], other: Any) -> dict[str, dict[str, int]]:
    for entity, counts in (other or {}).items() if isinstance(other, dict) else ():
        total = into.setdefault(entity, {"inserted": 0, "updated": 0, "deleted": 0})
        for key in total:
            total[key] += int((counts or {}).get(key) or 0)
    return into


def _conn_id(house: Any, connector: str) -> str | None:
    """The Airflow connection the house's config names for this connector (None for env credentials)."""
    entry = getattr(house, "connectors", {}).get(connector)
    return ((getattr(entry, "credentials", None) or {}).get("conn_id")) if entry is not None else None


def _state_store(context: MutableMapping[str, Any]) -> Any:
    return context.get("task_state_store")


def run_house_sync(connector: str, house_key: str, context: MutableMapping[str, Any],
                   *, houses_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Sync one house × connector inside an Airflow task; return the counts-only report."""
    from plugins.podium_provider.hooks.podium import connection_fields
    from podium.config import load_house
    from podium.engine import run_sync
    from podium.errors import PodiumError
    from podium.fleet import house_path
    from podium.secrets import install_log_redaction, set_connection_resolver
    from podium.store import Store

    context["podium_house"] = house_key
    context["podium_label"] = house_key
    set_connection_resolver(connection_fields)
    install_log_redaction()

    try:
        house = load_house(house_path(house_key, Path(houses_dir) if houses_dir else None))
    except PodiumError as exc:
        context["podium_label"] = f"{house_key} ✘ {exc.error_class}"
        exc.podium_report = {"house": house_key, "connector": connector, "status": "failed",  # type: ignore[attr-defined]
                             "error_class": exc.error_class, "failed_stream": None, "rejected": 0}
        raise

    store = Store.from_env()
    try:
        report = run_sync(house, connector, store=store, trigger="airflow")
    finally:
        store.dispose()
    summary = report.as_dict()
    if report.status == "already_running":
        from airflow.sdk.exceptions import AirflowSkipException

        context["podium_label"] = f"{house_key} (already running)"
        raise AirflowSkipException(summary["already_running"]["message"])
    changes = _entity_changes(summary)
    state = _state_store(context)

    if report.status == "failed":
        if changes and state is not None:
            state.set(PENDING_KEY, _merge(changes, state.get(PENDING_KEY)))
        try:
            report.raise_for_failure()
        except PodiumError as exc:
            # The grid's map-index label says what failed without opening the log; the alert names the
            # Airflow connection to renew or check.
            context["podium_label"] = f"{house_key} ✘ {exc.error_class}" + (
                f" ⚠ {report.rejected} rejected" if report.rejected else "")
            exc.podium_report = {**summary, "conn_id": _conn_id(house, connector)}  # type: ignore[attr-defined]
            raise

    if state is not None:
        pending = state.get(PENDING_KEY)
        if pending:
            _merge(changes, pending)
            state.delete(PENDING_KEY)
    emit_changes(context, house_key, connector, summary["run_id"], changes)
    summary["announced"] = sorted(changes)

    totals = {k: sum(int(s.get(k) or 0) for s in summary["streams"].values())
              for k in ("read", "inserted", "updated", "unchanged", "deleted", "rejected")}
    log.info("podium sync %s × %s: %s", house_key, connector,
             " ".join(f"{k}={v}" for k, v in totals.items()))
    if report.rejected:
        summary["flag"] = REJECTION_FLAG
        context["podium_label"] = f"{house_key} ⚠ {report.rejected} rejected"
        streams = ", ".join(f"{name}={s['rejected']}" for name, s in summary["streams"].items() if s["rejected"])
        log.warning("podium sync %s × %s succeeded with %d rejected record(s) in dead letters (%s); "
                    "see `podium deadletters list --house %s --connector %s`", house_key, connector,
                    report.rejected, streams, house_key, connector)
    return summary


def emit_changes(context: MutableMapping[str, Any], house: str, connector: str, run_id: str,
                 changes: dict[str, dict[str, int]]) -> None:
    """One asset event per changed canonical entity, through the task's asset alias."""
    outlet_events = context.get("outlet_events")
    if outlet_events is None:
        return
    for entity, counts in sorted(changes.items()):
        outlet_events[CHANGES_ALIAS].add(
            canonical_asset(entity),
            extra={"house": house, "connector": connector, "podium_run_id": run_id, **counts},
        )
