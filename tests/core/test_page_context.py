"""The page context (a page's lookup tables, its language) reaches the mapping typed, never as a key of
the record: through a sync, ``podium map`` and the replay of a dead letter alike."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.ticketmatic.connector import TicketmaticConnector
from podium.engine import PageProcessor, map_document, replay_dead_letters
from podium.mapping import MappingContext, compile_mapping
from podium.parsing.base import decode_page
from podium.sdk.connector import Page
from podium.store import Store

GOLDEN = Path(__file__).resolve().parents[2] / "connectors" / "ticketmatic" / "golden"
PAGE = (GOLDEN / "events.sandbox-page.input.json").read_bytes()


def test_the_decoder_hands_the_lookup_tables_to_the_page_not_to_the_records() -> None:
    items, context = decode_page(TicketmaticConnector.stream("events").decoder, PAGE)
    records = list(items)
    assert "locations" in context.tables and records
    assert not any(key.startswith("@_") for record in records if isinstance(record, dict) for key in record)


def test_podium_map_resolves_venue_addresses_from_the_page_tables() -> None:
    events, dead = map_document("ticketmatic", "events", PAGE, house="cc-hasselt")
    expected = json.loads((GOLDEN / "events.sandbox-page.expected.json").read_text("utf-8"))
    assert dead == [] and [e["venue"] for e in events] == [e["venue"] for e in expected]
    assert any("address" in e["venue"] for e in events)


def test_a_replayed_dead_letter_is_mapped_in_the_context_of_the_page_it_came_in(store: Store) -> None:
    stream = TicketmaticConnector.stream("events")
    items, context = decode_page(stream.decoder, PAGE)
    first = next(item for item in items if isinstance(item, dict))
    # The sync rejected the record (here: a mapping stricter than today's); today's mapping must see the
    # same lookup tables the sync saw, although the letter holds only the record.
    strict = compile_mapping({"entity": "event", "source_id": "id",
                              "fields": {"title": {"path": "no_such_field", "required": True}}},
                             "ticketmatic", "events")
    ctx = MappingContext(house="cc-hasselt", system="ticketmatic")
    result = PageProcessor(strict, ctx, stream.entity, stream.primary_key).process(
        Page(records=[first], state={}, context=context))
    assert len(result.dead) == 1 and result.records == []
    run = store.start_stream_run("r1", "cc-hasselt", "ticketmatic", "events", "event")
    store.commit_page(run, [], result.dead, None, read=1)
    store.finish_stream_run(run, "succeeded")

    assert replay_dead_letters(store, house="cc-hasselt").counts() == {"replayed": 1, "still_rejected": 0,
                                                                        "not_replayable": 0}
    (event,) = list(store.export(house="cc-hasselt"))
    synced, _ = map_document("ticketmatic", "events", PAGE, house="cc-hasselt")
    assert event["venue"] == next(e["venue"] for e in synced if e["source"]["id"] == event["source"]["id"])
    assert "address" in event["venue"]
    assert not any(key.startswith("@") for key in event.get("extras", {}))


def test_a_letter_written_before_the_page_context_still_replays_with_its_tables_and_language() -> None:
    from podium.engine import _page_of_letter

    page = _page_of_letter({"id": 1, "@_lookup": {"locations": {"7": {"zip": "3500"}}}, "@_language": "fr"})
    assert page.records == [{"id": 1}]
    assert page.context.tables == {"locations": {"7": {"zip": "3500"}}} and page.context.language == "fr"
    assert not _page_of_letter({"id": 1}).context  # no context kept: the empty one
