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

# What each error class asks of the person on call.
ACTIONS = {
    "config": "fix the house config or its Airflow connection",
    "auth": "renew the credentials in the Airflow connection",
    "vendor_down": "vendor unreachable after all retries: wait, or call the vendor",
    "rate_limited": "vendor kept rate limiting: lower the pool slots for this vendor",
    "bad_data": "vendor sent unreadable data: inspect the raw archive and dead letters",
    "internal": "a bug in podium or the connector: see the task log",
}


def failure_alert(context: Mapping[str, Any], connector: str, event: str = "failed") -> dict[str, Any]:
    """The alert for a failed (or retrying) sync task, built from the task context and the exception."""
    from podium.errors import classify
    from podium.secrets import safe_text

    exc = context.get("exception")
    report = getattr(exc, "podium_report", None) or {}
    ti = context.get("ti") or context.get("task_instance")
    house = (report.get("house") or context.get("podium_house")
             or getattr(ti, "rendered_map_index", None) or f"map_index={getattr(ti, 'map_index', '?')}")
    error_class = report.get("error_class") or (classify(exc) if isinstance(exc, BaseException) else "internal")
    return {
        "event": event,
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "house": house,
        "connector": report.get("connector") or connector,
        "stream": report.get("failed_stream"),
        "error_class": error_class,
        "dead_letters": int(report.get("rejected") or 0),
        "action": ACTIONS.get(error_class, ACTIONS["internal"]),
        "message": safe_text(str(exc), 500) if exc is not None else None,
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
    }


def format_alert(alert: Mapping[str, Any]) -> str:
    """One line: ``podium sync failed: house=… connector=… stream=… error_class=… dead_letters=…``."""
    return (f"podium sync {alert['event']}: house={alert['house']} connector={alert['connector']} "
            f"stream={alert['stream'] or '-'} error_class={alert['error_class']} "
            f"dead_letters={alert['dead_letters']} try={alert['try_number']} — {alert['action']}: "
            f"{alert['message']}")


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
