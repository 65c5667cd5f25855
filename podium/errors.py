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


# Each error class in plain words for the person on call: what happened, and what to do about it.
# ``{conn}`` is the house's Airflow connection id (or how to find it), ``{house}`` the house key.
ERROR_ADVICE: dict[str, tuple[str, str]] = {
    "config": ("The house config, or the credentials it references, is wrong; retrying will not help.",
               "Fix houses/{house}.yaml or the Airflow connection {conn}; `podium check --house {house}` "
               "names the file and key."),
    "auth": ("The vendor refused the credentials.",
             "Renew the credentials in the Airflow connection {conn}, then run the sync again."),
    "vendor_down": ("The vendor did not answer, or answered with server errors, through every retry.",
                    "Wait, or call the vendor. Nothing is lost: the next run resumes where this one stopped."),
    "rate_limited": ("The vendor kept refusing requests as too many.",
                     "Lower this vendor's pool slots in houses/_fleet.yaml, or ask the vendor for a higher limit."),
    "bad_data": ("The vendor sent a page that could not be read at all.",
                 "Open the raw page in the archive and the dead letters; tell the vendor what is broken."),
    "interrupted": ("The sync process stopped before finishing (killed, or its machine restarted).",
                    "Nothing: the pages it stored are kept and the next run resumes from its state."),
    "internal": ("A bug in Podium or in the connector.",
                 "Open the task log and report it with the house and connector."),
}


def advice(error_class: str | None, *, house: str = "<house>", conn: str | None = None) -> tuple[str, str]:
    """(what happened, what to do) for an error class, in plain words."""
    what, todo = ERROR_ADVICE.get(error_class or "internal", ERROR_ADVICE["internal"])
    return what, todo.format(house=house, conn=f"'{conn}'" if conn else "named by the house's credentials.conn_id")
