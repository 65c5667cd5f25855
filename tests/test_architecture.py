"""The layout's rules, checked on the source: what a newcomer (or the next connector) may rely on.

- ``connectors/`` and ``podium/`` never import Airflow (the core runs without it: CLI, tests, other
  orchestrators); ``podium/`` never imports a connector by name.
- ``podium/`` and ``plugins/`` name no vendor: vendors are found through the registry, so a
  pip-installed connector gets everything a built-in gets. Vendor names are the ``connectors/``
  folders and every registered connector.
- A vendor's room stands alone: ``connectors/<vendor>/`` imports no other vendor's room.
- The Airflow hooks are thin (a connection type's identity, nothing else) and the DAG files only
  declare (imports of the provider and calls of its builders).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.registry import builtin_names, connector_names, get_connector

REPO = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".md", ".txt", ".toml", ".cfg", ".ini")


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in sorted((REPO / folder).rglob("*.py")) if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import, including ``importlib.import_module("…")`` with a literal name."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def vendor_names() -> set[str]:
    return set(builtin_names()) | set(connector_names())


# -- imports ----------------------------------------------------------------------------------------
def test_connectors_and_the_core_never_import_airflow() -> None:
    offenders = [f"{path.relative_to(REPO)}:{line}: {module}"
                 for path in python_files("connectors", "podium") for line, module in imported_modules(path)
                 if _top(module) == "airflow"]
    assert offenders == []


def test_the_core_imports_no_connector_and_no_provider() -> None:
    offenders = [f"{path.relative_to(REPO)}:{line}: {module}"
                 for path in python_files("podium") for line, module in imported_modules(path)
                 if _top(module) in ("connectors", "plugins")]
    assert offenders == []


@pytest.mark.parametrize("room", sorted(builtin_names()))
def test_a_vendor_room_imports_no_other_room(room: str) -> None:
    offenders = [f"{path.relative_to(REPO)}:{line}: {module}"
                 for path in python_files(f"connectors/{room}") for line, module in imported_modules(path)
                 if _top(module) in ("connectors", "plugins") and not module.startswith(f"connectors.{room}")]
    assert offenders == []


def test_the_import_check_sees_airflow_imports(tmp_path: Path) -> None:
    """Negative control: each import form the check reads is seen."""
    sample = tmp_path / "sample.py"
    sample.write_text("import airflow.sdk\nfrom airflow.sdk import DAG\nimport importlib\n"
                      "importlib.import_module('airflow.models')\n")
    assert [module for _, module in imported_modules(sample)] == ["airflow.sdk", "airflow.sdk", "importlib",
                                                                  "airflow.models"]


# -- vendor names -----------------------------------------------------------------------------------
def vendor_mentions(root: Path, folders: tuple[str, ...], names: set[str]) -> list[str]:
    pattern = re.compile(r"(?<![a-z0-9])(" + "|".join(sorted(map(re.escape, names))) + r")(?![a-z0-9])", re.I)
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts:
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    found += [f"{path.relative_to(root)}:{number}: {m.group(0)}" for m in pattern.finditer(line)]
    return found


def test_the_core_and_the_provider_name_no_vendor() -> None:
    names = vendor_names()
    assert len(names) >= 6  # the built-in rooms at least: the check must have something to look for
    assert vendor_mentions(REPO, ("podium", "plugins"), names) == []


def test_the_vendor_check_finds_a_vendor_name(tmp_path: Path) -> None:
    """Negative control: a vendor name in a docstring is found (case-insensitively, as a word)."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "x.py").write_text('"""Reads TicketMatic pages; not ticketmatics."""\n')
    assert vendor_mentions(tmp_path, ("core",), {"ticketmatic"}) == ["core/x.py:1: TicketMatic"]


def test_builtin_rooms_and_entry_points_agree() -> None:
    """The parse-time shortcut (rooms found by folder) finds exactly what pip registers."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["podium.connectors"]
    assert set(declared) == set(builtin_names())
    for name, target in declared.items():
        module, _, attr = target.partition(":")
        cls = get_connector(name)
        assert (cls.__module__, cls.__name__, cls.name) == (module, attr, name)


def test_every_room_holds_its_connector_and_readme_and_golden_cases() -> None:
    for name in builtin_names():
        room = REPO / "connectors" / name
        assert (room / "connector.py").is_file() and (room / "README.md").is_file(), name
        assert any((room / "golden").glob("*.input.*")), name
        assert (REPO / "mappings" / name).is_dir(), name


def test_every_connector_declares_how_airflow_runs_it() -> None:
    from podium.fleet import schedule_problem

    for name in connector_names():
        cls = get_connector(name)
        assert cls.connection_type().startswith("podium_"), name
        assert schedule_problem(cls.default_schedule) is None, name
        assert isinstance(cls.pool_slots, int) and cls.pool_slots >= 1, name


# -- the provider -----------------------------------------------------------------------------------
HOOKS = REPO / "plugins" / "podium_provider" / "hooks"
BASE_HOOK_METHODS = {"__init__", "get_conn"}


def test_hooks_are_thin() -> None:
    """A hook names its connection type and reads the connection; vendor logic lives in the connector."""
    for path in sorted(HOOKS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 100, path.name
        for line, module in imported_modules(path):
            assert _top(module) in ("__future__", "typing", "airflow", "podium", "plugins"), (path.name, line, module)
            assert module in ("podium.errors",) or _top(module) != "podium", (path.name, line, module)
        for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
            methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
            allowed = BASE_HOOK_METHODS if cls.name == "PodiumHook" else set()
            assert methods <= allowed, (path.name, cls.name, methods - allowed)


def test_dag_files_only_declare() -> None:
    """A DAG file imports the installed provider and calls its builders: no logic, no ``sys.path`` edits."""
    files = sorted((REPO / "dags").glob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # the docstring
            if isinstance(node, ast.ImportFrom):
                assert node.module == "__future__" or (node.module or "").startswith("plugins.podium_provider"), \
                    (path.name, node.lineno)
                continue
            assert isinstance(node, ast.Assign | ast.Expr) and isinstance(node.value, ast.Call), \
                (path.name, node.lineno, type(node).__name__)
        assert "sys.path" not in path.read_text(encoding="utf-8"), path.name
