"""The canonical model as compiled validators: JSON Schema is the one language of the model.

The schemas in ``schemas/`` are the contract; this module compiles them once with ``jsonschema-rs``
(a compiled validator: ~1 µs a record, where the pure-Python validator costs ~90 µs) and turns a
failure into the JSON Schema path and message a dead letter shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs

from podium.paths import SCHEMAS_DIR

ENTITIES = ("event", "contact", "ticket")
SCHEMA_VERSION = "v1"


@dataclass(frozen=True)
class Violation:
    """Why a record is not canonical: where in the record, which schema rule, what it says."""

    instance_path: str
    schema_path: str
    message: str

    def __str__(self) -> str:
        return f"{self.instance_path or '/'}: {self.message} (schema {self.schema_path})"


@cache
def schema_documents() -> dict[str, dict[str, Any]]:
    """Every schema document in ``schemas/`` by its ``$id``."""
    docs = {}
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "$id" in doc:
            docs[doc["$id"]] = doc
    return docs


def entity_schema(entity: str) -> dict[str, Any]:
    """The JSON Schema of one canonical entity."""
    for doc in schema_documents().values():
        if doc["$id"].endswith(f"/{entity}.{SCHEMA_VERSION}.json"):
            return doc
    raise KeyError(f"no canonical schema for entity '{entity}' (known: {', '.join(ENTITIES)})")


@cache
def _validator(entity: str) -> Any:
    registry = jsonschema_rs.Registry([(uri, doc) for uri, doc in schema_documents().items()])
    return jsonschema_rs.validator_for(entity_schema(entity), registry=registry, validate_formats=True)


def is_valid(entity: str, record: dict[str, Any]) -> bool:
    """Fast check (the hot path)."""
    return bool(_validator(entity).is_valid(record))


def validator(entity: str) -> Callable[[dict[str, Any]], bool]:
    """The fast check of one entity as a plain callable (record -> bool), for per-record loops."""
    return _validator(entity).is_valid  # type: ignore[no-any-return]


def violations(entity: str, record: dict[str, Any]) -> list[Violation]:
    """Every violation of the entity schema, most specific first."""
    found = []
    for error in _validator(entity).iter_errors(record):
        found.append(Violation(
            "/" + "/".join(str(p) for p in error.instance_path),
            "/" + "/".join(str(p) for p in error.schema_path),
            error.message,
        ))
    found.sort(key=lambda v: -v.instance_path.count("/"))
    return found


def validate(entity: str, record: dict[str, Any]) -> list[Violation]:
    """Empty when the record is canonical; else its violations."""
    if is_valid(entity, record):
        return []
    return violations(entity, record) or [Violation("/", "/", "invalid")]
