"""Peak RSS while streaming a ≥ 1 GB CdbXML feed and a ≥ 1 GB UWP CSV drop through the engine.

Each input is generated into a temp dir (``connectors/cdbxml/generate.py`` ``write_feed``,
``connectors/uwp/generate.py`` ``write_drop``) and then read, in a fresh process per input, by the
connector in local-file mode (``feed_path`` / ``folder``) page by page through the engine's pieces:
decode (lxml iterparse / csv) → ``PageProcessor.process`` (mapping, jsonschema-rs validation,
canonical JSON + hash) → with ``--store`` also ``Store.commit_page`` into a fresh SQLite file.
Every UWP stream is read (activiteiten, participanten, deelnames). The peak RSS is the process's
own high-water mark (``VmHWM``; see ``_common.peak_rss_mb``). Goal: < 250 MB for each input.

Ends with one line: ``cdbxml_gb=… cdbxml_peak_rss_mb=… csv_gb=… csv_peak_rss_mb=… records=…``

    python bench/memory_stream.py [--size-gb 1.0] [--store] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, peak_rss_mb, run_worker

HOUSE = "bench-house"
GOAL_MB = 250


def stream_worker(kind: str, path: Path, store_on: bool, work: Path) -> dict[str, Any]:
    """Read every stream of one input through the engine's pieces; counts, seconds and peak RSS."""
    from zoneinfo import ZoneInfo

    from podium.engine import PageProcessor
    from podium.mapping import MappingContext, load_mapping
    from podium.sdk.connector import Connector, SyncContext
    from podium.store import Store

    cls: type[Connector]
    if kind == "cdbxml":
        from connectors.cdbxml.connector import CdbXmlConnector as cls
        config: dict[str, Any] = {"feed_path": str(path)}
    else:
        from connectors.uwp.connector import UwpConnector as cls
        config = {"folder": str(path)}
    tz = ZoneInfo("Europe/Brussels")
    connector = cls(config, SyncContext(house=HOUSE, timezone=tz))
    ctx = MappingContext(house=HOUSE, system=cls.name, timezone=tz)
    store = None
    if store_on:
        store = Store(f"sqlite:///{work / f'{kind}.db'}")
        store.migrate()
    baseline = peak_rss_mb()
    started = time.perf_counter()
    totals = {"pages": 0, "read": 0, "records": 0, "rejected": 0}
    per_stream: dict[str, int] = {}
    for spec in cls.streams:
        mapping = load_mapping(cls.mappings_dir(), cls.name, spec.name)
        processor = PageProcessor(mapping, ctx, spec.entity, spec.primary_key)
        run = store.start_stream_run(str(uuid.uuid4()), HOUSE, cls.name, spec.name, spec.entity, "bench") \
            if store else None
        for page in connector.read(spec.name, None):
            result = processor.process(page)
            if store is not None and run is not None:
                store.commit_page(run, result.records, result.dead, page.state, read=result.read,
                                  complete_parents=result.complete_parents, vanished=mapping.vanished)
            totals["pages"] += 1
            totals["read"] += result.read
            totals["records"] += len(result.records)
            totals["rejected"] += len(result.dead)
            per_stream[spec.name] = per_stream.get(spec.name, 0) + len(result.records)
        if store is not None and run is not None:
            store.finish_stream_run(run, "succeeded")
    connector.close()
    return {**totals, "streams": per_stream, "seconds": time.perf_counter() - started,
            "startup_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}


def _generate(kind: str, target: Path, size: int) -> tuple[Path, int]:
    """Generate one input in a child process (the measuring process must not hold it); -> (path, bytes)."""
    if kind == "cdbxml":
        path = target / "feed.xml"
        code = f"from connectors.cdbxml.generate import write_feed; write_feed({str(path)!r}, {size})"
    else:
        path = target / "drop"
        code = f"from connectors.uwp.generate import write_drop; write_drop({str(path)!r}, {size})"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    return path, sum(p.stat().st_size for p in files)


def _measure(kind: str, path: Path, store_on: bool, work: Path) -> dict[str, Any]:
    args = ["--_path", str(path), "--_work", str(work), *(["--store"] if store_on else [])]
    return run_worker(__file__, kind, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of each generated input (GiB)")
    parser.add_argument("--store", action="store_true", help="also commit every page into a SQLite store")
    parser.add_argument("--only", choices=["cdbxml", "csv"], help="measure one input only")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp dir)")
    parser.add_argument("--_worker", choices=["cdbxml", "csv"], help=argparse.SUPPRESS)
    parser.add_argument("--_path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._worker:
        sys.path.insert(0, str(REPO))
        print(json.dumps(stream_worker(args._worker, args._path, args.store, args._work)))
        return 0

    size = int(args.size_gb * (1 << 30))
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="podium-memory-"))
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict[str, tuple[int, dict[str, Any]]] = {}
    try:
        for kind in ("cdbxml", "csv"):
            if args.only and args.only != kind:
                continue
            started = time.perf_counter()
            path, actual = _generate(kind, tmp, size)
            generated = time.perf_counter() - started
            result = _measure(kind, path, args.store, tmp)
            results[kind] = (actual, result)
            rate = result["records"] / result["seconds"] if result["seconds"] else 0
            streams = ", ".join(f"{k} {v:,}" for k, v in result["streams"].items())
            print(f"{kind:6} {actual / (1 << 30):.2f} GiB (generated in {generated:.0f} s): {result['read']:,} raw "
                  f"records -> {result['records']:,} canonical ({streams}), {result['rejected']:,} rejected, "
                  f"{result['pages']:,} pages in {result['seconds']:.0f} s ({rate:,.0f}/s"
                  f"{', stored' if args.store else ''}); peak RSS {result['peak_rss_mb']:.0f} MB "
                  f"(after imports {result['startup_rss_mb']:.0f} MB)"
                  f"{'' if result['peak_rss_mb'] < GOAL_MB else f'  !! over the {GOAL_MB} MB goal'}")
            if not args.keep:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    figures: dict[str, Any] = {}
    for kind in ("cdbxml", "csv"):
        if kind in results:
            actual, result = results[kind]
            figures[f"{kind}_gb"] = round(actual / (1 << 30), 2)
            figures[f"{kind}_peak_rss_mb"] = round(result["peak_rss_mb"])
    figures["records"] = sum(r["records"] for _, r in results.values())
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0 if all(r["peak_rss_mb"] < GOAL_MB for _, r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
