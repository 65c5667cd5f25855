"""Auth kinds, each a ``requests`` auth object: query API key, Basic, Bearer, OAuth2 client
credentials (token cached until expiry, refreshed once on 401) and HMAC request signing.

``AUTH_MAP`` names them for declarative connectors; an unknown name lists the known ones.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from tenacity import Retrying

from podium.errors import AuthError, ConfigError, RateLimitedError, VendorDownError
from podium.sdk.error_table import is_transport_fault, transport_failure
from podium.sdk.retry import RetryableError, parse_retry_after, retrying
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
    """An API key or client id sent as a request header (e.g. publiq's ``x-client-id``)."""

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
        self.session = session or requests.Session()
        self.timeout = timeout
        self.clock = clock
        self.retry = retry or retrying()
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
        response, payload = self.retry(self._post, body)
        if response.status_code in (400, 401, 403):
            raise AuthError(f"token endpoint refused the client credentials ({response.status_code} "
                            f"{_oauth_error(response)})")
        if response.status_code >= 300:
            raise VendorDownError(f"token endpoint answered {response.status_code}")
        token = payload.get("access_token")
        if not token:
            raise AuthError("token endpoint answered without an access_token")
        register_secret(token)
        self._token = token
        self._expires_at = self.clock() + float(payload.get("expires_in", 3600))
        self.tokens_fetched += 1

    def _post(self, body: dict[str, str]) -> tuple[requests.Response, dict[str, Any]]:
        """One token request and its JSON; 429, 5xx and a broken or unreadable answer are transient."""
        from podium.sdk.http import safe_url  # http imports this module

        where = f"token endpoint {safe_url(self.token_url)}"
        try:
            response = self.session.post(self.token_url, data=body, timeout=self.timeout)
        except Exception as exc:
            if not is_transport_fault(exc):
                raise
            raise RetryableError(type(exc).__name__, transport_failure(exc, where)) from None
        if response.status_code == 429:
            raise RetryableError("token endpoint rate limited",
                                 RateLimitedError(f"{where} answered 429 (rate limited)"),
                                 retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            raise RetryableError("token endpoint error", VendorDownError(f"{where} answered {response.status_code}"))
        if response.status_code >= 300:
            return response, {}
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            # A cut or non-JSON token answer is the transport's fault, not the credentials': ask again.
            raise RetryableError("token answer unreadable", VendorDownError(
                f"{where} answered {response.status_code} with a body that is not a JSON object"))
        return response, payload

    def refresh(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


def _oauth_error(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""


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
