"""Secrets never leak, not even in part: a vendor echoing a key in a long error, a key URL-encoded in
a ``-vv`` debug line, a Basic header or a token inside base64 echoed back, and next-page links that
carry the key (Yesplan) reach no exception, CLI output, run row, log, state or archive file."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from connectors.yesplan.connector import YesplanConnector
from connectors.yesplan.sandbox import YesplanSandbox
from podium.archive import Archive
from podium.config import load_house
from podium.engine import run_sync
from podium.errors import PodiumError, VendorDownError
from podium.sandbox import Request, Response, Sandbox
from podium.sdk import ApiKeyQueryAuth, BasicAuth, BearerAuth, HttpClient, retrying
from podium.sdk.connector import SyncContext
from podium.secrets import (
    MASK,
    redact,
    redact_bytes,
    register_secret,
    safe_text,
    secret_forms,
    strip_credentials,
)
from podium.store import Store

# 28 characters, like a Ticketmatic key; '+', '/' and '=' URL-encode (and quote vs quote_plus) differently.
KEY = "Tm7+q/Zx3=Kp9w+Rb2/Lc8=Vn4Xy"
REPO = Path(__file__).resolve().parents[2]
HOUSE = "cc-leak"
KEY_ENV = "PODIUM_CC_LEAK__YESPLAN_API_KEY"  # inside the house's own credential namespace
ERROR_AT = (275, 290, 330)  # where the vendor's error text echoes the key: across, near and past char 300


def fragments(secret: str, size: int = 4) -> set[str]:
    """Every run of ``size`` characters of ``secret``: none of them may show anywhere."""
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def assert_no_fragment(text: str, secret: str, where: str) -> None:
    leaked = sorted(f for f in fragments(secret) if f in text)
    assert not leaked, f"{where} shows part of the secret: {leaked}"


def leaky_text(secret: str, positions: tuple[int, ...] = ERROR_AT) -> str:
    """A long vendor error that repeats ``secret`` starting at each of ``positions``."""
    text = "error: the api_key you sent is not valid for this installation: "
    for position in positions:
        text += "." * (position - len(text)) + secret
    return text + " (request logged)"


# -- the helpers ---------------------------------------------------------------------------------
def test_safe_text_redacts_before_it_cuts() -> None:
    secret = "cut-secret-0123456789abcdefgh"
    register_secret(secret)
    for position in (272, 285, 295, 299, 320):
        text = leaky_text(secret, (position,))
        assert text.index(secret) == position
        assert_no_fragment(safe_text(text, 300), secret, f"a key echoed at char {position}")
    assert safe_text("short and harmless", 300) == "short and harmless"


def test_redact_masks_url_encoded_forms() -> None:
    register_secret(KEY)
    lower_escapes = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote_plus(KEY))
    for form in (quote(KEY, safe=""), quote(KEY), quote_plus(KEY), lower_escapes):
        assert form != KEY
        assert redact(f"GET /api/events/x?page=2&api_key={form} HTTP/1.1") == \
            f"GET /api/events/x?page=2&api_key={MASK} HTTP/1.1", form


def test_redact_masks_a_token_inside_base64_at_every_alignment() -> None:
    token = "tok-9f8e7d6c5b4a39281706"
    register_secret(token)
    for prefix in ("", "a", "ab", "abc", '{"user": "x", '):
        blob = (prefix + f'"access_token": "{token}", "exp": 1700000000}}').encode()
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = "session=" + encode(blob).decode()
            masked = redact(text)
            assert MASK in masked
            # Nothing of the encoded token survives: every encoded piece of it is gone.
            for piece in secret_forms(token):
                assert piece not in masked


def test_short_secrets_stay_unregistered() -> None:
    # Masking a 3-character value would mangle ordinary text ("key" in every message): not registered.
    register_secret("x7q")
    assert redact("x7q and x7q") == "x7q and x7q"


def test_strip_credentials_removes_credential_parameters_and_userinfo() -> None:
    url = ("https://user:pw@dewarande.yesplan.be/api/events/event%3Adate?page=2&api_key=abc%2Bdef"
           "&book=b1&ApiKey=x&access_token=t&X-Amz-Signature=s&sig=1&offset=50&key=k&q=a%20b")
    assert strip_credentials(url) == "https://dewarande.yesplan.be/api/events/event%3Adate?page=2&book=b1&offset=50&q=a%20b"
    assert strip_credentials("https://x.be/api/events?api_key=only") == "https://x.be/api/events"
    assert strip_credentials("https://x.be/a?page=3") == "https://x.be/a?page=3"


def test_archive_never_holds_a_registered_secret(tmp_path: Path) -> None:
    register_secret(KEY)
    page = json.dumps({"pagination": {"next": f"https://x.yesplan.be/api/events/q?page=2&api_key={quote(KEY, safe='')}"},
                       "data": [{"id": "1", "note": f"key {KEY}"}]}).encode()
    archive = Archive(tmp_path.as_uri())
    uri = archive.put(HOUSE, "yesplan", "events", "run-1", 0, "json", page)
    assert uri is not None
    stored = gzip.decompress(Path(uri.removeprefix("file://")).read_bytes()).decode()
    assert_no_fragment(stored, KEY, "the archived page")
    assert "api_key=***" in stored and '"id": "1"' in stored
    assert redact_bytes(b"nothing to hide") == b"nothing to hide"


# -- the HTTP client -------------------------------------------------------------------------------
class LeakyVendor(Sandbox):
    """A vendor that echoes what authenticated the request in its error answers."""

    name = "leaky"
    rate_limit_requests = 1000

    def route(self, request: Request) -> Response:
        if request.path == "/echo-key":
            return Response(400, leaky_text(request.arg("api_key") or "").encode(), {"Content-Type": "text/plain"})
        if request.path == "/echo-auth":
            said = f"bad credentials in header: {request.headers.get('Authorization', '')}"
            return Response.json({"error": said}, 400)
        if request.path == "/echo-blob":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            blob = base64.b64encode(json.dumps({"sub": "acct", "token": token}).encode()).decode()
            return Response.json({"error": "session expired", "session": blob}, 500)
        return Response.json({"ok": True})


@pytest.fixture
def vendor() -> Iterator[LeakyVendor]:
    with LeakyVendor() as box:
        yield box  # type: ignore[misc]


def test_key_echoed_across_the_cut_of_a_vendor_error_leaks_no_fragment(vendor: LeakyVendor) -> None:
    key = "Ab3+kQ/9zR=uV1+wX2/yZ4=pL5mN"
    with pytest.raises(PodiumError) as caught:
        HttpClient(vendor.url, auth=ApiKeyQueryAuth(key)).get("/echo-key")
    message = str(caught.value)
    assert "vendor said: error: the api_key you sent" in message  # the vendor's text is still shown
    assert_no_fragment(message, key, "the exception")


def test_urllib3_debug_line_with_the_url_encoded_key_is_masked(vendor: LeakyVendor,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    key = "Dq8+Hs/Jt=Mv2+Nw3/Px5=Rz7Ab9"
    with caplog.at_level(logging.DEBUG):
        HttpClient(vendor.url, auth=ApiKeyQueryAuth(key)).get("/ok", params={"page": 2})
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    request_line = next(line for line in lines if "/ok?" in line)
    assert "api_key=***" in request_line
    for line in lines:
        assert_no_fragment(line, key, "the urllib3 debug line")
        assert quote_plus(key) not in line and quote(key, safe="") not in line


def test_echoed_basic_auth_header_is_masked(vendor: LeakyVendor) -> None:
    password = "Pw4+basic/Secret=99"
    header = base64.b64encode(f"acct-login:{password}".encode()).decode()
    with pytest.raises(PodiumError) as caught:
        HttpClient(vendor.url, auth=BasicAuth("acct-login", password)).get("/echo-auth")
    message = str(caught.value)
    assert "bad credentials in header: Basic ***" in message
    assert_no_fragment(message, header, "the exception (Basic header)")


def test_token_inside_an_echoed_base64_blob_is_masked(vendor: LeakyVendor) -> None:
    token = "bearer-7c1d9e2f4a6b8c0d2e4f"
    retry = retrying(sleep=lambda _: None, max_attempts=1)
    with pytest.raises(VendorDownError) as caught:
        HttpClient(vendor.url, auth=BearerAuth(token), retry=retry).get("/echo-blob")
    message = str(caught.value)
    assert "session expired" in message and MASK in message
    raw = json.dumps({"sub": "acct", "token": token}).encode()
    start, end = raw.index(token.encode()), raw.index(token.encode()) + len(token)
    # The base64 characters that only the token's bytes determine (6 bits each, no neighbour's bit).
    encoded_token = base64.b64encode(raw).decode()[-(-8 * start // 6): 8 * end // 6]
    assert len(encoded_token) >= 30
    assert_no_fragment(message, encoded_token, "the exception (base64 blob)")


# -- a whole sync: error text, run rows, CLI, logs --------------------------------------------------
class EchoingYesplan(YesplanSandbox):
    """A Yesplan that refuses the search with a long message echoing the api_key it was sent."""

    def route(self, request: Request) -> Response:
        if "/api/events/" in request.path:
            return Response(400, leaky_text(request.arg("api_key") or "").encode(),
                            {"Content-Type": "text/plain; charset=utf-8"})
        return super().route(request)


def house_file(folder: Path, url: str, **settings: Any) -> Path:
    extra = "".join(f", {k}: {v}" for k, v in settings.items())
    path = folder / f"{HOUSE}.yaml"
    path.write_text(f"""\
