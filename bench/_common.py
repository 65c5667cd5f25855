"""Shared bench pieces: peak RSS, a Ticketmatic-shaped workload on disk, and a fake vendor.

The workload is the Ticketmatic sandbox's own seeding (``connectors/ticketmatic/sandbox.py``:
orders with 1–6 tickets, returned tickets + refunds, unconfirmed and archived orders, buyers and
ticket holders, Flemish venues) at bench scale, served as ``GET /orders`` list pages
(``{data, nbrofresults, lookup}``, ``orderby=lastupdatets`` ascending) written to files, so the
timed process reads bytes exactly as they would come off the wire and holds no generated data.
"""

from __future__ import annotations

import bisect
import math
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (MiB).

    On Linux ``ru_maxrss`` of a freshly started child includes the RSS of the parent at fork time
    (the kernel carries the high-water mark over ``execve``), so the bench reads the high-water mark
    of the process's own memory (``VmHWM``) where ``/proc`` has it and ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


# -- Ticketmatic workload ------------------------------------------------------------------------------
def write_ticketmatic_pages(folder: Path, tickets: int, *, page_size: int = 100, seed: int = 7,
                            events: int = 400, contacts: int = 20_000) -> dict[str, Any]:
    """Write ``GET /orders`` pages holding at least ``tickets`` tickets; returns the index (also on disk)."""
    from connectors.ticketmatic import sandbox as tm

    rng = random.Random(seed)
    clock = datetime(2024, 9, 2, 9, 0, 0)

    def tick() -> datetime:  # a busy house: a change every few seconds to minutes (~a season for 200k tickets)
        nonlocal clock
        clock += timedelta(seconds=rng.randint(1, 180))
        return clock

    event_rows = tm._seed_events(rng, events, tick)
    contact_rows = tm._seed_contacts(rng, contacts, tick)
    orders = tm._seed_orders(rng, math.ceil(tickets / 3.0), event_rows, contact_rows, tick)
    kept, total = [], 0
    for order in orders:
        if total >= tickets:
            break
        kept.append(order)
        total += len(order["tickets"])
    if total < tickets:
        raise RuntimeError(f"generated only {total} tickets, wanted {tickets}")
    kept.sort(key=lambda o: (o["lastupdatets"], o["orderid"]))
    lookup = tm._lookup("orders")
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"page_size": page_size, "orders": len(kept), "tickets": total, "pages": [],
                             "bytes": 0}
    for number, start in enumerate(range(0, len(kept), page_size)):
        chunk = kept[start:start + page_size]
        body = orjson.dumps({"data": chunk, "nbrofresults": len(kept), "lookup": lookup})
        (folder / f"page-{number:05d}.json").write_bytes(body)
        index["pages"].append({"first": chunk[0]["lastupdatets"], "last": chunk[-1]["lastupdatets"],
                               "orders": len(chunk), "tickets": sum(len(o["tickets"]) for o in chunk)})
        index["bytes"] += len(body)
    (folder / "index.json").write_bytes(orjson.dumps(index))
    return index


@dataclass
class FakeResponse:
    content: bytes
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class FakeTicketmatic:
    """Stands in for the connector's ``HttpClient``: answers ``GET orders`` from the page files.

    Honours ``limit``/``offset`` and ``lastupdatesince`` (exclusive, as the sandbox) like the API.
    ``seconds`` is the time spent playing the vendor, which the bench subtracts (it is the HTTP part).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index = orjson.loads((folder / "index.json").read_bytes())
        self.page_size = int(self.index["page_size"])
        self.lookup: Any = None
        self.seconds = 0.0
        self.requests = 0

    def _page(self, number: int) -> bytes:
        return (self.folder / f"page-{number:05d}.json").read_bytes()

    def get(self, path: str, params: dict[str, Any] | None = None, **_: Any) -> FakeResponse:
        started = time.perf_counter()
        try:
            return self._get(path, dict(params or {}))
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1

    def get_document(self, path: str, load: Any, params: dict[str, Any] | None = None,
                     **_: Any) -> tuple[FakeResponse, Any]:
        """``HttpClient.get_document``: the page and its decoding (decoding is the connector's time)."""
        response = self.get(path, params)
        return response, load(response.content)

    def _get(self, path: str, params: dict[str, Any]) -> FakeResponse:
        if path != "orders":
            raise ValueError(f"the bench vendor serves orders only, not {path}")
        limit, offset = int(params.get("limit", 100)), int(params.get("offset", 0))
        since = params.get("lastupdatesince")
        pages = self.index["pages"]
        if not since and limit == self.page_size and offset % limit == 0:
            number = offset // limit
            if number < len(pages):
                return FakeResponse(self._page(number))
        # General case: the orders after ``since`` form a suffix (pages are sorted by lastupdatets).
        first_page = bisect.bisect_right([p["last"] for p in pages], since) if since else offset // self.page_size
        offset -= 0 if since else first_page * self.page_size
        remaining: list[dict[str, Any]] = []
        lookup: Any = {}
        for number in range(first_page, len(pages)):
            document = orjson.loads(self._page(number))
            lookup = document["lookup"]
            remaining.extend(o for o in document["data"] if not since or o["lastupdatets"] > since)
            if len(remaining) >= offset + limit:
                break
        if not since:
            total = int(self.index["orders"])
        else:
            total = len(remaining) if first_page >= len(pages) - 1 else self._count_after(since)
        return FakeResponse(orjson.dumps({"data": remaining[offset:offset + limit], "nbrofresults": total,
                                          "lookup": lookup}))

    def _count_after(self, since: str | None) -> int:
        count = 0
        for number, meta in enumerate(self.index["pages"]):
            if since and meta["last"] <= since:
                continue
            if not since or meta["first"] > since:
                count += meta["orders"]
            else:
                count += sum(1 for o in orjson.loads(self._page(number))["data"] if o["lastupdatets"] > since)
        return count

    def close(self) -> None:
        pass


def run_worker(script: str, kind: str, args: list[str]) -> dict[str, Any]:
    """Run ``script --_worker KIND ARGS`` in a fresh process (its own peak RSS); returns its last JSON line."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, script, "--_worker", kind, *args], capture_output=True, text=True,
                         cwd=REPO)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"{kind} worker failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
