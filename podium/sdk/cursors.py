"""Cursor formats for declared incremental sync: how a record's cursor value becomes comparable text
and how a stored cursor goes back into a request parameter.

A stored cursor is compared as text, so each format renders values whose text order is time order.
Every timestamp is read as UTC when it carries no offset (``Z`` and ``+hh:mm`` are honoured), except
in ``LocalFormat``, for vendors that write the house's wall-clock time.
``CURSOR_FORMATS`` names them for dict declarations; an unknown name lists the known ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from podium.errors import ConfigError


def parse_utc(value: Any) -> datetime:
    """A timestamp (ISO 8601, a space instead of ``T``, ``Z``, an offset, or epoch seconds) as aware UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# Per rendering pattern: the text that pattern renders (a year of four digits, no fraction, UTC). A value
# already in that shape is its own normalised text once it is a real date-time, so ``normalise`` checks
# it with ``datetime.fromisoformat`` instead of parsing and rendering it (every raw record of every page
# is normalised to take the page's highest cursor). A year below 1000 is left to the full path
# (``%Y`` renders it with fewer digits).
_RENDERED_SHAPES = {
    "iso": re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+00:00"),
    "%Y-%m-%d %H:%M:%S": re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"),
    "%Y-%m-%d": re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"),
    "%Y-%m-%dT%H:%M:%S": re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"),  # naive local
}


def _already_rendered(pattern: str, value: Any) -> bool:
    """Whether ``value`` is text in the shape ``pattern`` renders (see ``_RENDERED_SHAPES``)."""
    shape = _RENDERED_SHAPES.get(pattern)
    return shape is not None and type(value) is str and shape.fullmatch(value) is not None


def _real_date_time(text: str) -> str | None:
    """``text`` when it names a real date-time (no 30 February, no hour 24), else None."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return text


@dataclass(frozen=True)
class CursorFormat:
    """UTC timestamps rendered with ``pattern`` (strftime), ``"iso"`` (whole seconds, ``+00:00``) or ``"epoch"``."""

    pattern: str = "iso"

    def render(self, moment: datetime) -> str:
        """The text of one UTC moment in this format."""
        moment = moment.astimezone(UTC).replace(microsecond=0)
        if self.pattern == "iso":
            return moment.isoformat()
        if self.pattern == "epoch":
            return f"{int(moment.timestamp()):012d}"  # zero-padded: text order is time order
        return moment.strftime(self.pattern)

    def normalise(self, value: Any) -> str | None:
        """A record's cursor value as comparable text; None when absent or unreadable (an unreadable
        cursor must not move the stored position: the mapping reports the record)."""
        if value in (None, ""):
            return None
        if _already_rendered(self.pattern, value):
            return _real_date_time(value)
        try:
            return self.render(parse_utc(value))
        except (TypeError, ValueError, OverflowError):
            return None

    def request_value(self, cursor: Any, shift_seconds: float = 0.0) -> str:
        """A stored cursor, moved by ``shift_seconds``, as the value of the request parameter."""
        try:
            moment = parse_utc(cursor)
        except ValueError:
            raise ConfigError(f"stored cursor {cursor!r} is not a timestamp") from None
        return self.render(moment + timedelta(seconds=shift_seconds))


@dataclass(frozen=True)
class LocalFormat:
    """Wall-clock times of the house's time zone without an offset (vendors that write local time):
    a naive value is taken as written, an aware one is converted to ``timezone`` first."""

    pattern: str = "%Y-%m-%dT%H:%M:%S"

    def parse(self, value: Any, timezone: tzinfo) -> datetime:
        """A wall-clock moment in ``timezone`` (naive), or ValueError."""
        text = str(value).strip()
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone).replace(tzinfo=None)
        return moment.replace(microsecond=0)

    def normalise(self, value: Any, timezone: tzinfo) -> str | None:
        """A record's cursor value as comparable local text; None when absent or unreadable."""
        if value in (None, ""):
            return None
        if _already_rendered(self.pattern, value):  # naive, as written: nothing to convert
            return _real_date_time(value)
        try:
            return self.parse(value, timezone).strftime(self.pattern)
        except (TypeError, ValueError):
            return None

    def request_value(self, cursor: Any, timezone: tzinfo, pattern: str | None = None) -> str:
        """A stored cursor as local text in ``pattern`` (default: this format's); ConfigError when unreadable."""
        try:
            return self.parse(cursor, timezone).strftime(pattern or self.pattern)
        except (TypeError, ValueError):
            raise ConfigError(f"stored cursor {cursor!r} is not a date-time") from None


LOCAL_DATETIME = LocalFormat()


@dataclass(frozen=True)
class DateFormat(CursorFormat):
    """Calendar dates (``YYYY-MM-DD``): for vendors that filter by day only."""

    pattern: str = "%Y-%m-%d"

    def render(self, moment: datetime | date) -> str:
        return moment.strftime(self.pattern)


CURSOR_FORMATS: dict[str, CursorFormat] = {
    "iso_utc": CursorFormat("iso"),
    "epoch": CursorFormat("epoch"),
    "date": DateFormat(),
    "utc_datetime": CursorFormat("%Y-%m-%d %H:%M:%S"),
}


def cursor_format(name: str | CursorFormat) -> CursorFormat:
    """A cursor format by name (or as given); an unknown name lists the known ones."""
    if isinstance(name, CursorFormat):
        return name
    try:
        return CURSOR_FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown cursor format '{name}' (known: {', '.join(sorted(CURSOR_FORMATS))})") from None