house: {HOUSE}
name: CC Leak
kind: cultuurcentrum
connectors:
  yesplan:
    settings: {{base_url: "{url}/ccleak", requests_per_second: 15{extra}}}
    credentials: {{env: {{api_key: {KEY_ENV}}}}}
""", encoding="utf-8")
    return path


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({KEY_ENV: KEY, "PODIUM_DB_URL": f"sqlite:///{tmp_path / 'podium.db'}",
                "PODIUM_ARCHIVE_URL": (tmp_path / "archive").as_uri(), "PYTHONPATH": str(REPO)})
    return env


def podium(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podium.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_key_echoed_in_a_vendor_error_leaks_nowhere_in_a_sync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    with EchoingYesplan() as box:
        house = load_house(house_file(tmp_path, box.url))
        store = Store(f"sqlite:///{tmp_path / 'inprocess.db'}")
        with caplog.at_level(logging.DEBUG):
            report = run_sync(house, "yesplan", store=store, archive=Archive(f"{tmp_path.as_uri()}/archive"))
        store.dispose()
        assert report.status == "failed" and report.first_error()[1] == "config"
        with pytest.raises(PodiumError) as caught:
            report.raise_for_failure()
        assert "vendor said: error: the api_key you sent" in str(caught.value)
        assert_no_fragment(str(caught.value), KEY, "the exception")
        assert_no_fragment(json.dumps(report.as_dict()), KEY, "the report (XCom)")
        stored = db_rows(tmp_path / "inprocess.db", "select error from sync_runs")
        assert stored and stored[0][0] and "vendor said" in stored[0][0]
        assert_no_fragment(stored[0][0], KEY, "sync_runs.error")
        for record in caplog.records:
            assert_no_fragment(record.getMessage(), KEY, f"the log ({record.name})")

        env = cli_env(tmp_path)
        synced = podium("-vv", "sync", "--house", str(tmp_path / f"{HOUSE}.yaml"), env=env)
        assert synced.returncode == 1, synced.stderr[-2000:]
        assert "[config]" in synced.stdout
        assert_no_fragment(synced.stdout, KEY, "the `podium sync` table")
        assert_no_fragment(synced.stderr, KEY, "the `podium -vv sync` log")
        status = podium("status", "--json", env=env)
        assert "vendor said" in status.stdout
        assert_no_fragment(status.stdout, KEY, "`podium status`")
        rows = db_rows(tmp_path / "podium.db", "select error from sync_runs")
        assert rows and all(r[0] for r in rows)
        for (error,) in rows:
            assert_no_fragment(error, KEY, "sync_runs.error (CLI)")


# -- Yesplan next links that carry the key -------------------------------------------------------
def test_next_links_with_the_key_are_stored_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    box = YesplanSandbox()
    box.api_key, box.page_size = KEY, 5
    with box:
        conn = YesplanConnector({"base_url": f"{box.url}/ccleak", "api_key": KEY, "requests_per_second": 15,
                                 "days_back": 90, "days_ahead": 420}, SyncContext(house=HOUSE))
        pages = list(conn.read("events", None))
    assert len(pages) > 3
    assert pages[0].raw is not None
    assert quote(KEY, safe="") in pages[0].raw.decode()  # the vendor does serve the key in its links
    for page in pages:
        stored = json.dumps(page.state)
        assert_no_fragment(stored, KEY, "the state")
        assert quote(KEY, safe="") not in stored and "api_key" not in stored
        assert_no_fragment(page.label, KEY, "the page label")
    assert "page=2" in pages[0].state["resume"]["url"] and "book=" in pages[0].state["resume"]["url"]


class HoldingYesplan(YesplanSandbox):
    """Holds the answer to the third page until released: a sync can be killed mid-read, every time."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.waiting, self.release = threading.Event(), threading.Event()

    def route(self, request: Request) -> Response:
        if request.arg("page") == "3" and not self.release.is_set():
            self.waiting.set()
            self.release.wait(60)
        return super().route(request)


