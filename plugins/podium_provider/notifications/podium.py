"""What the ops team reads when a sync fails: house, connector, stream, error class, dead letters.

``PodiumFailureNotifier`` is the sync tasks' ``on_failure_callback`` (and, as a warning, their
``on_retry_callback``). It logs one line a human can act on and, when ``PODIUM_ALERTS_FILE`` is set,
appends the same alert as a JSON line (a sink any shipper — Slack, e-mail, PagerDuty — can follow).
Other notifiers (e.g. the Slack provider's) can be added next to it: Airflow accepts a list.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger("podium.ops")

# What each error class asks of the person on call once the task has failed; ``{conn}`` names the
# house's Airflow connection.
ACTIONS = {
    "config": "fix the house config or its Airflow connection {conn}, then clear the task",
    "auth": "renew the credentials in the Airflow connection {conn}, then clear the task",
    "vendor_down": "the vendor stayed unreachable through every retry: wait, or call the vendor, then clear the task",
    "rate_limited": "the vendor kept rate limiting: lower this vendor's pool slots in houses/_fleet.yaml",
    "bad_data": "the vendor sent unreadable data: inspect the raw archive and `podium deadletters list`",
    "internal": "a bug in podium or the connector: see the task log",
}

# While Airflow will try again, the alert says so (and which try this was) instead of an action.
RETRYING = "Airflow tries again (try {try_number} of {tries}); nothing to do unless the last try fails"


def _conn_phrase(conn_id: str | None) -> str:
    return f"'{conn_id}'" if conn_id else "named by the house's credentials.conn_id"


def failure_alert(context: Mapping[str, Any], connector: str, event: str = "failed") -> dict[str, Any]:
    """The alert for a failed (or retrying) sync task, built from the task context and the exception."""
    from podium.errors import classify
    from podium.secrets import safe_text

    exc = context.get("exception")
    report = getattr(exc, "podium_report", None) or {}
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task") or getattr(ti, "task", None)
    house = (report.get("house") or context.get("podium_house")
             or getattr(ti, "rendered_map_index", None) or f"map_index={getattr(ti, 'map_index', '?')}")
    error_class = report.get("error_class") or (classify(exc) if isinstance(exc, BaseException) else "internal")
    conn_id = report.get("conn_id")
    try_number = getattr(ti, "try_number", None)
    retries = getattr(task, "retries", None)
    tries = (int(retries) + 1) if isinstance(retries, int) else "?"
    action = (RETRYING.format(try_number=try_number or "?", tries=tries) if event == "retrying"
              else ACTIONS.get(error_class, ACTIONS["internal"]).format(conn=_conn_phrase(conn_id)))
    return {
        "event": event,
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "house": house,
        "connector": report.get("connector") or connector,
        "stream": report.get("failed_stream"),
        "error_class": error_class,
        "conn_id": conn_id,
        "dead_letters": int(report.get("rejected") or 0),
        "action": action,
        "message": safe_text(str(exc), 500) if exc is not None else None,
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": getattr(ti, "run_id", None),
        "try_number": try_number,
    }


def format_alert(alert: Mapping[str, Any]) -> str:
    """One line: ``podium sync failed: house=… connector=… stream=… error_class=… conn_id=… dead_letters=…``."""
    return (f"podium sync {alert['event']}: house={alert['house']} connector={alert['connector']} "
            f"stream={alert['stream'] or '-'} error_class={alert['error_class']} "
            f"conn_id={alert.get('conn_id') or '-'} dead_letters={alert['dead_letters']} "
            f"try={alert['try_number']} — {alert['action']}: {alert['message']}")


class PodiumFailureNotifier(BaseNotifier):
    """Log (and optionally append to ``PODIUM_ALERTS_FILE``) a failed or retrying sync."""

    template_fields = ()

    def __init__(self, connector: str, event: str = "failed") -> None:
        super().__init__()
        self.connector = connector
        self.event = event

    def notify(self, context: Any) -> None:
        alert = failure_alert(context, self.connector, self.event)
        line = format_alert(alert)
        if self.event == "failed":
            log.error(line)
        else:
            log.warning(line)
        path = os.environ.get("PODIUM_ALERTS_FILE")
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(alert, sort_keys=True) + "\n")
