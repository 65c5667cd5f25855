"""CSV files, streamed row by row, with encoding detection (UTF-8, UTF-8 BOM, cp1252)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from podium.errors import BadDataError
from podium.parsing.base import RecordError

_BOM = codecs.BOM_UTF8
_SNIFF_BYTES = 256 * 1024


def sniff_encoding(head: bytes, candidates: tuple[str, ...]) -> str:
    """The first candidate encoding that decodes ``head`` (a BOM means utf-8-sig)."""
    if head.startswith(_BOM):
        return "utf-8-sig"
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

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Stream rows; the detected encoding is kept in ``detected_encoding`` for the report."""
        stream: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        # Always our own buffer of the sniff size: peek() on a caller's 8 KB buffer sees only 8 KB.
        buffered = io.BufferedReader(stream, buffer_size=_SNIFF_BYTES)  # type: ignore[type-var]
        head = buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
        encoding = sniff_encoding(head, self.encodings)
        self.detected_encoding = encoding
        text = io.TextIOWrapper(buffered, encoding=encoding, newline="", errors="strict")
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
            yield dict(zip(header, row, strict=True))
