"""``podium new-connector NAME``: a pip-installable connector package that passes the conformance suite.

The package holds a connector (one declarative REST stream), its mapping, a sandbox built on the
sandbox kit (``podium.sandbox``) and a conformance test; its ``pyproject.toml`` registers the
connector in the ``podium.connectors`` entry-point group, so installing it is all Podium needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from podium.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parent / "template"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


@dataclass(frozen=True)
class Names:
    """The names one connector NAME gives: entry point, Python package, distribution and classes."""

    name: str  # the connector (entry-point) name: acme_tix
    package: str  # podium_acme_tix
    distribution: str  # podium-acme-tix
    class_name: str  # AcmeTix -> AcmeTixConnector, AcmeTixSandbox
    title: str

    @classmethod
    def of(cls, text: str, title: str | None = None) -> Names:
        """The names for ``text``; anything but lowercase words joined by ``-``/``_`` is a ConfigError."""
        raw = text.strip()
        if not _NAME.fullmatch(raw):
            raise ConfigError(f"connector name {text!r}: use lowercase letters and digits, words joined by "
                              "'-' or '_', starting with a letter (e.g. acme-tix)")
        words = re.split(r"[-_]", raw)
        name = "_".join(words)
        return cls(name, f"podium_{name}", f"podium-{'-'.join(words)}", "".join(w.capitalize() for w in words),
                   title or " ".join(w.capitalize() for w in words))


def new_connector(name: str, destination: Path, title: str | None = None) -> Path:
    """Write the package for connector ``name`` into ``destination/<distribution>``; returns that folder."""
    names = Names.of(name, title)
    root = destination / names.distribution
    if root.exists():
        raise ConfigError(f"{root} already exists: choose another destination or name")
    values = {"name": names.name, "package": names.package, "distribution": names.distribution,
              "class_name": names.class_name, "title": names.title}
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")  # drop .tmpl
        parts = [names.package if part == "package" else part for part in relative.parts]
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
    return root
