"""The one retry factory: tenacity, retrying transient errors, honouring ``Retry-After``."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
    wait_random,
)

from podium.sdk.error_table import ErrorAction, ErrorRule, is_transport_fault, transport_failure


class RetryableError(Exception):
    """Raised inside a retried call for an answer the error table says to retry."""

    def __init__(self, message: str, final: Exception, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.final = final  # what to raise when the attempts are used up
        self.retry_after = retry_after


def judged(rule: ErrorRule, error: Exception, retry_after: float | None = None) -> Exception:
    """What a retried call raises for an answer the error table judged ``rule``: a ``RetryableError``
    (tenacity tries again, ``error`` is raised when the attempts are used up) or ``error`` itself.
    Every transport (HTTP, SOAP through HTTP, the OAuth token client, S3) decides through this."""
    if rule.action is ErrorAction.RATE_LIMITED:
        return RetryableError("rate limited", error, retry_after=retry_after)
    if rule.action is ErrorAction.RETRY:
        return RetryableError("retry", error, retry_after=retry_after)
    return error


def broken_transfer(exc: BaseException, where: str) -> RetryableError:
    """A transport fault (reset, cut body, stall) as the retried error, vendor_down when attempts run out."""
    return RetryableError(type(exc).__name__, transport_failure(exc, where))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError) or is_transport_fault(exc)


def retrying(max_attempts: int = 5, backoff_initial: float = 0.5, backoff_max: float = 30.0,
             max_retry_after: float = 300.0, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """A tenacity ``Retrying`` for vendor calls: exponential jitter, or exactly ``Retry-After`` when given."""
    backoff = wait_exponential_jitter(initial=backoff_initial, max=backoff_max)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            if exc.retry_after > max_retry_after:
                raise exc.final  # waiting that long belongs to the scheduler, not to this task
            return exc.retry_after
        return float(backoff(state))

    def give_up(state: RetryCallState) -> Any:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError):
            raise exc.final from None
        if exc is not None:
            raise exc
        return None

    return Retrying(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(max_attempts),
        wait=wait,
        sleep=sleep,
        retry_error_callback=give_up,
        reraise=True,
    )


def retrying_while(condition: Callable[[BaseException], bool], *, seconds: float,
                   wait_max: float = 0.2) -> Retrying:
    """Retry a local operation while ``condition(exc)`` holds, for at most ``seconds`` (jittered short waits).

    For contention that resolves by itself (a SQLite file lock between processes), not for vendor calls.
    """
    return Retrying(retry=retry_if_exception(condition), stop=stop_after_delay(seconds),
                    wait=wait_random(0.01, wait_max), reraise=True)
