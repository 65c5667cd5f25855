"""``utc_datetime`` writes its text without ``strftime`` (a fifth of the cost): the same text, always."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.mapping import MappingContext
from podium.mapping.transforms import _local_dt, utc_datetime, utc_text

_CTX = MappingContext(house="h", system="s", timezone=ZoneInfo("Europe/Brussels"))


@settings(max_examples=500, deadline=None, database=None)
@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_utc_text_writes_what_strftime_writes(moment: datetime) -> None:
    assert utc_text(moment) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_years_before_1000_are_not_padded_as_strftime_does_not() -> None:
    moment = datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert utc_text(moment) == "999-12-31T23:59:59Z" == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ``utc_datetime`` parses the common text inline: it must give what the general composition gives
# (parse, house time zone or UTC, convert, write), for every shape of input, and fail alike.
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f",
            "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z", "%d/%m/%Y %H:%M", "%Y-%m-%d", " %Y-%m-%d %H:%M ",
            "%Y%m%dT%H%M%S")


def _composed(naive: Any) -> Any:
    def fn(value: Any, ctx: Any) -> str:
        return utc_text(_local_dt(value, ctx, naive).astimezone(UTC))
    return fn


def _outcome(fn: Any, value: Any) -> tuple[str, str]:
    try:
        return "ok", fn(value, _CTX)
    except ValueError as exc:
        return "error", str(exc)


@settings(max_examples=1500, deadline=None, database=None)
@given(moment=st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()),
       fmt=st.sampled_from(_FORMATS), naive=st.sampled_from(["utc", "UTC", None, ""]))
def test_utc_datetime_is_the_composition_for_formatted_times(moment: datetime, fmt: str, naive: Any) -> None:
    value = moment.strftime(fmt)
    assert _outcome(utc_datetime(naive), value) == _outcome(_composed(naive), value)
    assert _outcome(utc_datetime(naive), moment) == _outcome(_composed(naive), moment)


@settings(max_examples=1000, deadline=None, database=None)
@given(value=st.text(alphabet="0123456789-:TZ +./W", max_size=30) | st.integers(0, 4_000_000_000_000),
       naive=st.sampled_from(["utc", None]))
def test_utc_datetime_is_the_composition_for_any_text(value: Any, naive: Any) -> None:
    assert _outcome(utc_datetime(naive), value) == _outcome(_composed(naive), value)
