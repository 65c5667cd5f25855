"""No test depends on the day it runs: ``podium.clock``, and the sandbox data the suite relies on, for
every day of a whole year (all of 2026, with both daylight-saving switches) plus a leap day.

No servers: the sandboxes' dataset generators are called directly, one ``today`` at a time. Each
property names the test that relies on it, so a failing day points at the test it would break.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.cdbxml.sandbox import CdbXmlSandbox
from connectors.mailchimp.sandbox import MailchimpSandbox
from connectors.recreatex.connector import RecreatexConnector
from connectors.recreatex.sandbox import RecreatexSandbox
from connectors.ticketmatic.sandbox import TicketmaticSandbox
from connectors.tixly.sandbox import TixlySandbox
from connectors.uitdatabank.sandbox import UitdatabankSandbox
from connectors.uwp.data import newest_change
from connectors.uwp.sandbox import UwpSandbox
from connectors.yesplan.connector import YesplanConnector
from connectors.yesplan.sandbox import YesplanSandbox
from podium import clock
from podium.errors import ConfigError
from podium.sdk.connector import SyncContext

BRUSSELS = ZoneInfo("Europe/Brussels")
DAYS = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)] + [date(2028, 2, 29)]
# The organisations and shops tests read through date windows (connector tests, Airflow end-to-end);
# others only need some events, which the sandboxes' fortnightly series give every organisation.
YESPLAN_ORGS = ["dewarande", "cchasselt"]
RECREATEX_HOUSES = ["de-warande", "demo"]


def failing_days(check: Callable[[date], list[str]]) -> list[str]:
    """``day: problem`` for every day whose data breaks a property (empty when all days pass)."""
    return [f"{day}: {problem}" for day in DAYS for problem in check(day)]


def assert_every_day(check: Callable[[date], list[str]]) -> None:
    failures = failing_days(check)
    assert not failures, f"{len(failures)} failures, e.g. {failures[:5]}"


def _between(events: list[tuple[date, Any]], first: date, last: date) -> list[Any]:
    return [event for day, event in events if first <= day <= last]


# -- podium.clock ------------------------------------------------------------------------------------
def test_the_injected_day_is_today_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, "2028-02-29")
    assert clock.today() == clock.today(BRUSSELS) == date(2028, 2, 29)
    assert clock.now(UTC).date() == clock.now(BRUSSELS).date() == date(2028, 2, 29)
    assert clock.moment_on(date(2026, 3, 29), BRUSSELS).date() == date(2026, 3, 29)
    monkeypatch.delenv(clock.ENV)
    assert clock.today(UTC) in {datetime.now(UTC).date(), datetime.now(UTC).date() - timedelta(days=1)}


@pytest.mark.parametrize("value", ["2026-02-30", "morgen", "20260211", "11-02-2026", "2026-2-11"])
def test_a_wrong_injected_day_is_a_config_error_that_says_how_to_write_it(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(clock.ENV, value)
    with pytest.raises(ConfigError, match=r"PODIUM_TODAY=.*YYYY-MM-DD"):
        clock.today()


def test_the_suite_runs_on_its_pinned_day_and_so_do_its_subprocesses(today: date) -> None:
    assert clock.today() == today
    code = "from podium import clock; print(clock.today())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == today.isoformat()


# -- Yesplan: a moving window around today -------------------------------------------------------------
def _yesplan(day: date, org: str) -> list[str]:
    problems = []
    box = YesplanSandbox(today=day)
    default_first, default_last = YesplanConnector(
        {"base_url": "https://x.yesplan.be", "api_key": "k"}, SyncContext(house="x")).window(day)
    raw = list(box.events(org).values())
    events = [(date.fromisoformat(e["startdate"]), e) for e in raw]
    if not _between(events, day, day + timedelta(days=21)):  # test_customdata_lands_in_extras_and_external_ids
        problems.append(f"{org}: no event in the next three weeks")
    if not _between(events, day, day + timedelta(days=30)):  # test_429_is_waited_out_and_503_retried
        problems.append(f"{org}: no event in the next 30 days")
    if not _between(events, day - timedelta(days=10), day + timedelta(days=40)):  # test_window_read_...
        problems.append(f"{org}: no event between -10 and +40 days")
    if len(_between(events, default_first, default_last)) < 3:  # conformance suite, Airflow e2e
        problems.append(f"{org}: fewer than 3 events in the connector's default window")
    if len(_between(events, day, day + timedelta(days=365))) < 3:  # test_mutate_renames_and_moves_...
        problems.append(f"{org}: fewer than 3 upcoming events for mutate")
    wide = _between(events, day - timedelta(days=90), day + timedelta(days=420))
    if len(wide) != len(raw):  # test_paging_follows_next_links_and_sends_the_key_once
        problems.append(f"{org}: {len(raw) - len(wide)} events outside -90..+420 days")
    if len(wide) < 40 or not {"Bevestigd", "Geannuleerd"} <= {e["status"]["name"] for e in wide}:
        problems.append(f"{org}: too few events or no cancellation in -90..+420 days")
    crossing = [e for e in wide if e["startdate"] != e["enddate"]
                and datetime.fromisoformat(e["starttime"]).utcoffset()
                != datetime.fromisoformat(e["endtime"]).utcoffset()]
    if not crossing:  # test_sandbox_data_has_cancellations_dst_nights_and_valid_canonical_records
        problems.append(f"{org}: no night that crosses a daylight-saving switch")
    for event in raw:
        start, end = datetime.fromisoformat(event["starttime"]), datetime.fromisoformat(event["endtime"])
        if not start < end or start.astimezone(BRUSSELS).utcoffset() != start.utcoffset():
            problems.append(f"{org}: event {event['id']} has an impossible time {event['starttime']}")
    return problems


@pytest.mark.parametrize("org", YESPLAN_ORGS)
def test_yesplan_sandbox_data_holds_on_every_day_of_the_year(org: str) -> None:
    assert_every_day(lambda day: _yesplan(day, org))


# -- Kunstenpunt: performances (dates only) around today ------------------------------------------------
def _kunstenpunt(day: date) -> list[str]:
    from connectors.kunstenpunt.sandbox import KunstenpuntSandbox

    problems = []
    db = KunstenpuntSandbox(today=day).database
    shows = list(db.voorstellingen.values())
    if len([s for s in shows if s["datum"] >= day.isoformat()]) < 3:  # conformance: mutate moves 3 upcoming
        problems.append("fewer than 3 upcoming performances")
    if len({s["venue_id"] for s in shows}) < 4:  # test_the_sandbox_data_is_seeded_and_flemish
        problems.append("performances in fewer than 4 venues")
    if any(not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s["datum"]) for s in shows):
        problems.append("a performance date that is not a bare date")
    return problems


def test_kunstenpunt_sandbox_data_holds_on_every_day_of_the_year() -> None:
    assert_every_day(_kunstenpunt)


# -- Recreatex: a season around today -------------------------------------------------------------------
def _recreatex(day: date, house: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv(clock.ENV, day.isoformat())  # the connector's window reads the clock
    problems = []
    box = RecreatexSandbox(today=day)

    def window(days_back: int, days_ahead: int) -> tuple[str, str]:
        config = {"base_url": "http://127.0.0.1:1", "shop_id": box.default_shop_id,
                  "days_back": days_back, "days_ahead": days_ahead}
        bounds = RecreatexConnector(config, SyncContext(house="x"))._window()
        return bounds["from"], bounds["until"]

    windows = {"narrow": window(0, 30), "default": window(30, 365), "wide": window(800, 800)}
    events = box.seed_events(box.shop_id_for(house))[0].events
    inside = {name: [e for e in events if low <= e["From"].isoformat() < high]
              for name, (low, high) in windows.items()}
    if not 0 < len(inside["narrow"]) < len(inside["wide"]):  # test_date_window_limits_events_and_...
        problems.append(f"{house}: the 30-day window holds {len(inside['narrow'])} events")
    if len(inside["wide"]) != len(events):  # conformance suite (800 days either side)
        problems.append(f"{house}: events outside the 800-day window")
    if len(inside["default"]) < 3:
        problems.append(f"{house}: fewer than 3 events in the connector's default window")
    nights = [e for e in events if e["Name"] == "Nacht van de Kortfilm"]
    offsets = {(e["From"].replace(tzinfo=BRUSSELS).utcoffset(), e["Until"].replace(tzinfo=BRUSSELS).utcoffset())
               for e in nights}
    if len(nights) != 2 or any(start == end for start, end in offsets):  # DST nights in the golden set
        problems.append(f"{house}: the two nights do not cross the daylight-saving switches")
    return problems


@pytest.mark.parametrize("house", RECREATEX_HOUSES)
def test_recreatex_sandbox_data_holds_on_every_day_of_the_year(house: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_every_day(lambda day: _recreatex(day, house, monkeypatch))


# -- cursor-based vendors: a fixed season, changes dated on today ------------------------------------------
def _changes_come_after_the_data(newest: Callable[[], datetime], mutate: Callable[[date], list[str]],
                                 day: date) -> list[str]:
    before = newest()
    changed = mutate(day)
    after = newest()
    if not changed or not after > before:  # the conformance suite's incremental read
        return [f"a change dated {after} is not after the newest stamp {before}"]
    return []


def _parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Each cursor-based sandbox and the change stamps (``lastupdatets``, ``modified``, ``lastupdated``) it serves.
CURSOR_SANDBOXES: dict[str, tuple[Callable[[], Any], Callable[[Any], Iterable[datetime]]]] = {
    "ticketmatic": (TicketmaticSandbox,
                    lambda box: (_parse(r["lastupdatets"]) for records in box.data().values() for r in records)),
    "uitdatabank": (UitdatabankSandbox, lambda box: (_parse(e["modified"]) for e in box.catalogue().values())),
    "cdbxml": (CdbXmlSandbox, lambda box: (_parse(e.lastupdated) for e in box.dataset())),
    "tixly": (TixlySandbox, lambda box: (_parse(stamp) for records in (box.data()["customers"], box.data()["sales"])
                                         for r in records for stamp in (r["Created"], r.get("Edited")) if stamp)),
    "mailchimp": (MailchimpSandbox, lambda box: (_parse(m["last_changed"]) for m in box.audience().values())),
}


def _tixly(day: date) -> list[str]:
    """What tests/connectors/test_tixly.py reads: sales over months (the window walk, from 270 days back),
    returns, anonymous, scanned and unscanned lines, fees, never-edited and prefixed customers."""
    data = TixlySandbox(today=day).data()
    sales, problems = data["sales"], []
    third = (day - timedelta(days=270 - 62)).isoformat(), (day - timedelta(days=270 - 93)).isoformat()
    if len({s["Created"][:7] for s in sales}) < 6:
        problems.append("sales over fewer than six months")
    if not any(third[0] <= s["Created"][:10] < third[1] for s in sales):
        problems.append("no sale in the third 31-day window")
    checks = {"return": lambda s: s["TicketCount"] < 0, "anonymous": lambda s: s["IsAnonymousSale"],
              "scanned": lambda s: s["Scanned"], "unscanned": lambda s: not s["Scanned"] and s["TicketCount"] > 0,
              "fee": lambda s: s["Fee"] > 0}
    problems += [f"no {name} line" for name, check in checks.items() if not any(check(s) for s in sales)]
    if max(s["Created"] for s in sales) >= day.isoformat():
        problems.append("a sale dated today or later before any change")
    customers = data["customers"]
    if not any(c["Edited"] is None for c in customers) or not any(c["LastNamePrefix"] == "van der" for c in customers):
        problems.append("no never-edited or no prefixed customer")
    return problems


def test_tixly_sandbox_data_holds_on_every_day_of_the_year() -> None:
    assert_every_day(_tixly)


@pytest.mark.parametrize("vendor", sorted(CURSOR_SANDBOXES))
def test_changes_of_cursor_based_sandboxes_are_never_older_than_their_data(vendor: str) -> None:
    make, stamps = CURSOR_SANDBOXES[vendor]
    box = make()

    def mutate(day: date) -> list[str]:
        box.today = day
        return list(box.mutate(2))

    assert_every_day(lambda day: _changes_come_after_the_data(lambda: max(stamps(box)), mutate, day))


def test_uwp_changes_are_never_older_than_the_drop() -> None:
    box = UwpSandbox(today=date(2026, 1, 1))
    drop = box.seed_drop("uwp-calendar-year", "dataproduct/")
    try:
        def newest() -> datetime:
            stamp = newest_change(drop)
            assert stamp is not None
            return stamp

        def mutate(day: date) -> list[str]:
            box.today = day
            return box.mutate(2)

        assert_every_day(lambda day: _changes_come_after_the_data(newest, mutate, day))
    finally:
        box.stop()


# -- podium sandbox --today ---------------------------------------------------------------------------------
def test_podium_sandbox_seeds_around_the_day_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from podium.cli import main

    served: list[date] = []
    monkeypatch.setattr(YesplanSandbox, "serve_forever", lambda self, host, port: served.append(self.today))
    assert CliRunner().invoke(main, ["sandbox", "yesplan", "--today", "2028-02-29"]).exit_code == 0
    assert CliRunner().invoke(main, ["sandbox", "yesplan"]).exit_code == 0
    assert served == [date(2028, 2, 29), clock.today()]
    wrong = CliRunner().invoke(main, ["sandbox", "yesplan", "--today", "29-02-2028"])
    assert wrong.exit_code == 2 and "--today='29-02-2028' is not a calendar day" in wrong.output
    assert served == [date(2028, 2, 29), clock.today()]
