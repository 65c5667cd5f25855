"""The UiTdatabank Search API ``events`` stream: query, cursor and the result-window paginator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from podium.parsing.json import JsonRecords
from podium.sdk.connector import Connector, StreamSpec
from podium.sdk.paginators import WindowedOffsetPaginator
from podium.sdk.rest import RestStream

# Search API limits (cultuurnet/apidocs projects/uitdatabank/docs/search-api/pagination.md):
# ``start`` at most 10,000, ``limit`` at most 2,000.
RESULT_WINDOW = 10_000
MAX_LIMIT = 2_000
# Without these the Search API applies its default filters (docs: search-api/filters/default-filters.md):
# only APPROVED/READY_FOR_VALIDATION, only currently available, only Belgium, only audience "everyone".
# A sync wants every version of the house's events, tombstones included.
UNFILTERED = {"availableFrom": "*", "availableTo": "*", "addressCountry": "*", "audienceType": "*"}
DEFAULT_WORKFLOW_STATUS = "READY_FOR_VALIDATION,APPROVED,REJECTED,DELETED"


def utc_cursor(value: Any) -> str:
    """A JSON-LD date-time (any offset) -> UTC ``YYYY-MM-DDTHH:MM:SS+00:00``, comparable as text."""
    text = str(value).strip()
    parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0).isoformat()


def record_cursor(record: dict[str, Any]) -> str | None:
    """The ``modified`` of one event, normalised to UTC; None when absent or unreadable."""
    value = record.get("modified")
    if not value:
        return None
    try:
        return utc_cursor(value)
    except ValueError:
        return None


def event_params(connector: Connector, cursor: Any) -> dict[str, Any]:
    """Query for one read: embedded bodies, ascending ``modified``, the house's filters, and the change filter."""
    config = connector.config
    params: dict[str, Any] = {"embed": "true", "sort[modified]": "asc",
                              "workflowStatus": config.get("workflow_status", DEFAULT_WORKFLOW_STATUS),
                              **UNFILTERED}
    for setting, param in (("organizer_id", "organizerId"), ("location_id", "locationId"), ("query", "q")):
        if config.get(setting):
            params[param] = config[setting]
    if cursor:
        # modifiedFrom is inclusive ("at or after") and ``modified`` has whole seconds: one second
        # later skips what the last sync stored; lookback_seconds re-reads a margin for indexing lag.
        lookback = float(config.get("lookback_seconds", 0))
        since = datetime.fromisoformat(utc_cursor(cursor)) + timedelta(seconds=1 - lookback)
        params["modifiedFrom"] = since.isoformat()
    return params


def event_paginator(limit: int = 100, window: int = RESULT_WINDOW) -> WindowedOffsetPaginator:
    """``start``/``limit`` paging that moves ``modifiedFrom`` before the 10,000-result window."""
    return WindowedOffsetPaginator(
        min(limit, MAX_LIMIT), window=window, offset_param="start", limit_param="limit",
        total_path="totalItems", bound_param="modifiedFrom", records_path="member",
        cursor_path="modified", cursor_key=utc_cursor)


EVENTS = StreamSpec(
    name="events", entity="event", primary_key="@id", decoder=JsonRecords("member"), cursor="modified",
    description="Events (JSON-LD, embedded) from GET /events, sorted on modified ascending")


def events_stream(limit: int = 100, window: int = RESULT_WINDOW) -> RestStream:
    """The ``events`` stream declaration for a page size and result window."""
    return RestStream(spec=EVENTS, path="events", paginator=lambda: event_paginator(limit, window),
                      params=event_params, cursor_value=record_cursor)
