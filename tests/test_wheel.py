"""The built wheel is the product: mappings/ and schemas/ ship in it and are found once installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".mypy_cache",
                                  ".ruff_cache", ".pytest_cache", "tests", "bench", "docs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, work / "src", ignore=LEFT_OUT)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work / "dist"), str(work / "src")], check=True, capture_output=True, timeout=300)
    (built,) = (work / "dist").glob("podium_hub-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_every_mapping_and_schema(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [p.relative_to(REPO).as_posix() for folder in ("mappings", "schemas") for p in (REPO / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts]
    assert data and [name for name in data if name not in names] == []
    assert any(name.startswith("podium_hub-") and name.endswith("entry_points.txt") for name in names)


@pytest.mark.slow
def test_an_installed_wheel_finds_its_mappings_and_schemas_without_the_source_tree(
        wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1])\n"
        "from podium import paths\n"
        "from podium.canonical import validate\n"
        "from podium.mapping.engine import load_mapping\n"
        "from podium.registry import all_connectors\n"
        "found = {}\n"
        "for name, cls in all_connectors().items():\n"
        "    for spec in cls.streams:\n"
        "        load_mapping(cls.mappings_dir(), name, spec.name)\n"
        "        found[f'{name}/{spec.name}'] = str(cls.mappings_dir())\n"
        "print(json.dumps({'mappings': str(paths.MAPPINGS_DIR), 'schemas': str(paths.SCHEMAS_DIR),\n"
        "                  'podium': paths.__file__, 'found': found, 'schema_ok': validate('event', {}) != []}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PODIUM_HOME")}
    result = subprocess.run([sys.executable, "-c", probe, str(site)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["podium"].startswith(str(site))  # the installed copy, not the checkout
    assert seen["mappings"] == str(site / "mappings") and seen["schemas"] == str(site / "schemas")
    assert seen["found"] and all(path.startswith(str(site / "mappings")) for path in seen["found"].values())
    assert seen["schema_ok"]
