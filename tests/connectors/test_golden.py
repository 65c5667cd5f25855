"""Every connector's golden cases (``connectors/<vendor>/golden/``): input → expected canonical records.

One runner for every stream of every installed connector (``podium.testing.golden``); a vendor's room
holds its cases, named ``<stream>.<case>.input.<ext>`` / ``<stream>.<case>.expected.json``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.registry import all_connectors, builtin_names
from podium.testing.golden import GoldenCase, check_case, golden_cases, stray_files

CONNECTORS = all_connectors()
CASES = [case for cls in CONNECTORS.values() for case in golden_cases(cls)]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_golden_case_maps_to_its_expected_canonical_records(case: GoldenCase) -> None:
    check_case(case)


@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_every_stream_of_a_builtin_connector_has_a_golden_case(name: str) -> None:
    cls = CONNECTORS[name]
    covered = {case.stream for case in golden_cases(cls)}
    assert covered == {spec.name for spec in cls.streams}, f"{name}: streams without a golden case"


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_golden_folder_holds_only_cases(name: str) -> None:
    assert stray_files(CONNECTORS[name]) == []


def test_a_case_whose_output_differs_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a changed expected file makes the runner fail."""
    import json
    import shutil

    case = next(c for c in CASES if c.connector.name == "yesplan")
    folder = Path(str(tmp_path))
    expected = json.loads(case.expected.read_text(encoding="utf-8"))
    expected[0]["title"] = {"nl": "Iets anders"}
    (folder / case.expected.name).write_text(json.dumps(expected), encoding="utf-8")
    shutil.copy(case.input, folder / case.input.name)
    shutil.copy(case.input.parent / "_context.yaml", folder / "_context.yaml")
    changed = GoldenCase(case.connector, case.stream, case.name, folder / case.input.name, folder / case.expected.name)
    monkeypatch.delenv("PODIUM_UPDATE_GOLDEN", raising=False)
    with pytest.raises(AssertionError):
        check_case(changed)
