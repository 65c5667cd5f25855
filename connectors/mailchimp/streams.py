"""The Mailchimp ``members`` stream, declared: one audience's members sorted on ``last_changed``.

``GET /lists/{list_id}/members`` answers ``{members: [...], list_id, total_items, _links}``; ``count``
is at most 1,000. The change filter ``since_last_changed`` means "changed after" (exclusive, whole
seconds), so the bound the paginator moves to is written one second before the last value read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from podium.errors import BadDataError
from podium.parsing.base import RecordError
from podium.parsing.json import JsonRecords
from podium.sdk.connector import StreamSpec
from podium.sdk.cursors import cursor_format, parse_utc
from podium.sdk.paginators import KeysetOffsetPaginator
from podium.sdk.rest import Incremental, Paginate, RestStream, setting

MAX_COUNT = 1_000  # Marketing API: "count ... Maximum value is 1000"
CURSOR_FORMAT = cursor_format("iso_utc")  # 2015-10-21T15:41:36+00:00, as the API reference recommends


@dataclass(frozen=True)
class MemberDocuments(JsonRecords):
    """A members page (``{members: [...]}``) or one member document (``GET .../members/{subscriber_hash}``)."""

    records_path: str = "members"

    def records(self, document: Any) -> Iterator[dict[str, Any] | RecordError]:
        if isinstance(document, dict) and "members" not in document:
            if "email_address" not in document:
                raise BadDataError("JSON document is neither a members page (a 'members' list) nor one member "
                                   "(an 'email_address')")
            yield from JsonRecords("").records(document)
            return
        yield from super().records(document)


def bound_before(value: Any) -> str:
    """``last_changed`` one second earlier: "changed after" that moment includes the value itself."""
    return CURSOR_FORMAT.render(parse_utc(value) - timedelta(seconds=1))


# A member edited in the very second the last sync read would be missed by "changed after the cursor":
# the first request re-reads lookback_seconds (default 1) before it; the store skips unchanged members.
LAST_CHANGED = Incremental("last_changed", param="since_last_changed", format=CURSOR_FORMAT,
                           lookback_seconds=setting("lookback_seconds", 1))

MEMBERS = StreamSpec(
    name="members", entity="contact", primary_key="id", decoder=MemberDocuments(), cursor="last_changed",
    description="Audience members from GET /lists/{list_id}/members (archived ones asked for apart), "
                "sorted on last_changed ascending")

MEMBERS_STREAM = RestStream(
    spec=MEMBERS, path="lists/{config.list_id}/members", incremental=LAST_CHANGED,
    # _links is ten URLs per member: 1,000 members a page without them is a quarter of the bytes.
    params={"sort_field": "last_changed", "sort_dir": "ASC", "exclude_fields": "members._links,_links"},
    # Members edited during a read jump to the end of the sort and would shift unread ones past the
    # offset: every page restarts from the last last_changed read.
    paginator=Paginate(KeysetOffsetPaginator, limit=setting("page_size", MAX_COUNT), bound_param="since_last_changed",
                       records_path="members", cursor_path="last_changed", cursor_key=bound_before,
                       limit_param="count", offset_param="offset", total_path="total_items"),
)

# Archived members are served only when asked for by status (the API leaves them out otherwise).
ARCHIVED_MEMBERS_STREAM = replace(MEMBERS_STREAM, params={**MEMBERS_STREAM.params, "status": "archived"})
