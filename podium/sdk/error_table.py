"""One table decides what an HTTP answer means: retry, fail, or wait out a rate limit.

Modelled on Airbyte's ``default_error_mapping``: status -> (action, error class, message). A
connector that knows better for its vendor passes overrides (``{404: ErrorRule(IGNORE, ...)}``);
nothing else in the SDK decides about statuses.
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
