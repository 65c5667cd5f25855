"""``utc_datetime`` writes its text without ``strftime`` (a fifth of the cost): the same text, always."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.mapping.transforms import utc_text


@settings(max_examples=500, deadline=None, database=None)
@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_utc_text_writes_what_strftime_writes(moment: datetime) -> None:
    assert utc_text(moment) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_years_before_1000_are_not_padded_as_strftime_does_not() -> None:
    moment = datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert utc_text(moment) == "999-12-31T23:59:59Z" == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
