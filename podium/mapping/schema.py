"""Load-time validation of a mapping file against ``schemas/mapping.schema.json``.

Errors name the file and the line (from the YAML node marks), so a typo reads like a compiler error:
``mappings/acme/orders.yaml:12: fields.status: 'tranform' is not valid under any of the given schemas``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from podium.canonical import SCHEMAS_DIR
from podium.errors import ConfigError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def mapping_schema() -> dict[str, Any]:
    """The JSON Schema of the mapping format."""
    return json.loads((SCHEMAS_DIR / "mapping.schema.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = mapping_schema()
    return jsonschema.validators.validator_for(schema)(schema)  # type: ignore[no-any-return]


def _line(node: yaml.Node | None, path: list[Any]) -> int:
    """The 1-based line of the YAML node at ``path`` (or of its nearest ancestor)."""
    if node is None:  # an empty file
        return 1
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


def _best(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The cause of a ``oneOf`` failure the author meant: not "is not a string" when a mapping was written."""
    if not error.context:
        return error
    meant = [e for e in error.context if e.validator != "type"] or list(error.context)
    return _best(max(meant, key=lambda e: len(e.absolute_path)))


def load_mapping_document(path: Path) -> dict[str, Any]:
    """Parse and validate one mapping file; a ``ConfigError`` lists every problem as ``file:line: where: what``."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_LOADER)
        spec = yaml.load(text, Loader=_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    problems = []
    for error in sorted(_validator().iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))):
        cause = _best(error)
        where = ".".join(str(p) for p in cause.absolute_path) or "(top)"
        problems.append(f"{path}:{_line(node, list(cause.absolute_path))}: {where}: {cause.message}")
    if problems:
        raise ConfigError("invalid mapping:\n" + "\n".join(problems))
    return spec  # type: ignore[no-any-return]
