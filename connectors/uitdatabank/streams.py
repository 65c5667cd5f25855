"""The UiTdatabank Search API ``events`` stream, declared: filters, change cursor and the result-window paginator."""

from __future__ import annotations

from podium.parsing.json import JsonRecords
from podium.sdk.connector import StreamSpec
from podium.sdk.cursors import cursor_format
from podium.sdk.paginators import WindowedOffsetPaginator
from podium.sdk.rest import Incremental, Paginate, RestStream, setting

# Search API limits (cultuurnet/apidocs projects/uitdatabank/docs/search-api/pagination.md):
# ``start`` at most 10,000, ``limit`` at most 2,000 (the config spec holds page_size to it).
RESULT_WINDOW = 10_000
MAX_LIMIT = 2_000
# Without these the Search API applies its default filters (docs: search-api/filters/default-filters.md):
# only APPROVED/READY_FOR_VALIDATION, only currently available, only Belgium, only audience "everyone".
# A sync wants every version of the house's events, tombstones included.
UNFILTERED = {"availableFrom": "*", "availableTo": "*", "addressCountry": "*", "audienceType": "*"}
DEFAULT_WORKFLOW_STATUS = "READY_FOR_VALIDATION,APPROVED,REJECTED,DELETED"

# JSON-LD date-times (any offset) compared as UTC text; modifiedFrom is inclusive ("at or after") and
# ``modified`` has whole seconds: asking from one second later skips what the last sync stored, and
# lookback_seconds re-reads a margin for the search index's lag.
MODIFIED = Incremental("modified", param="modifiedFrom", format="iso_utc", inclusive=True,
                       lookback_seconds=setting("lookback_seconds", 0))

# Two shapes: the Search API page (``member`` + ``totalItems``) the sync reads, and one event alone as
# ``GET /events/{id}`` serves it (the apidocs read example, models/event-with-read-example.json).
EVENTS = StreamSpec(
    name="events", entity="event", primary_key="@id", cursor="modified",
    decoder=JsonRecords("member", single_record_key="@id", page_markers=("totalItems", "itemsPerPage")),
    description="Events (JSON-LD, embedded) from GET /events, sorted on modified ascending")

EVENTS_STREAM = RestStream(
    spec=EVENTS, path="events", incremental=MODIFIED,
    params={"embed": "true", "sort[modified]": "asc",
            "workflowStatus": setting("workflow_status", DEFAULT_WORKFLOW_STATUS), **UNFILTERED,
            "organizerId": setting("organizer_id"), "locationId": setting("location_id"), "q": setting("query")},
    # start/limit paging that moves modifiedFrom before the 10,000-result window.
    paginator=Paginate(WindowedOffsetPaginator, limit=setting("page_size", 100),
                       window=setting("result_window", RESULT_WINDOW), offset_param="start", limit_param="limit",
                       total_path="totalItems", bound_param="modifiedFrom", records_path="member",
                       cursor_path="modified", cursor_key=cursor_format("iso_utc").normalise),
)
