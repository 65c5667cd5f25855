"""One table decides what an HTTP answer means: retry, fail, or wait out a rate limit.

Modelled on Airbyte's ``default_error_mapping``: status -> (action, error class, message). A
connector that knows better for its vendor passes overrides (``{404: ErrorRule(IGNORE, ...)}``);
nothing else in the SDK decides about statuses. ``is_transport_fault`` is the same decision for
answers that never fully arrived (resets, cut bodies, stalls, whichever HTTP layer noticed): transient.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from podium.errors import AuthError, ConfigError, PodiumError, RateLimitedError, VendorDownError


class ErrorAction(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"  # transient: back off and try again
    RATE_LIMITED = "rate_limited"  # wait Retry-After, then try again
    FAIL = "fail"  # permanent: raise at once
    IGNORE = "ignore"  # treat as an empty answer


@dataclass(frozen=True)
class ErrorRule:
    action: ErrorAction
    error: type[PodiumError] | None = None
    message: str = ""


DEFAULT_ERROR_TABLE: Mapping[int, ErrorRule] = {
    400: ErrorRule(ErrorAction.FAIL, ConfigError, "the vendor refused the request as malformed (400)"),
    401: ErrorRule(ErrorAction.FAIL, AuthError, "the vendor refused the credentials (401)"),
    403: ErrorRule(ErrorAction.FAIL, AuthError, "the credentials lack permission for this resource (403)"),
    404: ErrorRule(ErrorAction.FAIL, ConfigError, "not found (404): check the account/base URL settings"),
    408: ErrorRule(ErrorAction.RETRY, VendorDownError, "the vendor timed out (408)"),
    409: ErrorRule(ErrorAction.RETRY, VendorDownError, "conflict (409)"),
    422: ErrorRule(ErrorAction.FAIL, ConfigError, "the vendor refused the request parameters (422)"),
    429: ErrorRule(ErrorAction.RATE_LIMITED, RateLimitedError, "rate limited by the vendor (429)"),
    500: ErrorRule(ErrorAction.RETRY, VendorDownError, "vendor error (500)"),
    502: ErrorRule(ErrorAction.RETRY, VendorDownError, "bad gateway at the vendor (502)"),
    503: ErrorRule(ErrorAction.RETRY, VendorDownError, "the vendor is unavailable (503)"),
    504: ErrorRule(ErrorAction.RETRY, VendorDownError, "gateway timeout at the vendor (504)"),
}


def rule_for(status: int, overrides: Mapping[int, ErrorRule] | None = None) -> ErrorRule:
    """The rule for a status: overrides first, then the table, then by class (2xx/4xx/5xx)."""
    if overrides and status in overrides:
        return overrides[status]
    if status in DEFAULT_ERROR_TABLE:
        return DEFAULT_ERROR_TABLE[status]
    if 200 <= status < 400:
        return ErrorRule(ErrorAction.SUCCESS)
    if status >= 500:
        return ErrorRule(ErrorAction.RETRY, VendorDownError, f"vendor error ({status})")
    return ErrorRule(ErrorAction.FAIL, ConfigError, f"the vendor refused the request ({status})")


def _transport_fault_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the connection broke or stalled: the vendor's answer never fully arrived."""
    import http.client

    import requests
    import urllib3.exceptions

    found: list[type[BaseException]] = [
        requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
        urllib3.exceptions.ProtocolError, urllib3.exceptions.IncompleteRead, urllib3.exceptions.TimeoutError,
        urllib3.exceptions.DecodeError,
        http.client.IncompleteRead, ConnectionError, TimeoutError,
    ]
    try:
        import botocore.exceptions as boto
    except ImportError:  # botocore comes with the S3 connector only
        return tuple(found)
    found += [boto.ResponseStreamingError, boto.IncompleteReadError, boto.ConnectionError,
              boto.ConnectTimeoutError, boto.ReadTimeoutError]
    return tuple(found)


_TRANSPORT_FAULTS: tuple[type[BaseException], ...] | None = None


def is_transport_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a broken, cut short or stalled transfer: transient, so retried, and ``vendor_down``.

    A body shorter than its Content-Length surfaces as urllib3 ``IncompleteRead``/``ProtocolError``,
    requests ``ChunkedEncodingError``/``ContentDecodingError`` or botocore ``ResponseStreamingError``/
    ``IncompleteReadError``, depending on which layer reads it; all of them are this one case.
    """
    global _TRANSPORT_FAULTS
    if _TRANSPORT_FAULTS is None:
        _TRANSPORT_FAULTS = _transport_fault_types()
    return isinstance(exc, _TRANSPORT_FAULTS)


def transport_failure(exc: BaseException, where: str) -> VendorDownError:
    """The operator-facing error for a transport fault (names the exception type, never its text:
    urllib3 messages can carry the full URL with its query)."""
    return VendorDownError(f"{where}: vendor unreachable, or its answer broke off or stalled "
                           f"({type(exc).__name__})")
