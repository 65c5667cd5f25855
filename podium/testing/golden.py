"""Golden cases: ``input → expected`` files in a connector's room, one naming scheme for every stream.

A connector's ``golden/`` folder (beside its ``connector.py``) holds, per case::

    <stream>.<case>.input.<ext>      the document as the vendor serves it (json, xml, csv…)
    <stream>.<case>.expected.json    the canonical records it maps to: a list (no record may fail), or
                                     {"records": […], "errors": […]} when the case proves a rejection
    _context.yaml                    optional: {house: …, timezone: …} for the canonical ids (default demo)

The runner decodes the input with the stream's declared decoder and maps every record with the
stream's mapping — what ``podium map`` does — and every record must validate against the canonical
schema. ``PODIUM_UPDATE_GOLDEN=1`` rewrites the expected files after a deliberate mapping change.
Sub-folders (e.g. ``golden/fixtures/``) hold the room's other test data and are not cases.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from podium.sdk.connector import Connector

INPUT = ".input."
EXPECTED = ".expected.json"
CONTEXT_FILE = "_context.yaml"


@dataclass(frozen=True)
class GoldenCase:
    connector: type[Connector]
    stream: str
    name: str
    input: Path
    expected: Path

    @property
    def id(self) -> str:
        return f"{self.connector.name}/{self.stream}.{self.name}"


def golden_dir(connector: type[Connector]) -> Path:
    """The room's golden folder: ``golden/`` beside the module that defines the connector class."""
    return Path(inspect.getfile(connector)).resolve().parent / "golden"


def golden_cases(connector: type[Connector]) -> list[GoldenCase]:
    """Every ``<stream>.<case>.input.<ext>`` of the connector's room, with its expected file."""
    cases = []
    folder = golden_dir(connector)
    for path in sorted(folder.glob(f"*{INPUT}*")) if folder.is_dir() else []:
        stream, _, rest = path.name.partition(".")
        name = rest.rpartition(INPUT)[0]
        cases.append(GoldenCase(connector, stream, name, path, folder / f"{stream}.{name}{EXPECTED}"))
    return cases


def stray_files(connector: type[Connector]) -> list[str]:
    """Files of the golden folder that belong to no case (an expected without input, a misnamed file)."""
    folder = golden_dir(connector)
    if not folder.is_dir():
        return []
    known = {CONTEXT_FILE} | {p for case in golden_cases(connector) for p in (case.input.name, case.expected.name)}
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in known)


def map_case(case: GoldenCase) -> tuple[list[dict[str, Any]], list[str]]:
    """Decode the case's input with the stream's decoder and map it: (canonical records, error reasons)."""
    from podium.mapping.engine import MappingContext, load_mapping
    from podium.parsing.base import RecordError, decode_page

    cls = case.connector
    spec = cls.stream(case.stream)
    context_file = case.input.parent / CONTEXT_FILE
    settings = yaml.safe_load(context_file.read_text(encoding="utf-8")) if context_file.exists() else {}
    ctx = MappingContext(str(settings.get("house", "demo")), cls.name,
                         ZoneInfo(str(settings.get("timezone", "Europe/Brussels"))))
    mapping = load_mapping(cls.mappings_dir(), cls.name, case.stream)
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    items, page = decode_page(spec.decoder, case.input.read_bytes())
    ctx = replace(ctx, page=page)
    for raw in items:
        if isinstance(raw, RecordError):
            errors.append(raw.reason)
            continue
        canonical, failed = mapping.map(raw, ctx)
        records += canonical
        errors += [str(error) for error in failed]
    return records, errors


def check_case(case: GoldenCase) -> None:
    """Assert the case maps to its expected file exactly and every record validates."""
    from podium.canonical import validate

    records, errors = map_case(case)
    entity = case.connector.stream(case.stream).entity
    for record in records:
        assert validate(entity, record) == [], (case.id, record.get("source"), validate(entity, record))
    if os.environ.get("PODIUM_UPDATE_GOLDEN") == "1":
        previous = json.loads(case.expected.read_text(encoding="utf-8")) if case.expected.exists() else []
        document: Any = {"records": records, "errors": errors} if isinstance(previous, dict) or errors else records
        case.expected.write_text(json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                 encoding="utf-8")
    assert case.expected.exists(), f"{case.id}: no {case.expected.name} beside {case.input.name}"
    expected = json.loads(case.expected.read_text(encoding="utf-8"))
    if isinstance(expected, dict):
        assert errors == expected["errors"], case.id
        assert records == expected["records"], case.id
    else:
        assert errors == [], (case.id, errors)
        assert records == expected, case.id
