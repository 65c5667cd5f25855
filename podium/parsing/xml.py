"""XML documents, streamed with lxml ``iterparse`` so memory stays flat on a feed of any size.

Safety: DTDs, external entities and entity expansion are refused before any record is read.
The parser never loads a DTD, never touches the network and never expands entities; any
document that declares a DOCTYPE is refused outright (no vendor feed we read needs one), which
stops XXE, billion-laughs and external-DTD attacks with one clear error.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from lxml import etree

from podium.errors import BadDataError, UnsafeXmlError
from podium.parsing.base import RecordError

_SNIFF_BYTES = 64 * 1024


_LOCAL_NAMES: dict[str, str] = {}  # "{namespace}name" -> "name": a feed repeats a few dozen tags millions of times


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = etree.QName(tag).localname
        if len(_LOCAL_NAMES) < 10_000:  # bounded: a hostile feed cannot grow it without limit
            _LOCAL_NAMES[tag] = name
    return name


_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def element_to_dict(element: Any) -> dict[str, Any]:
    """Convert an element to plain data: attributes as ``@name``, text as ``#text``, namespaces dropped.

    A child element that repeats becomes a list; a leaf with no attributes becomes its text; an
    ``xsi:nil="true"`` element (XML Schema's null, as SOAP/WCF services send it) becomes ``None``.
    """
    node: dict[str, Any] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
    for child in element:
        name = _local(child.tag)
        if not name:  # comments, processing instructions
            continue
        value: Any
        if child.get(_XSI_NIL) in ("true", "1"):
            value = None
        elif not child.attrib and len(child) == 0:
            value = child.text.strip() if child.text and child.text.strip() else None
        else:
            value = element_to_dict(child)
        if name in node:
            existing = node[name]
            if isinstance(existing, list):
                existing.append(value)
            else:
                node[name] = [existing, value]
        else:
            node[name] = value
    text = (element.text or "").strip()
    if text and len(element) == 0:
        node["#text"] = text
    return node


class _PeekStream(io.RawIOBase):
    """Replays sniffed bytes before the rest of the stream, so sniffing never loads the whole file."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._rest.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _refuse_unsafe(head: bytes) -> None:
    probe = head.upper()
    if b"<!DOCTYPE" in probe or b"<!ENTITY" in probe:
        raise UnsafeXmlError("unsafe XML refused: the document declares a DOCTYPE/ENTITY "
                             "(DTDs, external entities and entity expansion are not allowed)")


def safe_iterparse(data: bytes | IO[bytes], tags: tuple[str, ...]) -> Iterator[Any]:
    """Yield each complete element whose local name is in ``tags``, freeing it afterwards."""
    stream: IO[bytes]
    if isinstance(data, bytes | bytearray):
        _refuse_unsafe(bytes(data[:_SNIFF_BYTES]))
        stream = io.BytesIO(data)
    else:
        head = data.read(_SNIFF_BYTES)
        _refuse_unsafe(head)
        stream = io.BufferedReader(_PeekStream(head, data))
    context = etree.iterparse(
        stream, events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False,
        dtd_validation=False, huge_tree=False, remove_comments=True, remove_pis=True,
    )
    checked = False
    depth = 0
    try:
        for event, element in context:
            if not checked:
                info = element.getroottree().docinfo
                if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
                    raise UnsafeXmlError("unsafe XML refused: the document declares a DTD")
                checked = True
            name = _local(element.tag)
            if event == "start":
                if name in tags:
                    depth += 1
                continue
            if name in tags:
                depth -= 1
                if depth == 0:
                    yield element
                    # Free what has been read: the element and every earlier sibling.
                    element.clear(keep_tail=False)
                    parent = element.getparent()
                    if parent is not None:
                        while element.getprevious() is not None:
                            del parent[0]
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "entity" in message.lower() or "doctype" in message.lower():
            raise UnsafeXmlError(f"unsafe XML refused: {message}") from None
        raise BadDataError(f"malformed XML: {message}") from None


@dataclass(frozen=True)
class XmlRecords:
    """Each element named one of ``tags`` (local names, any namespace) becomes one record."""

    tags: tuple[str, ...]
    namespaces: tuple[str, ...] = ()  # accepted namespace URIs; empty = any
    suffix: str = "xml"

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Stream the records; an element in a namespace that is not accepted is a RecordError."""
        for element in safe_iterparse(data, self.tags):
            namespace = etree.QName(element.tag).namespace or ""
            if self.namespaces and namespace not in self.namespaces:
                yield RecordError(f"element <{_local(element.tag)}> in unsupported namespace '{namespace}' "
                                  f"(accepted: {', '.join(self.namespaces)})",
                                  etree.tostring(element, encoding="unicode")[:2000])
                continue
            record = element_to_dict(element)
            record["@_tag"] = _local(element.tag)
            record["@_namespace"] = namespace
            yield record
