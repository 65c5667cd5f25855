"""Auth kinds, each a ``requests`` auth object: query API key, Basic, Bearer, OAuth2 client
credentials (token cached until expiry, refreshed once on 401) and HMAC request signing.

``AUTH_MAP`` names them for declarative connectors; an unknown name lists the known ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from tenacity import Retrying

from podium.errors import AuthError, ConfigError, VendorDownError
from podium.sdk.error_table import ErrorAction, ErrorRule
from podium.sdk.retry import RetryableError, retrying
from podium.secrets import register_basic_auth, register_secret


class RefreshableAuth(AuthBase):
    """An auth that can renew its credential once when the vendor answers 401."""

    def refresh(self) -> bool:
        """Drop the cached credential; True when a retry with a new one makes sense."""
        return False


class ApiKeyQueryAuth(AuthBase):
    """An API key sent as a query parameter (e.g. ``?api_key=``)."""

    def __init__(self, key: str, param: str = "api_key") -> None:
        register_secret(key)
        self.key, self.param = key, param

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(name == self.param for name, _ in pairs):
            # A vendor next-page link that already carries the key: replace it, never send it twice.
            kept = [(name, value) for name, value in pairs if name != self.param]
            request.url = urlunsplit(parts._replace(query=urlencode([*kept, (self.param, self.key)])))
        else:
            request.prepare_url(request.url, {self.param: self.key})
        return request


class ApiKeyHeaderAuth(AuthBase):
    """An API key or client id sent as a request header (e.g. ``x-client-id``)."""

    def __init__(self, key: str, header: str = "x-api-key") -> None:
        register_secret(key)
        self.key, self.header = key, header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self.key
        return request


class BasicAuth(HTTPBasicAuth):
    """HTTP Basic auth (user:password)."""

    def __init__(self, username: str, password: str) -> None:
        register_basic_auth(username, password)
        super().__init__(username, password)


class BearerAuth(AuthBase):
    """A static bearer token."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class OAuth2ClientCredentials(RefreshableAuth):
    """OAuth2 client-credentials grant: the token is cached until shortly before it expires."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, scope: str | None = None,
                 audience: str | None = None, session: requests.Session | None = None,
                 timeout: float | tuple[float, float] = (5.0, 30.0), clock: Callable[[], float] = time.time,
                 retry: Retrying | None = None) -> None:
        register_secret(client_secret)
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.scope, self.audience = scope, audience
        self.session = session
        self.timeout = timeout
        self.clock = clock
        self.retry = retry or retrying()
        self._http: Any = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def token(self) -> str:
        """A valid access token, fetched only when the cached one is missing or about to expire."""
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - 30:
                self._fetch()
            assert self._token is not None
            return self._token

    def _fetch(self) -> None:
        body = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret}
        if self.scope:
            body["scope"] = self.scope
        if self.audience:
            body["audience"] = self.audience
        _, payload = self.http.fetch("POST", self.token_url, data=body, load=_token_payload)
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token:
            raise AuthError("token endpoint answered without an access_token")
        register_secret(token)
        self._token = token
        self._expires_at = self.clock() + float(payload.get("expires_in", 3600))
        self.tokens_fetched += 1

    @property
    def http(self) -> Any:
        """The token endpoint's ``HttpClient``: the same error table, retry factory and redaction as
        every vendor call, with refused credentials (400/401/403) read as auth errors."""
        if self._http is None:
            from podium.sdk.http import HttpClient  # http imports this module

            self._http = HttpClient(self.token_url, session=self.session, timeout=self.timeout,
                                    retry=self.retry, error_overrides=TOKEN_ERRORS)
        return self._http

    def refresh(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


_REFUSED = "token endpoint refused the client credentials"
TOKEN_ERRORS = {status: ErrorRule(ErrorAction.FAIL, AuthError, f"{_REFUSED} ({status})") for status in (400, 401, 403)}


def _token_payload(body: bytes) -> dict[str, Any]:
    """The token answer as a JSON object; a cut or non-JSON answer is the transport's fault, not the
    credentials': it is asked for again (and ends as vendor_down, never as an auth error)."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        problem = VendorDownError("the token endpoint answered with a body that is not a JSON object")
        raise RetryableError("token answer unreadable", problem)
    return payload


def utc_timestamp(fmt: str = "%Y-%m-%dT%H:%M:%S") -> str:
    """Now in UTC, formatted for a signature."""
    return datetime.now(UTC).strftime(fmt)


class HmacAuth(AuthBase):
    """HMAC-SHA256 request signing.

    ``message(key_id, timestamp, request)`` builds the string to sign and ``header`` formats the
    Authorization header from ``key``, ``ts`` and ``sign`` (hex digest). Vendors differ only in
    those two, so a connector passes them and never signs by hand.
    """

    def __init__(self, key_id: str, secret: str, *,
                 message: Callable[[str, str, requests.PreparedRequest], str],
                 header: str = "HMAC-SHA256 key={key} ts={ts} sign={sign}",
                 timestamp: Callable[[], str] = utc_timestamp) -> None:
        register_secret(secret)
        self.key_id, self.secret = key_id, secret
        self.message, self.header, self.timestamp = message, header, timestamp

    def sign(self, message: str) -> str:
        """Hex HMAC-SHA256 of ``message`` with the secret."""
        return hmac.new(self.secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        ts = self.timestamp()
        signature = self.sign(self.message(self.key_id, ts, request))
        request.headers["Authorization"] = self.header.format(key=self.key_id, ts=ts, sign=signature)
        return request


AUTH_MAP: dict[str, type[AuthBase]] = {
    "api_key_query": ApiKeyQueryAuth,
    "api_key_header": ApiKeyHeaderAuth,
    "basic": BasicAuth,
    "bearer": BearerAuth,
    "oauth2_client_credentials": OAuth2ClientCredentials,
    "hmac": HmacAuth,
}


def auth_class(name: str) -> type[AuthBase]:
    """Look up an auth kind by name; an unknown name lists the known ones."""
    try:
        return AUTH_MAP[name]
    except KeyError:
        raise ConfigError(f"unknown auth kind '{name}' (known: {', '.join(sorted(AUTH_MAP))})") from None


def make_auth(name: str, **kwargs: Any) -> AuthBase:
    """Build an auth object by kind name."""
    return auth_class(name)(**kwargs)