def test_killed_yesplan_sync_resumes_from_a_stored_position_without_the_key(tmp_path: Path) -> None:
    box = HoldingYesplan()
    box.api_key, box.page_size = KEY, 5
    env = cli_env(tmp_path)
    db = tmp_path / "podium.db"
    with box:
        house = house_file(tmp_path, box.url, days_back=90, days_ahead=420)
        first = subprocess.Popen([sys.executable, "-m", "podium.cli", "-vv", "sync", "--house", str(house)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert box.waiting.wait(120), "the sync never asked for page 3"
            first.send_signal(signal.SIGKILL)
            out, err = first.communicate(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
            box.release.set()
        assert_no_fragment(out + err, KEY, "the killed sync's output")
        assert "api_key=***" in err, "urllib3's -vv request lines are expected in the log"

        (state,) = db_rows(db, "select state from sync_state")[0]
        resume = json.loads(state)["resume"]["url"]
        assert "page=3" in resume and "book=" in resume and "api_key" not in resume
        assert_no_fragment(state, KEY, "the stored state")

        before = len(box.requests)
        resumed = podium("-vv", "sync", "--house", str(house), env=env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert_no_fragment(resumed.stdout + resumed.stderr, KEY, "the resumed sync's output")
        assert "api_key=***" in resumed.stderr
        requests_made = box.requests[before:]
        assert requests_made[0][2].get("page") == ["3"], "the sync did not resume at page 3"
        assert all(query.get("api_key") == ["***"] for _, _, query in requests_made)  # the key once, each time
        assert all("book" in query for _, _, query in requests_made), "the window was read again from the start"

    events = db_rows(db, "select count(*) from canonical_records where entity = 'event'")[0][0]
    assert events == len(box.events("ccleak")) - _outside_window(box)
    for table, column in (("sync_state", "state"), ("sync_runs", "coalesce(error, '')"),
                          ("dead_letters", "coalesce(reason, '') || coalesce(raw, '')")):
        for (text,) in db_rows(db, f"select {column} from {table}"):
            assert_no_fragment(text, KEY, table)
    archived = sorted((tmp_path / "archive").rglob("*.gz"))
    assert len(archived) >= 4
    for path in archived:
        text = gzip.decompress(path.read_bytes()).decode()
        assert_no_fragment(text, KEY, f"archive file {path.name}")
        for form in secret_forms(KEY):
            assert form not in text, path
    assert any("api_key=***" in gzip.decompress(p.read_bytes()).decode() for p in archived)


def _outside_window(box: YesplanSandbox) -> int:
    """Sandbox events outside the synced window (today - 90 … today + 420 days)."""
    from datetime import timedelta

    first, last = box.today - timedelta(days=90), box.today + timedelta(days=420)
    return sum(1 for e in box.events("ccleak").values()
               if not first.isoformat() <= e["startdate"] <= last.isoformat())
