"""The error classes an operator acts on, shared by the SDK, the engine, the CLI and the Airflow callbacks.

Each exception carries an ``error_class`` the ops team reads at a glance: ``config`` (fix the house
YAML), ``auth`` (fix the credentials), ``vendor_down`` (wait or call the vendor), ``rate_limited``
(lower the pool slots), ``bad_data`` (look at the dead letters).
"""

from __future__ import annotations


class PodiumError(Exception):
    """Base of every error Podium raises on purpose."""

    error_class = "internal"


class ConfigError(PodiumError):
    """A house config, connector setting or mapping is wrong; retrying will not help."""

    error_class = "config"


class AuthError(PodiumError):
    """The vendor refused the credentials (401/403 or the vendor's own auth error)."""

    error_class = "auth"


class VendorDownError(PodiumError):
    """The vendor did not answer or answered 5xx after all retries."""

    error_class = "vendor_down"


class RateLimitedError(PodiumError):
    """The vendor kept answering 429 past the retry budget."""

    error_class = "rate_limited"


class BadDataError(PodiumError):
    """The vendor sent something that cannot be parsed at all (a page, a file)."""

    error_class = "bad_data"


class UnsafeXmlError(BadDataError):
    """An XML document uses DTDs, external entities or entity expansion: refused, never parsed."""


def classify(exc: BaseException) -> str:
    """The operator-facing error class of any exception."""
    if isinstance(exc, PodiumError):
        return exc.error_class
    from podium.sdk.error_table import is_transport_fault

    if is_transport_fault(exc):
        return "vendor_down"  # a connection cut, a short body or a stall: the vendor's side, not a bug
    return "internal"
