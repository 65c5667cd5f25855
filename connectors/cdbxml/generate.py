"""Write a large, realistic CdbXML 3.3 feed to a file, streaming, for memory benchmarks.

    python -m connectors.cdbxml.generate var/bench/feed.xml 1G

Events are written one at a time (nothing accumulates), with the same generator the sandbox
uses: many organisers and venues, timestamp series across DST, periods, permanent offers,
cancelled and deleted events, multilingual tariffs.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from connectors.cdbxml.feed import FOOTER, HEADER, event_xml, make_event

ORGANISERS = ("CC Hasselt", "De Warande", "Stadsschouwburg Brugge", "CC Strombeek", "deSingel",
              "Handelsbeurs Concertzaal", "Het Depot", "Cultuurcentrum Mechelen", "Cultuurcentrum Genk",
              "Zuiderpershuis", "CC Belgica", "Schouwburg Kortrijk")


def write_feed(path: str | Path, target_bytes: int, *, seed: int = 7) -> int:
    """Write events to ``path`` until the file holds at least ``target_bytes``; returns how many."""
    rng = random.Random(seed)
    footer = FOOTER.encode("utf-8")
    written = 0
    count = 0
    with Path(path).open("wb", buffering=1 << 20) as out:
        head = HEADER.encode("utf-8")
        out.write(head)
        written += len(head)
        while written + len(footer) < target_bytes:
            organiser = ORGANISERS[count % len(ORGANISERS)]
            chunk = event_xml(make_event(rng, count, organiser)).encode("utf-8")
            out.write(chunk)
            written += len(chunk)
            count += 1
        out.write(footer)
    return count


def parse_size(text: str) -> int:
    """'1G', '200M', '64K' or a byte count."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``generate PATH SIZE``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m connectors.cdbxml.generate PATH SIZE   (SIZE like 1G, 200M)", file=sys.stderr)
        return 2
    count = write_feed(args[0], parse_size(args[1]))
    print(f"wrote {count} events to {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
