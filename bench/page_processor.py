"""The map + link + validate + dump + hash stage alone (``PageProcessor.process``) on Ticketmatic orders pages.

End-to-end figures (``throughput.py``) move with the disk and the other processes of a shared machine;
this one isolates the hot path the mapping language compiles into. Best of N passes, µs per ticket: the
wall time and the process's CPU time (on a shared machine the CPU time moves less with the neighbours'
load; compare two trees back to back, alternating, on the same pages).

    .venv/bin/python bench/page_processor.py [--tickets 20000] [--passes 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import write_ticketmatic_pages
from podium.engine import PageProcessor
from podium.mapping import MappingContext, load_mapping
from podium.registry import get_connector
from podium.sdk.connector import Page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--passes", type=int, default=7)
    args = parser.parse_args()
    cls = get_connector("ticketmatic")
    spec = cls.stream("orders")
    with tempfile.TemporaryDirectory() as folder:
        write_ticketmatic_pages(Path(folder), args.tickets)
        documents = [orjson.loads(path.read_bytes()) for path in sorted(Path(folder).rglob("*.json"))]
    decoder: Any = spec.decoder  # TicketmaticRecords: records and the page's lookup tables
    pages = [(list(decoder.records(doc)), decoder.page_context(doc))
             for doc in documents if isinstance(doc, dict) and "data" in doc]
    mapping = load_mapping(cls.mappings_dir(), cls.name, "orders")
    ctx = MappingContext(house="bench", system=cls.name, timezone=ZoneInfo("Europe/Brussels"))
    best, best_cpu, stored = float("inf"), float("inf"), 0
    for _ in range(args.passes):
        processor = PageProcessor(mapping, ctx, spec.entity, spec.primary_key)
        started, started_cpu, stored = time.perf_counter(), time.process_time(), 0
        for records, context in pages:
            page = Page(records=[dict(r) for r in records], state={}, context=context)
            stored += len(processor.process(page).records)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
        best = min(best, time.perf_counter() - started)
    print(f"page_processor tickets={stored} best_s={best:.3f} us_per_ticket={best / stored * 1e6:.1f} "
          f"cpu_us_per_ticket={best_cpu / stored * 1e6:.1f}")


if __name__ == "__main__":
    main()
