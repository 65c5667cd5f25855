"""The shared HTTP pieces against a real HTTP server on loopback: retry, Retry-After, auth, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest

from podium.errors import AuthError, ConfigError, RateLimitedError, VendorDownError
from podium.sandbox import Request, Response, Sandbox
from podium.sdk import (
    ApiKeyQueryAuth,
    BasicAuth,
    HmacAuth,
    HttpClient,
    OAuth2ClientCredentials,
    RateLimiter,
    retrying,
)
from podium.sdk.auth import auth_class
from podium.sdk.retry import parse_retry_after


class EchoSandbox(Sandbox):
    """Echoes what it received; a tiny OAuth2 token endpoint with short-lived tokens."""

    name = "echo"
    rate_limit_requests = 1000

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []
        self.revoked: set[str] = set()

    def route(self, request: Request) -> Response:
        if request.path == "/token":
            body = dict(p.split("=", 1) for p in request.body.decode().split("&"))
            if body.get("client_secret") != "s3cr3t-value":
                return Response.json({"error": "access_denied"}, 401)
            token = f"tok{len(self.tokens)}"
            self.tokens.append(token)
            return Response.json({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})
        auth = request.headers.get("Authorization", "")
        if request.path == "/protected":
            token = auth.removeprefix("Bearer ")
            if token not in self.tokens or token in self.revoked:
                return Response.json({"error": "invalid_token"}, 401)
        return Response.json({"path": request.path, "query": request.query, "authorization": auth})


@pytest.fixture
def echo() -> Any:
    with EchoSandbox() as sandbox:
        yield sandbox


def fast_retry(**kwargs: Any) -> Any:
    waits: list[float] = []
    return retrying(sleep=waits.append, backoff_initial=0.01, backoff_max=0.02, **kwargs), waits


def test_5xx_is_retried_then_succeeds(echo: EchoSandbox) -> None:
    retry, waits = fast_retry()
    client = HttpClient(echo.url, retry=retry)
    echo.inject(503, 2)
    assert client.get("/x").json()["path"] == "/x"
    assert len(waits) == 2 and client.requests_sent == 3


def test_5xx_past_the_budget_is_vendor_down(echo: EchoSandbox) -> None:
    retry, _ = fast_retry(max_attempts=3)
    echo.inject(500, 5)
    with pytest.raises(VendorDownError, match="500"):
        HttpClient(echo.url, retry=retry).get("/x")


def test_429_waits_exactly_retry_after(echo: EchoSandbox) -> None:
    retry, waits = fast_retry()
    echo.inject(429, 1, retry_after=7)
    HttpClient(echo.url, retry=retry).get("/x")
    assert waits == [7.0]


def test_429_with_an_excessive_retry_after_fails_as_rate_limited(echo: EchoSandbox) -> None:
    retry, waits = fast_retry(max_retry_after=60)
    echo.inject(429, 1, retry_after=3600)
    with pytest.raises(RateLimitedError):
        HttpClient(echo.url, retry=retry).get("/x")
    assert waits == []


def test_401_and_403_fail_at_once(echo: EchoSandbox) -> None:
    retry, waits = fast_retry()
    client = HttpClient(echo.url, retry=retry)
    for status in (401, 403):
        echo.inject(status, 1)
        with pytest.raises(AuthError, match=str(status)):
            client.get("/x")
    assert waits == []


def test_404_is_a_config_error_and_connection_refused_is_vendor_down() -> None:
    retry, _ = fast_retry(max_attempts=2)
    with EchoSandbox() as sandbox:
        url = sandbox.url
        sandbox.inject(404, 1)
        with pytest.raises(ConfigError):
            HttpClient(url, retry=retry).get("/x")
    with pytest.raises(VendorDownError, match="unreachable"):
        HttpClient(url, retry=retry).get("/x")


def test_query_api_key_never_reaches_an_error_message(echo: EchoSandbox) -> None:
    retry, _ = fast_retry(max_attempts=1)
    echo.inject(500, 1)
    with pytest.raises(VendorDownError) as caught:
        HttpClient(echo.url, auth=ApiKeyQueryAuth("key-abcdef123456"), retry=retry).get("/x")
    assert "key-abcdef123456" not in str(caught.value)
    echoed = HttpClient(echo.url, auth=ApiKeyQueryAuth("key-abcdef123456")).get("/x").json()
    assert echoed["query"]["api_key"] == ["key-abcdef123456"]


def test_basic_auth_header(echo: EchoSandbox) -> None:
    echoed = HttpClient(echo.url, auth=BasicAuth("acct", "pw-123456")).get("/x").json()
    assert echoed["authorization"] == "Basic " + base64.b64encode(b"acct:pw-123456").decode()


def test_oauth2_token_is_cached_and_refreshed_once_on_401(echo: EchoSandbox) -> None:
    auth = OAuth2ClientCredentials(f"{echo.url}/token", "client", "s3cr3t-value")
    client = HttpClient(echo.url, auth=auth)
    for _ in range(3):
        client.get("/protected")
    assert auth.tokens_fetched == 1
    echo.revoked.add(echo.tokens[0])  # the vendor revokes the token: one refresh, then success
    client.get("/protected")
    assert auth.tokens_fetched == 2


def test_oauth2_expired_token_is_renewed_before_use(echo: EchoSandbox) -> None:
    now = [1000.0]
    auth = OAuth2ClientCredentials(f"{echo.url}/token", "client", "s3cr3t-value", clock=lambda: now[0])
    client = HttpClient(echo.url, auth=auth)
    client.get("/protected")
    now[0] += 3600
    client.get("/protected")
    assert auth.tokens_fetched == 2


def test_oauth2_token_requests_are_sent_by_the_http_client_with_its_retry_policy(echo: EchoSandbox) -> None:
    retry, waits = fast_retry()
    auth = OAuth2ClientCredentials(f"{echo.url}/token", "client", "s3cr3t-value", retry=retry)
    echo.inject(503, 1)
    assert auth.token() == "tok0"
    assert isinstance(auth.http, HttpClient) and auth.http.requests_sent == 2 and len(waits) == 1
    echo.inject(429, 1, retry_after=4)
    auth.refresh()
    assert auth.token() == "tok1"
    assert waits[-1] == 4.0  # Retry-After honoured, as for every vendor call


def test_oauth2_bad_secret_is_an_auth_error_without_the_secret(echo: EchoSandbox) -> None:
    auth = OAuth2ClientCredentials(f"{echo.url}/token", "client", "wrong-secret-999")
    with pytest.raises(AuthError) as caught:
        HttpClient(echo.url, auth=auth).get("/protected")
    assert "wrong-secret-999" not in str(caught.value)


def test_hmac_signature_is_the_hmac_of_the_declared_message(echo: EchoSandbox) -> None:
    auth = HmacAuth("AK", "top-secret-key", message=lambda key, ts, req: key + "acct" + ts,
                    header="TM-HMAC-SHA256 key={key} ts={ts} sign={sign}", timestamp=lambda: "2026-03-29T01:30:00")
    header = HttpClient(echo.url, auth=auth).get("/x").json()["authorization"]
    expected = hmac.new(b"top-secret-key", b"AKacct2026-03-29T01:30:00", hashlib.sha256).hexdigest()
    assert header == f"TM-HMAC-SHA256 key=AK ts=2026-03-29T01:30:00 sign={expected}"


def test_auth_registry_lists_known_names() -> None:
    with pytest.raises(ConfigError, match=r"known: .*api_key_query, basic, bearer, hmac, oauth2_client_credentials"):
        auth_class("kerberos")


def test_rate_limiter_spaces_requests() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(2.0, burst=2, clock=lambda: clock[0], sleep=sleep)
    for _ in range(6):
        limiter.acquire()
    assert slept and abs(sum(slept) - 2.0) < 1e-6  # 6 requests at 2/s with a burst of 2: 2 s of waiting


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    parsed = parse_retry_after(future)
    assert parsed is not None and 25 <= parsed <= 31
    assert parse_retry_after("soon") is None


def test_one_transport_sends_every_vendor_request_and_one_factory_builds_every_retry() -> None:
    # REST, SOAP (zeep's transport), the OAuth token client: all send through HttpClient._attempt;
    # every Retrying comes from retrying(). A second send or retry loop would judge faults its own way.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sends = re.compile(r"\b(session|requests)\.(get|post|put|request)\(")
    sources = [p for folder in ("podium", "connectors", "plugins") for p in (root / folder).rglob("*.py")
               if "sandbox" not in p.name and "testing" not in p.parts]
    sending = {p.relative_to(root).as_posix() for p in sources if sends.search(p.read_text(encoding="utf-8"))}
    retrying_built = {p.relative_to(root).as_posix() for p in sources if "Retrying(" in p.read_text(encoding="utf-8")}
    assert sending == {"podium/sdk/http.py"}
    assert retrying_built == {"podium/sdk/retry.py"}
