"""Parsers: malformed input gives reasons, unsafe XML is refused, large inputs stream."""

from __future__ import annotations

import io

import pytest

from podium.errors import BadDataError, UnsafeXmlError
from podium.parsing import CsvRecords, JsonRecords, RecordError, XmlRecords

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<cdbxml><events><event cdbid="1"><title>&xxe;</title></event></events></cdbxml>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<cdbxml><event cdbid="1"><title>&lol3;</title></event></cdbxml>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE cdbxml SYSTEM "http://127.0.0.1:9/evil.dtd">
<cdbxml><event cdbid="1"/></cdbxml>"""


def test_json_records_and_bad_items() -> None:
    items = list(JsonRecords("data").decode(b'{"data": [{"id": 1}, 7, {"id": 2}], "nbrofresults": 3}'))
    assert items[0] == {"id": 1} and items[2] == {"id": 2}
    assert isinstance(items[1], RecordError) and "not an object" in items[1].reason


@pytest.mark.parametrize("payload, message", [
    (b'{"data": [{"id": 1}', "malformed JSON"),
    (b'{"items": []}', "no 'data' list"),
    (b'{"data": "x"}', "not a list"),
])
def test_json_unreadable_pages(payload: bytes, message: str) -> None:
    with pytest.raises(BadDataError, match=message):
        list(JsonRecords("data").decode(payload))


@pytest.mark.parametrize("attack", [XXE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "billion-laughs", "external-dtd"])
@pytest.mark.parametrize("as_stream", [False, True])
def test_unsafe_xml_is_refused(attack: bytes, as_stream: bool) -> None:
    data = io.BytesIO(attack) if as_stream else attack
    with pytest.raises(UnsafeXmlError, match="unsafe XML refused"):
        list(XmlRecords(("event",)).decode(data))


def test_doctype_hidden_after_a_long_comment_is_still_refused() -> None:
    attack = b"<?xml version='1.0'?><!--" + b"x" * 100_000 + b"-->" + XXE.split(b"?>", 1)[1]
    with pytest.raises(UnsafeXmlError):
        list(XmlRecords(("event",)).decode(io.BytesIO(attack)))


def test_xml_records_to_dicts_with_namespaces_filtered() -> None:
    doc = b"""<cdbxml xmlns="http://www.cultuurdatabank.com/XMLSchema/CdbXSD/3.3/FINAL">
      <events><event cdbid="a1"><eventdetails><eventdetail lang="nl"><title>Hamlet</title></eventdetail>
      <eventdetail lang="fr"><title>Hamlet (FR)</title></eventdetail></eventdetails></event>
      <event cdbid="a2"/></events></cdbxml>"""
    decoder = XmlRecords(("event",), ("http://www.cultuurdatabank.com/XMLSchema/CdbXSD/3.3/FINAL",))
    first, second = list(decoder.decode(doc))
    assert first["@cdbid"] == "a1"
    assert [d["title"] for d in first["eventdetails"]["eventdetail"]] == ["Hamlet", "Hamlet (FR)"]
    assert second["@cdbid"] == "a2"
    other = list(XmlRecords(("event",), ("urn:other",)).decode(doc))
    assert all(isinstance(item, RecordError) and "unsupported namespace" in item.reason for item in other)


def test_malformed_xml_is_bad_data() -> None:
    with pytest.raises(BadDataError, match="malformed XML"):
        list(XmlRecords(("event",)).decode(b"<cdbxml><event></cdbxml>"))


def test_xml_streaming_keeps_memory_flat() -> None:
    import tracemalloc

    def feed(n: int) -> io.BytesIO:
        body = b"".join(b'<event cdbid="%d"><title>Voorstelling %d in CC Hasselt</title></event>' % (i, i)
                        for i in range(n))
        return io.BytesIO(b"<cdbxml><events>" + body + b"</events></cdbxml>")

    data = feed(60_000)
    tracemalloc.start()
    count = sum(1 for _ in XmlRecords(("event",)).decode(data))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 60_000
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {len(data.getvalue()) / 1e6:.1f} MB feed"


def test_csv_bom_cp1252_and_malformed_rows() -> None:
    bom = "\ufeffid,naam\n1,Café Théâtre\n".encode()
    decoder = CsvRecords()
    assert list(decoder.decode(bom)) == [{"id": "1", "naam": "Café Théâtre"}]
    assert decoder.detected_encoding == "utf-8-sig"
    cp = "id,naam\n1,Zoë’s café\n2,Gent\n".encode("cp1252")
    decoder = CsvRecords()
    assert [r["naam"] for r in decoder.decode(cp)] == ["Zoë’s café", "Gent"]  # type: ignore[index]
    assert decoder.detected_encoding == "cp1252"
    rows = list(CsvRecords().decode(b"id,naam\n1,a\n2,b,extra\n3,c\n"))
    assert rows[0] == {"id": "1", "naam": "a"} and rows[2] == {"id": "3", "naam": "c"}
    assert isinstance(rows[1], RecordError) and "line 3" in rows[1].reason


@pytest.mark.parametrize("bad", [b"\\ud83d", b"\xff\xfe", b"\\u0000", b"\x00"],
                         ids=["lone-surrogate", "invalid-utf8", "nul-escape", "raw-nul"])
def test_one_invalid_string_costs_its_record_not_the_page(bad: bytes) -> None:
    page = b'{"data": [{"id": 1, "name": "Hamlet"}, {"id": 2, "name": "Ham' + bad + b'let"}, {"id": 3}]}'
    items = list(JsonRecords("data").decode(page))
    assert items[0] == {"id": 1, "name": "Hamlet"} and items[2] == {"id": 3}
    assert isinstance(items[1], RecordError) and "record 1: invalid text: name holds" in items[1].reason


def test_json_bom_is_not_an_error_and_broken_documents_still_are() -> None:
    assert list(JsonRecords("data").decode(b'\xef\xbb\xbf{"data": [{"id": 1}]}')) == [{"id": 1}]
    for broken in (b'{"data": [{"id": 1}, {"name": "Ham\xfflet"', b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(BadDataError, match="malformed JSON"):
            JsonRecords("").load(broken)


@pytest.mark.parametrize("bad", [b"\x00", b"\xff\xfe", b"\x07", b"&#0;", b"&#xD83D;"],
                         ids=["nul", "invalid-utf8", "control", "charref-nul", "charref-surrogate"])
@pytest.mark.parametrize("as_stream", [False, True])
def test_one_invalid_xml_character_costs_its_record_not_the_document(bad: bytes, as_stream: bool) -> None:
    # Records far past the first 64 KB block, so the bad character sits in a later block of the stream.
    filler = b"".join(b'<event cdbid="%d"><title>Voorstelling %d</title></event>' % (i, i) for i in range(3000))
    doc = (b'<?xml version="1.0" encoding="UTF-8"?><cdbxml>' + filler
           + b'<event cdbid="bad"><title>Ham' + bad + b"let</title></event>"
           + b'<event cdbid="after"><title>Caf\xc3\xa9</title></event></cdbxml>')
    items = list(XmlRecords(("event",)).decode(io.BytesIO(doc) if as_stream else doc))
    assert len(items) == 3002
    assert all(not isinstance(i, RecordError) for i in items[:3000])
    assert isinstance(items[3000], RecordError) and "invalid text" in items[3000].reason
    assert items[3001]["title"] == "Café"  # type: ignore[index]


def test_xml_bom_and_a_declared_cp1252_document_read_as_before() -> None:
    (record,) = XmlRecords(("event",)).decode(b'\xef\xbb\xbf<cdbxml><event cdbid="1"/></cdbxml>')
    assert record["@cdbid"] == "1"  # type: ignore[index]
    latin = '<?xml version="1.0" encoding="windows-1252"?><cdbxml><event><t>Café</t></event></cdbxml>'.encode("cp1252")
    (record,) = XmlRecords(("event",)).decode(latin)
    assert record["t"] == "Café"  # type: ignore[index]


@pytest.mark.parametrize("bad", [b"\x00", b"\xff\xfe"], ids=["nul", "invalid-utf8"])
def test_one_invalid_csv_row_costs_that_row(bad: bytes) -> None:
    data = "id,naam\n1,Café\n".encode() + b"2,Ham" + bad + b"let\n3,Gent\n"
    decoder = CsvRecords()
    rows = list(decoder.decode(data))
    assert decoder.detected_encoding == "utf-8"
    assert rows[0] == {"id": "1", "naam": "Café"} and rows[2] == {"id": "3", "naam": "Gent"}
    assert isinstance(rows[1], RecordError) and "line 3: invalid text: naam holds" in rows[1].reason


def test_xml_text_longer_than_a_block_with_multibyte_characters_is_not_damaged() -> None:
    long_text = ("Café théâtre " * 20_000).encode()  # > 64 KB without a ">", multi-byte characters throughout
    doc = b"<cdbxml><event><t>" + long_text + b"</t></event><event><t>ok</t></event></cdbxml>"
    records = list(XmlRecords(("event",)).decode(io.BytesIO(doc)))
    assert [isinstance(r, RecordError) for r in records] == [False, False]
    assert records[0]["t"] == long_text.decode().strip()  # type: ignore[index]


def test_json_nan_is_still_malformed() -> None:
    with pytest.raises(BadDataError, match="malformed JSON"):
        JsonRecords("data").load(b'{"data": [{"id": 1, "price": NaN}]}')


# -- document shapes: a list page or a single record, namespace versions ----------------------------
ONE_EVENT = JsonRecords("member", single_record_key="@id", page_markers=("totalItems",))


def _document(decoder: JsonRecords, payload: bytes) -> list[dict[str, object] | RecordError]:
    from podium.parsing.base import decode_page

    items, _ = decode_page(decoder, payload)
    return list(items)


def test_a_single_record_is_read_as_served_and_the_sync_path_still_reads_pages_only() -> None:
    from podium.parsing import LIST_PAGE, SINGLE_RECORD, shape_of

    single = b'{"@id": "https://io.uitdatabank.be/events/1", "name": {"nl": "Hamlet"}}'
    assert _document(ONE_EVENT, single) == [{"@id": "https://io.uitdatabank.be/events/1", "name": {"nl": "Hamlet"}}]
    assert shape_of(ONE_EVENT, single) == SINGLE_RECORD
    page = b'{"totalItems": 1, "member": [{"@id": "e1"}]}'
    assert _document(ONE_EVENT, page) == [{"@id": "e1"}] and shape_of(ONE_EVENT, page) == LIST_PAGE
    with pytest.raises(BadDataError, match="no 'member' list"):  # what RestConnector calls: unchanged
        list(ONE_EVENT.records(ONE_EVENT.load(single)))
    with pytest.raises(BadDataError, match="no 'member' list"):  # no single_record_key: pages only
        _document(JsonRecords("member"), single)


@pytest.mark.parametrize("payload, message", [
    (b'{"totalItems": 3, "@id": "https://io.uitdatabank.be/events/1"}', "no 'member' list"),  # page marker
    (b'{"member": null, "@id": "e1"}', "no 'member' list"),  # the list key is there, broken
    (b'{"member": "x", "@id": "e1"}', "not a list"),
    (b'{"member": 7}', "not a list"),
    (b'{"items": []}', "not a single record"),  # no list, no identity
    (b'{"@id": ""}', "not a single record"),
    (b'{"@id": true}', "not a single record"),
    (b'{"@id": {"nested": 1}}', "not a single record"),
    (b'[{"@id": "e1"}]', "no 'member' list"),  # a bare list is not this stream's page
    (b'"e1"', "no 'member' list"),
])
def test_a_broken_list_page_is_never_read_as_a_single_record(payload: bytes, message: str) -> None:
    with pytest.raises(BadDataError, match=message):
        _document(ONE_EVENT, payload)


def test_a_single_record_with_unstorable_text_is_its_own_record_error() -> None:
    [item] = _document(ONE_EVENT, b'{"@id": "e1", "name": "Ham\\u0000let"}')
    assert isinstance(item, RecordError) and "NUL" in item.reason


def test_declared_shapes_are_listed() -> None:
    from podium.parsing import LIST_PAGE, SINGLE_RECORD, document_shapes

    assert [s.kind for s in document_shapes(ONE_EVENT)] == [LIST_PAGE, SINGLE_RECORD]
    assert [s.kind for s in document_shapes(JsonRecords("data"))] == [LIST_PAGE]
    assert [s.kind for s in document_shapes(CsvRecords())] == [LIST_PAGE]
    assert [s.kind for s in document_shapes(XmlRecords(("event",)))] == [LIST_PAGE, SINGLE_RECORD]
    assert "'@id'" in str(document_shapes(ONE_EVENT)[1])


VERSIONED = XmlRecords(("Show",), namespace_patterns=(r"http://vendor\.example/ws/v\d+\.\d+/",))


@pytest.mark.parametrize("namespace, accepted", [
    ("http://vendor.example/ws/v3.8/", True),
    ("http://vendor.example/ws/v0.5/", True),
    ("http://vendor.example/ws/v12.40/", True),
    ("http://vendor.example/ws/v3.8/extra/", False),  # the pattern matches the whole URI, not a prefix
    ("http://evil.example/ws/v3.8/", False),
    ("http://vendor.example/ws/vX.Y/", False),
    ("", False),
])
def test_namespace_versions_match_the_declared_pattern_in_full(namespace: str, accepted: bool) -> None:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    [item] = list(VERSIONED.decode(f'<Shows{xmlns}><Show><Id>1</Id></Show></Shows>'.encode()))
    assert isinstance(item, dict) == accepted
    if accepted:
        assert item["Id"] == "1" and item["@_namespace"] == namespace
    else:
        assert isinstance(item, RecordError) and "unsupported namespace" in item.reason


def test_page_information_elements_are_read_by_the_sync_and_are_no_record_of_a_document() -> None:
    from podium.parsing import LIST_PAGE, SINGLE_RECORD, shape_of
    from podium.parsing.base import decode_page

    decoder = XmlRecords(("event", "nofrecords"), page_info_tags=("nofrecords",))
    page = b'<cdbxml><nofrecords>40</nofrecords><event cdbid="a"/><event cdbid="b"/></cdbxml>'
    assert [i["@_tag"] for i in decoder.decode(page) if isinstance(i, dict)] == ["nofrecords", "event", "event"]
    items, _ = decode_page(decoder, page)
    assert [i["@cdbid"] for i in items if isinstance(i, dict)] == ["a", "b"]
    assert shape_of(decoder, page) == LIST_PAGE
    assert shape_of(decoder, b'<cdbxml><nofrecords>1</nofrecords><event cdbid="a"/></cdbxml>') == SINGLE_RECORD
    assert shape_of(decoder, b'<event cdbid="a"/>') == SINGLE_RECORD
