"""``podium new-connector``: the generated package installs with pip and passes the conformance suite as is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from podium.cli import main
from podium.errors import ConfigError
from podium.scaffold import Names, new_connector

WORKTREE = Path(__file__).resolve().parents[2]


def test_names_follow_from_one_connector_name() -> None:
    names = Names.of("acme-tix")
    assert (names.name, names.package, names.distribution, names.class_name, names.title) == (
        "acme_tix", "podium_acme_tix", "podium-acme-tix", "AcmeTix", "Acme Tix")
    for bad in ("Acme", "1acme", "acme tix", "acme--tix", "", "acme/../x"):
        with pytest.raises(ConfigError, match="lowercase"):
            Names.of(bad)


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    new_connector("acme", tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        new_connector("acme", tmp_path)


def test_generated_package_installs_and_passes_the_conformance_suite(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new-connector", "acme-tix", "--dest", str(tmp_path / "src"),
                                       "--title", "Acme Tickets"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "src" / "podium-acme-tix"
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."podium.connectors"]' in text
    assert 'acme_tix = "podium_acme_tix.connector:AcmeTixConnector"' in text
    # A real pip install (into its own folder, not the shared environment), as a vendor would do it.
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                              "--no-build-isolation", "--target", str(site), str(root)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    assert (site / "podium_acme_tix" / "mappings" / "events.yaml").exists()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(WORKTREE)])}
    listed = subprocess.run([sys.executable, "-m", "podium.cli", "connectors", "--json"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert '"acme_tix"' in listed.stdout, listed.stdout + listed.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                          str(root / "tests")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
