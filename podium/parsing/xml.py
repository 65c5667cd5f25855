"""XML documents, streamed with lxml ``iterparse`` so memory stays flat on a feed of any size.

Safety: DTDs, external entities and entity expansion are refused before any record is read.
The parser never loads a DTD, never touches the network and never expands entities; any
document that declares a DOCTYPE is refused outright (no vendor feed we read needs one), which
stops XXE, billion-laughs and external-DTD attacks with one clear error.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from lxml import etree

from podium.errors import BadDataError, UnsafeXmlError
from podium.parsing.base import LIST_PAGE, SINGLE_RECORD, DocumentShape, RecordError
from podium.parsing.text import REPLACEMENT, find_bad_text

_SNIFF_BYTES = 64 * 1024
_CLEAN_BLOCK = 64 * 1024
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CHAR_REF = re.compile("&#(?:x([0-9a-fA-F]+)|([0-9]+));")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _xml_char(code: int) -> bool:
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def _fix_char_ref(match: re.Match[str]) -> str:
    hexa, decimal = match.groups()
    try:
        code = int(hexa, 16) if hexa else int(decimal)
    except ValueError:
        return match.group()
    return match.group() if _xml_char(code) else REPLACEMENT


class _CleanStream(io.RawIOBase):
    """A UTF-8 document with the characters XML forbids (NUL, control characters, invalid UTF-8 bytes,
    ``&#0;``-style references) replaced by U+FFFD, so one bad string costs its record, not the document.

    A block without any of them (nearly all) passes unchanged; ``replaced`` tells the decoder to look
    for U+FFFD in the records (a record that holds U+FFFD itself is then rejected too: a rare
    false positive, and only in a document that was already damaged). Blocks end after a ``>``, so no
    character or reference is cut in two.
    """

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._carry = b""
        self._out = memoryview(b"")
        self._eof = False
        self.replaced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out and not self._eof:
            block = self._source.read(_CLEAN_BLOCK)
            if not block:
                self._eof = True
                block, self._carry = self._carry, b""
            else:
                block = self._carry + block
                # After a ">" (or, in a long text, a space): never inside a character or a reference.
                cut = block.rfind(b">") + 1 or max(block.rfind(b" "), block.rfind(b"\n")) + 1 or len(block)
                block, self._carry = block[:cut], block[cut:]
            self._out = memoryview(self._clean(block))
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _clean(self, block: bytes) -> bytes:
        try:
            text = block.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        if valid and b"&#" not in block and not _CONTROL_BYTES.search(block):
            return block
        if not valid:
            text = block.decode("utf-8", "replace")
            self.replaced += 1
        text, controls = _CONTROL_CHARS.subn(REPLACEMENT, text)
        fixed = _CHAR_REF.sub(_fix_char_ref, text) if "&#" in text else text
        if controls or fixed != text:
            self.replaced += 1
        return fixed.encode("utf-8")


def _is_utf8(head: bytes) -> bool:
    """True for a document in UTF-8 (a UTF-8 BOM, a UTF-8 declaration, or none at all)."""
    if head.startswith(codecs.BOM_UTF8):
        return True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    declared = _DECLARED_ENCODING.match(head)
    return declared is None or declared.group(1).decode("ascii").lower().replace("_", "-") in ("utf-8", "utf8")


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


class Damage:
    """Filled by ``safe_iterparse``: how many blocks of the document had characters replaced."""

    def __init__(self) -> None:
        self.stream: _CleanStream | None = None

    @property
    def replaced(self) -> bool:
        return self.stream is not None and self.stream.replaced > 0


def safe_iterparse(data: bytes | IO[bytes], tags: tuple[str, ...], damage: Damage | None = None) -> Iterator[Any]:
    """Yield each complete element whose local name is in ``tags``, freeing it afterwards.

    In a UTF-8 document, characters XML forbids are replaced by U+FFFD (``damage`` says whether any
    were) instead of failing the whole document.
    """
    stream: IO[bytes]
    if isinstance(data, bytes | bytearray):
        head = bytes(data[:_SNIFF_BYTES])
        _refuse_unsafe(head)
        stream = io.BytesIO(data)
    else:
        head = data.read(_SNIFF_BYTES)
        _refuse_unsafe(head)
        stream = io.BufferedReader(_PeekStream(head, data))
    if _is_utf8(head):
        cleaner = _CleanStream(stream)
        if damage is not None:
            damage.stream = cleaner
        stream = io.BufferedReader(cleaner)
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
    """Each element named one of ``tags`` (local names, any namespace) becomes one record.

    Where it sits does not matter, so a list page (a SOAP response, a feed) and a document holding one
    record (a record element alone, or a root holding one) read alike. ``namespaces`` lists accepted
    namespace URIs; ``namespace_patterns`` accepts every URI a regular expression matches in full (a
    vendor that puts its service version in the namespace: ``http://vendor/ws/v\\d+\\.\\d+/``).
    Neither given: any namespace. ``page_info_tags`` (a subset of ``tags``) are elements that describe
    the page, not a record (a total): ``decode`` yields them for the sync path to read,
    ``decode_document`` (``podium map``, golden cases) leaves them out.
    """

    tags: tuple[str, ...]
    namespaces: tuple[str, ...] = ()  # accepted namespace URIs; empty (and no patterns) = any
    suffix: str = "xml"
    namespace_patterns: tuple[str, ...] = ()
    page_info_tags: tuple[str, ...] = ()

    @property
    def shapes(self) -> tuple[DocumentShape, ...]:
        """The document shapes this stream accepts."""
        elements = " or ".join(f"<{tag}>" for tag in self.tags if tag not in self.page_info_tags)
        accepted = [f"namespace {ns!r}" if ns else "no namespace" for ns in self.namespaces]
        accepted += [f"a namespace matching '{pattern}'" for pattern in self.namespace_patterns]
        where = f" in {' or '.join(accepted)}" if accepted else ""
        return (DocumentShape(LIST_PAGE, f"a document holding {elements} elements{where}"),
                DocumentShape(SINGLE_RECORD, f"a document holding one {elements} element{where}"))

    def accepts_namespace(self, namespace: str) -> bool:
        """True when records in ``namespace`` are read (listed, or matched by a declared pattern)."""
        if not self.namespaces and not self.namespace_patterns:
            return True
        return namespace in self.namespaces or any(re.fullmatch(p, namespace) for p in self.namespace_patterns)

    def shape_of(self, data: bytes | IO[bytes]) -> str:
        """``SINGLE_RECORD`` for a document holding exactly one record element, else ``LIST_PAGE``."""
        count = 0
        for _ in safe_iterparse(data, tuple(tag for tag in self.tags if tag not in self.page_info_tags)):
            count += 1
        return SINGLE_RECORD if count == 1 else LIST_PAGE

    def decode_document(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """The records of a served document in any shape, without the page's own information elements."""
        for item in self.decode(data):
            if not (isinstance(item, dict) and item.get("@_tag") in self.page_info_tags):
                yield item

    def decode(self, data: bytes | IO[bytes]) -> Iterator[dict[str, Any] | RecordError]:
        """Stream the records; an element in a namespace that is not accepted, or holding a character
        XML forbids (a NUL, invalid UTF-8), is a RecordError."""
        damage = Damage()
        for element in safe_iterparse(data, self.tags, damage):
            namespace = etree.QName(element.tag).namespace or ""
            if not self.accepts_namespace(namespace):
                accepted = [*self.namespaces, *(f"matching '{p}'" for p in self.namespace_patterns)]
                yield RecordError(f"element <{_local(element.tag)}> in unsupported namespace '{namespace}' "
                                  f"(accepted: {', '.join(accepted)})",
                                  etree.tostring(element, encoding="unicode")[:2000])
                continue
            record = element_to_dict(element)
            record["@_tag"] = _local(element.tag)
            record["@_namespace"] = namespace
            bad = find_bad_text(record, replacement=True) if damage.replaced else None
            if bad:
                yield RecordError(f"<{record['@_tag']}>: invalid text: {bad}", record)
                continue
            yield record
