"""Raw-record hashes: a re-read raw record that has not changed is not mapped again.

A raw record's hash covers the record as served, the page context it was mapped with (lookup
tables, language) and the *mapping key*: everything else that decides what the record maps to —
the connector's mapping files and code, the mapping engine, the canonical schemas, the house and its
timezone. Change any of them and every raw record maps again once (a safe over-approximation: an
edit that changes no output costs one full re-map, never a stale record).

``split_unchanged`` is the one call a sync makes per page before mapping; ``RawSplit.to_store`` says
which hashes the page commit keeps (only raw records that mapped without rejection, so a rejected
record is always mapped, counted and its dead letter seen again).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import orjson

import podium
from podium.paths import SCHEMAS_DIR

_PODIUM = Path(podium.__file__).parent
# The core code between a raw record and its stored canonical record (mapping engine and transforms,
# page processing, canonical ids and schemas). Hashing whole files errs on the safe side.
_CORE_CODE = (_PODIUM / "mapping", _PODIUM / "engine.py", _PODIUM / "canonical.py", _PODIUM / "ids.py",
              SCHEMAS_DIR)


class _StoredSources(Protocol):
    def ask_source_hashes(self, run: Any, keys: Sequence[str]) -> Callable[[], Mapping[str, tuple[str, int]]]: ...


@lru_cache(maxsize=256)
def _files_digest(paths: tuple[Path, ...]) -> str:
    """sha256 over the names and contents of the files under ``paths`` (read once per process)."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if root.is_dir() else ([root] if root.is_file() else [])
        for path in files:
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def mapping_key(connector: type[Any], stream: str, entity: str, primary_key: str, ctx: Any) -> str:
    """What a raw record of ``connector``/``stream`` maps with, as one hash (see the module docstring).

    ``connector`` is the connector class (its ``mappings_dir()`` and its package's code, where hooks
    live); ``ctx`` the ``MappingContext`` (house, system, timezone; the page context is per page).
    """
    code = Path(inspect.getfile(connector)).parent
    files = _files_digest((Path(connector.mappings_dir()), code, *_CORE_CODE))
    parts = (files, connector.__name__, stream, entity, primary_key, ctx.house, ctx.system, str(ctx.timezone))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def raw_hash(record: Any, salt: bytes) -> str | None:
    """The hash of a raw record under ``salt`` (mapping key + page context); None if not JSON-able."""
    try:
        data = orjson.dumps(record)  # half the time of OPT_NON_STR_KEYS, which only a rare record needs
    except (orjson.JSONEncodeError, TypeError):
        try:
            data = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            return None
    return hashlib.sha256(salt + data).hexdigest()


@dataclass
class RawSplit:
    """A page's raw records split into those to map and those unchanged since they were stored."""

    todo: list[Any]  # raw records to map (changed, new, without key, or without a stored hash)
    hashes: dict[str, str] = field(default_factory=dict)  # key -> raw hash of the records in ``todo``
    skipped: int = 0  # raw records not mapped again
    unchanged: int = 0  # the canonical records those gave (unchanged, counted as such)

    def to_store(self, dead: Iterable[Any], primary_key: str) -> dict[str, str]:
        """The hashes the page commit keeps: of the mapped raw records none of whose parts was rejected."""
        rejected = {str(letter.raw[primary_key]) for letter in dead
                    if isinstance(letter.raw, dict) and letter.raw.get(primary_key) is not None}
        return {key: value for key, value in self.hashes.items() if key not in rejected}


def split_unchanged(store: _StoredSources, run: Any, records: Sequence[Any], primary_key: str,
                    key: str, page_context: Any = None) -> RawSplit:
    """Split ``records`` (one page) by their stored raw hash; ``key`` is :func:`mapping_key`'s answer.

    The stored hashes are asked for by key first and the page hashed while the store answers (on
    PostgreSQL the two overlap). A key served twice in one page is always mapped (which one is current
    is the mapping's business).
    """
    sources = [_source(record, primary_key) for record in records]
    answer = store.ask_source_hashes(run, list(dict.fromkeys(s for s in sources if s is not None)))
    hashes = _page_hashes(records, sources, key, page_context)
    stored = answer()
    unchanged = {source: given for source, (digest, given) in stored.items() if hashes.get(source) == digest}
    if not unchanged:
        return RawSplit(list(records), hashes)
    todo = [record for record, source in zip(records, sources, strict=True) if source not in unchanged]
    return RawSplit(todo, {k: v for k, v in hashes.items() if k not in unchanged}, len(records) - len(todo),
                    sum(unchanged.values()))


def _source(record: Any, primary_key: str) -> str | None:
    source = record.get(primary_key) if isinstance(record, dict) else None
    return None if source is None else str(source)


def _page_hashes(records: Sequence[Any], sources: Sequence[str | None], key: str, page_context: Any) -> dict[str, str]:
    """Key -> raw hash of the page's records, less keys served twice or whose record is not JSON-able."""
    context = page_context.to_json() if page_context else None
    salt = (key + "\x1f").encode() + (orjson.dumps(context, option=orjson.OPT_NON_STR_KEYS) if context else b"")
    salt = hashlib.sha256(salt).digest()
    hashes: dict[str, str] = {}
    twice: set[str] = set()
    for record, source in zip(records, sources, strict=True):
        if source is None:
            continue
        digest = raw_hash(record, salt)
        if source in hashes or digest is None:
            twice.add(source)
        else:
            hashes[source] = digest
    for source in twice:
        hashes.pop(source, None)
    return hashes
