"""Tenant-seeded datasets: each tenant (account, organisation, shop, client) gets its own data.

A sandbox serves any tenant name: the first request of a tenant seeds its dataset from the sandbox
seed and the tenant's name (and ``today`` where dates follow the day), so the same inputs always give
the same data; later changes (``mutate``) apply to the cached dataset under one lock.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def tenant_random(*parts: object) -> random.Random:
    """A generator seeded from ``parts`` joined by ``:`` (e.g. seed and tenant name)."""
    return random.Random(":".join(str(part) for part in parts))


def stable_int(text: str, hex_digits: int | None = None) -> int:
    """A number fixed by ``text`` across processes (SHA-256, optionally its first ``hex_digits``)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    return int(digest[:hex_digits] if hex_digits else digest, 16)


class TenantDatasets(Generic[T]):
    """Datasets by tenant, built on first use by ``build(tenant)`` and kept until the sandbox ends.

    ``lock`` is re-entrant: a ``mutate`` that holds it may still read datasets.
    """

    def __init__(self, build: Callable[[str], T]) -> None:
        self._build = build
        self._data: dict[str, T] = {}
        self.lock = threading.RLock()

    def get(self, tenant: str) -> T:
        """The tenant's dataset (seeded on first use)."""
        with self.lock:
            if tenant not in self._data:
                self._data[tenant] = self._build(tenant)
            return self._data[tenant]

    def tenants(self) -> list[str]:
        """The tenants served so far, in the order they were first asked for."""
        with self.lock:
            return list(self._data)

    def values(self) -> Iterator[T]:
        """The datasets served so far (hold ``lock`` while changing them)."""
        with self.lock:
            yield from list(self._data.values())

    def __bool__(self) -> bool:
        return bool(self._data)
