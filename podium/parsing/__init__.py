"""Parsers: turn what a vendor serves (a JSON page, an XML document, a CSV file) into raw records.

Parsers know no vendor: a stream declares which decoder it uses and with which parameters. A
decoder yields plain dicts, or a ``RecordError`` for a part that cannot be read (a malformed CSV
row), so one bad record never costs the good ones around it. Input that cannot be read at all
raises ``BadDataError`` (``UnsafeXmlError`` for XML that uses DTDs or entities).
"""

from podium.parsing.base import (
    LIST_PAGE,
    SINGLE_RECORD,
    Decoder,
    DocumentShape,
    RecordError,
    document_shapes,
    shape_of,
)
from podium.parsing.csv import CsvRecords
from podium.parsing.json import JsonRecords
from podium.parsing.xml import XmlRecords, element_to_dict, safe_iterparse

__all__ = ["LIST_PAGE", "SINGLE_RECORD", "CsvRecords", "Decoder", "DocumentShape", "JsonRecords", "RecordError",
           "XmlRecords", "document_shapes", "element_to_dict", "safe_iterparse", "shape_of"]
