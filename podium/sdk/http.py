"""The HTTP client every REST (and SOAP) connector shares.

One ``requests.Session`` per connector instance (connection reuse), timeouts on every call,
auth from ``auth.py``, every status judged by the error table, retries by the tenacity factory
(``Retry-After`` honoured), and the per-connector rate limiter. A transfer that breaks (reset, body
shorter than its Content-Length, stall past the read timeout) is transient by the error table;
``get_document`` also decodes inside the retry, so a body cut short under a matching length (it
looks complete but cannot be read) is fetched again, never skipped. Error messages are redacted: no
URL query value and no registered secret ever reaches an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from tenacity import Retrying

from podium.errors import BadDataError, VendorDownError
from podium.sdk.auth import RefreshableAuth
from podium.sdk.error_table import ErrorAction, ErrorRule, is_transport_fault, rule_for
from podium.sdk.ratelimit import RateLimiter
from podium.sdk.retry import RetryableError, broken_transfer, judged, parse_retry_after, retrying
from podium.secrets import redact, safe_text

log = logging.getLogger("podium.http")

# (connect, read) seconds. A vendor that stalls longer than the read timeout is a transport fault: the
# request is retried and, past the budget, the stream fails and frees its worker slot. Connectors
# declare their own value (``Connector.timeouts``); this is the default for a client built bare.
DEFAULT_TIMEOUT = (5.0, 30.0)


def safe_url(url: str) -> str:
    """The URL without its query string (query values may carry keys) and without user:password@."""
    parts = urlsplit(url)
    return redact(urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", "")))


def new_session(pool_size: int = 4) -> requests.Session:
    """A session with a bounded connection pool and no environment proxies/netrc surprises."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False
    return session


class HttpClient:
    """Send requests to one vendor; raise the error table's exception when a call cannot succeed."""

    def __init__(self, base_url: str, *, auth: AuthBase | None = None,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
                 error_overrides: Mapping[int, ErrorRule] | None = None,
                 retry: Retrying | None = None, rate_limiter: RateLimiter | None = None,
                 session: requests.Session | None = None, headers: Mapping[str, str] | None = None,
                 judge: Callable[[requests.Response], ErrorRule] | None = None) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.auth = auth
        self.timeout = timeout
        self.error_overrides = dict(error_overrides or {})
        # A protocol whose status alone does not say what happened (SOAP faults all arrive as 500)
        # reads the body first; it still answers with a rule of the one error table.
        self.judge = judge or self._judge_by_status
        self.retry = retry or retrying()
        self.rate_limiter = rate_limiter
        self.session = session or new_session()
        if headers:
            self.session.headers.update(headers)
        self.requests_sent = 0

    def url(self, path_or_url: str) -> str:
        """Absolute URL for a path relative to the base URL (absolute URLs pass through)."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def request(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None,
                **kwargs: Any) -> requests.Response:
        """Send with retries; return a successful (or IGNOREd) response, else raise a PodiumError."""
        return self.fetch(method, path_or_url, params=params, **kwargs)[0]

    def get(self, path_or_url: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        """GET with retries."""
        return self.request("GET", path_or_url, params=params, **kwargs)

    def get_document(self, path_or_url: str, load: Callable[[bytes], Any], *,
                     params: Mapping[str, Any] | None = None, **kwargs: Any) -> tuple[requests.Response, Any]:
        """GET and decode: an answer ``load`` refuses (BadDataError) is a transport fault, fetched again."""
        return self.fetch("GET", path_or_url, params=params, load=load, **kwargs)

    def fetch(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None,
              load: Callable[[bytes], Any] | None = None, **kwargs: Any) -> tuple[requests.Response, Any]:
        """Send with retries: (response, ``load(body)`` of a successful answer, or None)."""
        url = self.url(path_or_url)
        response, document = self.retry(self._attempt, method, url, params, kwargs, load)
        if (response.status_code == 401 and isinstance(self.auth, RefreshableAuth) and self.auth.refresh()):
            # One new token, one more try: a second 401 is final.
            response, document = self.retry(self._attempt, method, url, params, kwargs, load)
        rule = self.judge(response)
        if rule.action in (ErrorAction.SUCCESS, ErrorAction.IGNORE):
            return response, document
        raise self._error(rule, response, method, url)

    def _attempt(self, method: str, url: str, params: Mapping[str, Any] | None, kwargs: dict[str, Any],
                 load: Callable[[bytes], Any] | None) -> tuple[requests.Response, Any]:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        self.requests_sent += 1
        where = f"{method} {safe_url(url)}"
        try:
            options = {"timeout": self.timeout, **kwargs}
            response = self.session.request(method, url, params=params, auth=self.auth, **options)
        except Exception as exc:
            if not is_transport_fault(exc):
                raise
            log.warning("%s failed: %s", where, type(exc).__name__)
            raise broken_transfer(exc, where) from None
        rule = self.judge(response)
        if rule.action is ErrorAction.RATE_LIMITED:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            log.warning("%s: 429, waiting %s s", where, wait if wait is not None else "backoff")
            raise judged(rule, self._error(rule, response, method, url), wait)
        if rule.action is ErrorAction.RETRY:
            log.warning("%s: %s, retrying", where, response.status_code)
            raise judged(rule, self._error(rule, response, method, url))
        if load is None or rule.action is not ErrorAction.SUCCESS:
            return response, None
        try:
            return response, load(response.content)
        except BadDataError as exc:
            # A body cut short under a matching Content-Length arrives "complete" but cannot be read:
            # it is fetched again like any broken transfer, and never skipped.
            log.warning("%s: the answer cannot be read (%s), fetching it again", where, redact(str(exc))[:200])
            raise RetryableError("undecodable", BadDataError(
                redact(f"{where}: the vendor's answer cannot be read as a whole ({exc})"))) from None

    def _judge_by_status(self, response: requests.Response) -> ErrorRule:
        return rule_for(response.status_code, self.error_overrides)

    @staticmethod
    def _error(rule: ErrorRule, response: requests.Response, method: str, url: str) -> Exception:
        detail = safe_text(response.text, 300).strip().replace("\n", " ") if response.content else ""
        message = f"{method} {safe_url(url)}: {rule.message or response.status_code}"
        if detail:
            message += f" — vendor said: {detail}"
        error_type = rule.error or VendorDownError
        return error_type(redact(message))

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()
