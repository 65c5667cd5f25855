"""``canonical_id`` is uuid5 written without UUID objects: the same text, for any key."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.ids import PODIUM_NAMESPACE, canonical_id

_TEXT = st.text(max_size=40)


@settings(max_examples=1000, deadline=None, database=None)
@given(house=_TEXT, system=_TEXT, entity=_TEXT, source_id=_TEXT)
def test_canonical_id_is_uuid5_of_the_key(house: str, system: str, entity: str, source_id: str) -> None:
    expected = uuid.uuid5(PODIUM_NAMESPACE, f"{house}/{system}/{entity}/{source_id}")
    assert canonical_id(house, system, entity, source_id) == str(expected)


def test_every_variant_digit() -> None:
    """The fourth group's first digit takes all of 8, 9, a, b over enough keys (each looked-up case runs)."""
    seen = {canonical_id("h", "s", "ticket", str(n)).split("-")[3][0] for n in range(200)}
    assert seen == set("89ab")
    for n in range(200):
        assert canonical_id("h", "s", "ticket", str(n)) == str(uuid.uuid5(PODIUM_NAMESPACE, f"h/s/ticket/{n}"))
