"""The one place the calendar comes from: today's date, or the day injected with ``PODIUM_TODAY``.

``PODIUM_TODAY=YYYY-MM-DD`` pins the calendar of the whole process and of the processes it starts
(tests, replays of a past day, demos): date windows, sandbox seeds and archive day folders follow
it, while the time of day stays real. Clocks that must be real — signature timestamps checked
against the vendor's clock, token expiry, run heartbeats, retry waits — do not come from here.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, tzinfo

from podium.errors import ConfigError

ENV = "PODIUM_TODAY"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str, source: str = ENV) -> date:
    """A calendar day written ``YYYY-MM-DD``; anything else is a ConfigError naming ``source``."""
    value = text.strip()
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{source}={text!r} is not a calendar day: write it as YYYY-MM-DD, "
                          f"e.g. 2026-03-15") from None


def injected_today() -> date | None:
    """The day set in ``PODIUM_TODAY``, or None when the real calendar applies."""
    text = os.environ.get(ENV, "")
    return parse_day(text) if text.strip() else None


def today(tz: tzinfo | None = None) -> date:
    """Today in ``tz`` (the machine's local zone when None), unless ``PODIUM_TODAY`` sets the day."""
    return injected_today() or datetime.now(tz).date()


def now(tz: tzinfo | None = None) -> datetime:
    """The current moment in ``tz`` with its date replaced by ``today(tz)``: the real time of that day."""
    moment = datetime.now(tz)
    day = injected_today()
    if day is None or day == moment.date():
        return moment
    return moment.replace(year=day.year, month=day.month, day=day.day)


def moment_on(day: date, tz: tzinfo) -> datetime:
    """The real time of day in ``tz``, on ``day`` (whole seconds): when a seeded change happens."""
    moment = datetime.now(tz).replace(microsecond=0)
    return moment.replace(year=day.year, month=day.month, day=day.day)
