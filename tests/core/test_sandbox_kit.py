"""The sandbox kit: tenant-seeded datasets, DST helpers, auth and paging checks in the vendor's shape."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from podium.registry import connector_names
from podium.sandbox import Refused, Request, Response, Sandbox, checks, flemish
from podium.sandbox.calendar import dst_nights, dst_switch_days, last_sunday, season_start
from podium.sandbox.datasets import TenantDatasets, stable_int, tenant_random

BRUSSELS = ZoneInfo("Europe/Brussels")
KIT = Path(__file__).resolve().parents[2] / "podium" / "sandbox"


# -- calendar -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("year", range(2019, 2041))
def test_dst_nights_are_the_nights_brussels_changes_its_clock(year: int) -> None:
    for saturday in dst_nights(year):
        evening = datetime(saturday.year, saturday.month, saturday.day, 22, tzinfo=BRUSSELS)
        morning = (evening + timedelta(hours=12)).astimezone(BRUSSELS)
        assert evening.utcoffset() != morning.utcoffset(), saturday
        assert saturday.weekday() == 5
    spring, autumn = dst_switch_days(year)
    assert (spring.month, autumn.month) == (3, 10)


def test_last_sunday_of_every_month_including_december() -> None:
    for month in range(1, 13):
        sunday = last_sunday(2027, month)
        assert sunday.weekday() == 6 and sunday.month == month
        assert (sunday + timedelta(days=7)).month != month


def test_season_starts_in_september_before_or_on_today() -> None:
    assert season_start(date(2026, 3, 15)) == date(2025, 9, 1)
    assert season_start(date(2025, 10, 20)) == date(2025, 9, 1)
    assert season_start(date(2025, 7, 1)) == date(2025, 9, 1)  # the new season's programme is out


# -- tenant datasets ---------------------------------------------------------------------------------
def test_each_tenant_gets_its_own_dataset_seeded_once() -> None:
    built: list[str] = []

    def build(tenant: str) -> list[int]:
        built.append(tenant)
        rng = tenant_random(7, tenant)
        return [rng.randrange(1000) for _ in range(5)]

    datasets = TenantDatasets(build)
    first = datasets.get("cc-hasselt")
    first.append(-1)  # a change (``mutate``) stays on the cached dataset
    assert datasets.get("cc-hasselt") is first and built == ["cc-hasselt"]
    assert datasets.get("de-warande") != first[:5]
    assert datasets.tenants() == ["cc-hasselt", "de-warande"]
    again = TenantDatasets(build).get("cc-hasselt")
    assert again == first[:5]  # the same seed and tenant give the same data in a new sandbox


def test_stable_int_is_the_same_in_every_process() -> None:
    assert stable_int("7:demo", 12) == int(hashlib.sha256(b"7:demo").hexdigest()[:12], 16)
    assert stable_int("a") != stable_int("b")
    assert stable_int("7:demo", 12) < 16 ** 12


# -- fixtures -----------------------------------------------------------------------------------------
def test_flemish_venues_are_one_list_with_unique_keys() -> None:
    keys = [venue.key for venue in flemish.VENUES]
    assert len(keys) == len(set(keys))
    assert flemish.venue("cc-strombeek").municipality == "Grimbergen"
    with pytest.raises(KeyError, match="known: cc-hasselt"):
        flemish.venue("nowhere")


def test_the_kit_names_no_vendor() -> None:
    text = "\n".join(path.read_text(encoding="utf-8").lower() for path in KIT.glob("*.py"))
    named = [name for name in connector_names() if name.lower() in text]
    assert named == []


# -- checks in the vendor's error shape -------------------------------------------------------------
class ShapedSandbox(Sandbox):
    """A made-up vendor whose errors are ``{"fault": {"code": .., "text": ..}}``."""

    name = "shaped"

    def error(self, refusal: Refused) -> Response:
        return Response.json({"fault": {"code": refusal.kind or refusal.status, "text": refusal.message}},
                             refusal.status)

    def route(self, request: Request) -> Response:
        if request.path == "/basic":
            return Response.json({"user": checks.basic_auth(request, {"box": "office"}, message="who?")})
        if request.path == "/bearer":
            token = checks.bearer_token(request, missing="no token", malformed="not bearer", kind="AUTH")
            return Response.json({"token": token})
        checks.api_key_param(request, "key", "k3y", missing="bad key", repeated="key twice")
        page = checks.int_params(request, {"limit": 10, "offset": 0}, "limit and offset are numbers")
        checks.require(1 <= page["limit"] <= 50, 400, "1 <= limit <= 50", "PAGING")
        raw = self.take_raw()
        if raw is not None:
            return Response(raw[0], raw[1])
        items = list(range(100))[page["offset"]:page["offset"] + page["limit"]]
        return Response.json({"items": items})


@pytest.fixture
def shaped() -> Iterator[ShapedSandbox]:
    with ShapedSandbox() as box:
        yield box


def _get(box: Sandbox, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{box.url}{path}", timeout=5, **kwargs)  # type: ignore[arg-type]


def test_paging_and_api_key_refusals_come_in_the_vendors_shape(shaped: ShapedSandbox) -> None:
    assert _get(shaped, "/items?key=k3y&limit=2&offset=5").json() == {"items": [5, 6]}
    refused = _get(shaped, "/items?key=k3y&limit=two")
    assert refused.status_code == 400
    assert refused.json() == {"fault": {"code": 400, "text": "limit and offset are numbers"}}
    assert _get(shaped, "/items?key=k3y&limit=51").json() == {"fault": {"code": "PAGING", "text": "1 <= limit <= 50"}}
    assert _get(shaped, "/items?key=nope").status_code == 401
    assert _get(shaped, "/items").json()["fault"]["text"] == "bad key"
    twice = _get(shaped, "/items?key=k3y&key=k3y")
    assert (twice.status_code, twice.json()["fault"]["text"]) == (400, "key twice")
    assert _get(shaped, "/items?key=%C3%A9").status_code == 401  # a non-ASCII key is refused, not a crash


def test_bearer_and_basic_checks(shaped: ShapedSandbox) -> None:
    assert _get(shaped, "/bearer").json() == {"fault": {"code": "AUTH", "text": "no token"}}
    assert _get(shaped, "/bearer", headers={"Authorization": "Token x"}).json()["fault"]["text"] == "not bearer"
    assert _get(shaped, "/bearer", headers={"authorization": "Bearer abc"}).json() == {"token": "abc"}
    good = base64.b64encode(b"box:office").decode()
    bad = base64.b64encode(b"box:wrong").decode()
    assert _get(shaped, "/basic", headers={"Authorization": f"Basic {good}"}).json() == {"user": "box"}
    assert _get(shaped, "/basic", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert _get(shaped, "/basic", headers={"Authorization": "Basic %%%"}).status_code == 401


def test_raw_answers_and_injected_faults_come_after_the_checks(shaped: ShapedSandbox) -> None:
    shaped.serve_raw(b'{"items": [1, 2', count=1)
    assert _get(shaped, "/items?key=nope").status_code == 401  # a refused request does not use it up
    assert _get(shaped, "/items?key=k3y").content == b'{"items": [1, 2'
    assert _get(shaped, "/items?key=k3y").json() == {"items": list(range(10))}
    shaped.inject(503, 1, retry_after=2)
    answer = _get(shaped, "/items?key=k3y")
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "2")


def test_faults_injected_from_another_process_use_the_same_queue(shaped: ShapedSandbox) -> None:
    control = requests.post(f"{shaped.url}/__sandbox/inject?status=429&count=2&retry_after=3", timeout=5)
    assert control.json() == {"injected": 429, "count": 2}
    answers = [_get(shaped, "/items?key=k3y") for _ in range(3)]
    assert [(a.status_code, a.headers.get("Retry-After")) for a in answers] == [(429, "3"), (429, "3"), (200, None)]
    shaped.inject(500, 5)
    shaped.clear_faults()
    assert _get(shaped, "/items?key=k3y").status_code == 200
