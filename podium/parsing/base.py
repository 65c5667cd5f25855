"""The decoder interface shared by every parser."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol


@dataclass(frozen=True)
class RecordError:
    """A part of the input that could not be decoded: becomes a dead letter with this reason."""

    reason: str
    raw: Any
    position: str = ""


class Decoder(Protocol):
    """Turns served bytes (or a binary stream) into raw records."""

    @property
    def suffix(self) -> str:
        """File suffix of the served format (json, xml, csv); read-only, so frozen decoders fit."""
        ...

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Yield records (and RecordErrors) in document order."""
        ...
