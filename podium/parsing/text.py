"""Strings the store cannot keep: NUL (PostgreSQL refuses it in text) and lone surrogates (a ``\\ud83d``
JSON escape, or invalid UTF-8 bytes kept by ``surrogateescape``; no UTF-8 encoder accepts them).

A decoder that meets one hands that record over as a ``RecordError``; its neighbours are unaffected.
"""

from __future__ import annotations

import re
from typing import Any

_BAD_TEXT = re.compile("[\x00\ud800-\udfff\ufffd]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"  # what the XML decoder puts where a document had an invalid character
MAX_CHECK_DEPTH = 200  # deeper values are not walked here (the store refuses them later, per record)


def _describe(char: str) -> str:
    if char == "\x00":
        return "a NUL character (U+0000)"
    if char == REPLACEMENT:
        return "an invalid character (replaced by U+FFFD)"
    if "\udc80" <= char <= "\udcff":
        return "invalid UTF-8 bytes"
    return f"a lone surrogate (U+{ord(char):04X})"


def find_bad_text(value: Any, *, replacement: bool = False, path: str = "", depth: int = 0) -> str | None:
    """Where the first unstorable character in ``value`` is and what it is (``None``: all good).

    With ``replacement``, U+FFFD counts as bad too (the XML decoder's mark for a character it dropped).
    """
    pattern = _BAD_TEXT if replacement else _UNSTORABLE
    if isinstance(value, str):
        found = pattern.search(value)
        return f"{path or 'value'} holds {_describe(found.group())}" if found else None
    if depth > MAX_CHECK_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            bad_key = pattern.search(key) if isinstance(key, str) else None
            if bad_key:
                return f"a key at {path or 'top level'} holds {_describe(bad_key.group())}"
            found_in = find_bad_text(item, replacement=replacement, path=where, depth=depth + 1)
            if found_in:
                return found_in
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found_in = find_bad_text(item, replacement=replacement, path=f"{path}[{index}]", depth=depth + 1)
            if found_in:
                return found_in
    return None


def has_unstorable(text: str) -> bool:
    """True if ``text`` holds a NUL or a lone surrogate."""
    return _UNSTORABLE.search(text) is not None


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as escapes (``\\x00``, ``\\udc80``): safe in any store."""
    if not _UNSTORABLE.search(text):
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
