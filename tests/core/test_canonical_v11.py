"""CANONICAL.md "Decisions added in v1.1" as the schemas state them."""
from __future__ import annotations

import pytest

from podium.canonical import violations

EVENT = {"id": "6f1c1c55-2b0c-5d8e-9d7a-0c4f1e2a3b4c", "entity": "event", "house": "h", "deleted": False, "source": {"system": "s", "id": "1"},
         "title": {"nl": "Voorstelling"}, "calendar": "single"}


@pytest.mark.parametrize("start", ["2026-03-01", "2026-03-01T20:00:00+01:00", "2026-03-01T19:00:00Z"])
def test_an_event_starts_on_a_date_only_or_at_a_time_with_an_offset(start: str) -> None:
    assert not list(violations("event", {**EVENT, "start": start, "end": start}))


@pytest.mark.parametrize("start", ["2026-03-01T00:00:00", "2026-03-01T00:00", "2026-03", "01/03/2026"])
def test_a_made_up_or_offsetless_time_is_refused(start: str) -> None:
    found = [v.instance_path for v in violations("event", {**EVENT, "start": start})]
    assert found and all(path.startswith("/start") for path in found)
