"""Fault modes of a sandbox, in one place.

- HTTP faults a vendor answers (429 + ``Retry-After``, 5xx, 401/403): ``InjectedFaults``, queued by a
  test with ``sandbox.inject(status, count, retry_after)`` or, from another process, with
  ``POST /__sandbox/inject?status=503&count=2&retry_after=1`` (``inject_request``).
- Garbage and attack bodies: ``Sandbox.serve_raw`` / ``take_raw``.
- Transport faults below HTTP (resets, cut bodies, stalls): ``podium.testing.faults.FaultProxy`` in
  front of any sandbox.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping


class InjectedFaults:
    """HTTP statuses to answer the next requests with, instead of the vendor's answer (thread-safe)."""

    def __init__(self) -> None:
        self._queue: deque[tuple[int, int | None]] = deque()
        self._lock = threading.Lock()

    def add(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (``retry_after`` seconds for 429/503)."""
        with self._lock:
            self._queue.extend([(status, retry_after)] * count)

    def next(self) -> tuple[int, int | None] | None:
        """The fault for this request (status, retry_after), or None to answer normally."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        """Drop the faults no request used."""
        with self._lock:
            self._queue.clear()


def inject_request(query: Mapping[str, list[str]]) -> tuple[int, int, int | None]:
    """(status, count, retry_after) of a ``/__sandbox/inject`` control request (defaults: one 503)."""
    status = int((query.get("status") or ["503"])[0] or 503)
    count = int((query.get("count") or ["1"])[0] or 1)
    wait = (query.get("retry_after") or [""])[0]
    return status, count, int(wait) if wait else None
