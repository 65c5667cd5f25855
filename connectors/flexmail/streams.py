"""The Flexmail ``contacts`` stream, declared: HAL pages, offset paging, one interest request per contact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from podium.errors import BadDataError
from podium.parsing.base import RecordError
from podium.parsing.json import JsonRecords, dig
from podium.sdk.connector import StreamSpec
from podium.sdk.rest import ChildRequest, Paginate, RestStream, setting

# Flexmail lists take ``limit`` up to 500 (airbyte manifest page_size 500; PostHog PAGE_SIZE = 500).
MAX_LIMIT = 500


@dataclass(frozen=True)
class HalRecords(JsonRecords):
    """A HAL document as Flexmail serves it: a collection ``{total, limit, offset, _embedded: {item: [...]}}``
    or one resource (``GET /contacts/{id}``: the contact itself, identified by ``id``).

    HAL leaves ``_embedded`` out of an empty collection (PostHog's Flexmail source: "a missing selector
    legitimately means zero rows"): a document with ``total`` is a page, and without ``_embedded`` an
    empty one. ``single_record_key``/``page_markers`` say the same in the names the SDK's JSON decoder
    uses for the shapes a stream accepts.
    """

    records_path: str = "_embedded.item"
    single_record_key: str | None = "id"
    page_markers: tuple[str, ...] = ("total",)

    def records(self, document: Any) -> Iterator[dict[str, Any] | RecordError]:
        if isinstance(document, dict) and "_embedded" not in document:
            if any(dig(document, marker) is not None for marker in self.page_markers):
                return iter(())  # an empty collection
            identity = dig(document, self.single_record_key or "")
            if isinstance(identity, str | int) and not isinstance(identity, bool) and str(identity).strip():
                # One resource: read as a page of one, keeping the decoder's per-record text checks.
                return super().records(type(document)({"_embedded": {"item": [document]}}))
            raise BadDataError("JSON document is neither a HAL collection (total, _embedded.item) "
                               f"nor a single resource ({self.single_record_key})")
        return super().records(document)


CONTACTS = StreamSpec(
    name="contacts", entity="contact", primary_key="id", decoder=HalRecords(),
    description="GET /contacts (every contact on the account's list), each with GET "
                "/contacts/{id}/interest-subscriptions; no change filter: full re-read, hashed")

# The contact's interests live in their own per-contact resource (PostHog's Flexmail source: unpaginated,
# ``{_embedded: {item: [{interest_id, _embedded: {interest: {...}}}]}}``); the mapping turns them into
# e-mail consents per interest. ``read_interests: false`` saves one request per contact.
INTEREST_SUBSCRIPTIONS = ChildRequest("contacts/{id}/interest-subscriptions", into="interest_subscriptions",
                                      when=setting("read_interests", True))

CONTACTS_STREAM = RestStream(
    spec=CONTACTS, path="contacts",
    # No timestamp filter on any list endpoint (PostHog: "no endpoint exposes a server-side timestamp
    # filter"): every sync reads the whole list; the store's content hash keeps unchanged contacts cheap.
    paginator=Paginate("offset", limit=setting("page_size", MAX_LIMIT), total_path="total"),
    children=(INTEREST_SUBSCRIPTIONS,),
)
