"""The README's "Writing a connector" example is the scaffold's output, word for word.

``test_scaffold.py`` installs a generated package and runs its conformance suite, so the example a
vendor copies from the README is code that passes as written.
"""

from __future__ import annotations

import re
from pathlib import Path

from podium.scaffold import new_connector

README = Path(__file__).resolve().parents[2] / "README.md"


def _example(marker: str) -> str:
    match = re.search(rf"<!-- example: {re.escape(marker)} -->\n```python\n(.*?)```", README.read_text("utf-8"), re.S)
    assert match, f"README has no example block for {marker}"
    return match.group(1)


def test_readme_connector_example_is_the_generated_connector(tmp_path: Path) -> None:
    root = new_connector("acme", tmp_path)
    assert _example("podium_acme/connector.py") == (root / "podium_acme" / "connector.py").read_text("utf-8")
    assert _example("tests/test_conformance.py") == (root / "tests" / "test_conformance.py").read_text("utf-8")
