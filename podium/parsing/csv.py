"""CSV files, streamed row by row, with encoding detection (UTF-8, UTF-8 BOM, cp1252).

A byte the file's encoding cannot decode, or a NUL, costs its row (a RecordError), not the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from podium.errors import BadDataError
from podium.parsing.base import LIST_PAGE, DocumentShape, RecordError
from podium.parsing.text import find_bad_text

_BOM = codecs.BOM_UTF8
_SNIFF_BYTES = 256 * 1024
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NON_ASCII_CHAR = re.compile("[^\x00-\x7f\ufffd]")


def sniff_encoding(head: bytes, candidates: tuple[str, ...]) -> str:
    """The first candidate encoding that decodes ``head`` (a BOM means utf-8-sig)."""
    if head.startswith(_BOM):
        return "utf-8-sig"
    sample = head[: max(len(head) - 3, 0)]
    if candidates and candidates[0] == "utf-8":
        try:
            sample.decode("utf-8")
            return "utf-8"
        except UnicodeDecodeError:
            # Valid multi-byte UTF-8 next to a few invalid bytes is a UTF-8 file with a bad row, not
            # cp1252 (cp1252 text almost never forms valid UTF-8 sequences): only the bad row is rejected.
            if _NON_ASCII_CHAR.search(sample.decode("utf-8", "replace")):
                return "utf-8"
    for encoding in candidates:
        try:
            # A multi-byte character may be cut at the end of the sample: ignore the last 3 bytes.
            head[: max(len(head) - 3, 0)].decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    raise BadDataError(f"cannot decode the file as any of: {', '.join(candidates)}")


@dataclass
class CsvRecords:
    """Rows of a CSV file with a header line, as dicts; a short/long row is a RecordError."""

    delimiter: str = ","
    encodings: tuple[str, ...] = ("utf-8", "cp1252")
    suffix: str = "csv"
    detected_encoding: str | None = field(default=None, compare=False)

    @property
    def shapes(self) -> tuple[DocumentShape, ...]:
        """A CSV file (or a chunk of one) is a page of rows; no vendor serves a lone row."""
        return (DocumentShape(LIST_PAGE, f"a CSV file with a header line, one record per row, delimiter "
                                         f"{self.delimiter!r}, encoding {' / '.join(self.encodings)}"),)

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Stream rows; the detected encoding is kept in ``detected_encoding`` for the report."""
        stream: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        # Always our own buffer of the sniff size: peek() on a caller's 8 KB buffer sees only 8 KB.
        buffered = io.BufferedReader(stream, buffer_size=_SNIFF_BYTES)  # type: ignore[type-var]
        head = buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
        encoding = sniff_encoding(head, self.encodings)
        self.detected_encoding = encoding
        text = io.TextIOWrapper(buffered, encoding=encoding, newline="", errors="surrogateescape")
        reader = csv.reader(text, delimiter=self.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise BadDataError(f"header is not valid {encoding}: {exc}") from None
        header = [h.strip() for h in header]
        width = len(header)
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise BadDataError(f"line {line + 1}: not valid {encoding}: {exc}") from None
            except csv.Error as exc:
                line = reader.line_num
                yield RecordError(f"line {line}: malformed CSV: {exc}", None, f"line {line}")
                continue
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                yield RecordError(f"line {line}: {len(row)} fields, header has {width}",
                                  dict(enumerate(row)), f"line {line}")
                continue
            record = dict(zip(header, row, strict=True))
            if _UNSTORABLE.search("".join(row)):
                yield RecordError(f"line {line}: invalid text: {find_bad_text(record)} (file read as {encoding})",
                                  record, f"line {line}")
                continue
            yield record
