"""Declarative REST streams: settings in declarations, declared incremental sync and child requests,
and a whole connector declared as a dict (paginator/auth/cursor kinds by registry name)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
import yaml

from connectors.uitdatabank.connector import UitdatabankConnector
from connectors.uitdatabank.sandbox import UitdatabankSandbox
from podium.errors import ConfigError
from podium.parsing.json import JsonRecords
from podium.sandbox import Request, Response, Sandbox
from podium.sdk.connector import Connector, StreamSpec, SyncContext
from podium.sdk.cursors import CURSOR_FORMATS, LOCAL_DATETIME, cursor_format, parse_utc
from podium.sdk.declarative import load_rest_connector, rest_connector
from podium.sdk.paginators import WindowedOffsetPaginator
from podium.sdk.rest import (
    ChildRequest,
    Incremental,
    Paginate,
    RestConnector,
    RestStream,
    computed,
    resolve,
    setting,
)

CLIENT = "dict-house"
DECLARATION: dict[str, Any] = {
    "name": "search_events",
    "base_url": "{config.base_url}",
    "config_spec": {"type": "object", "required": ["base_url", "client_id"], "properties": {
        "base_url": {"type": "string"}, "page_size": {"type": "integer", "default": 25},
        "client_id": {"type": "string", "secret": True}}},
    "auth": {"kind": "api_key_header", "key": "{config.client_id}", "header": "x-client-id"},
    "streams": [{
        "name": "events", "entity": "event", "primary_key": "@id", "path": "events", "records_path": "member",
        "paginator": {"kind": "offset", "limit": "{config.page_size}", "offset_param": "start",
                      "total_path": "totalItems"},
        "params": {"embed": "true", "sort[modified]": "asc", "workflowStatus": "APPROVED,DELETED",
                   "availableFrom": "*", "availableTo": "*", "addressCountry": "*", "audienceType": "*"},
        "incremental": {"cursor_path": "modified", "param": "modifiedFrom", "format": "iso_utc",
                        "inclusive": True},
    }],
}


@pytest.fixture
def sandbox() -> Iterator[UitdatabankSandbox]:
    box = UitdatabankSandbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()


def read(connector: Connector, state: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for page in connector.read("events", state):
        assert not page.errors
        records += page.records
        last = page.state
    return records, last


@pytest.mark.parametrize("form", ["dict", "yaml"])
def test_a_dict_declared_connector_syncs_against_the_sandbox(sandbox: UitdatabankSandbox, form: str,
                                                              tmp_path: Path) -> None:
    if form == "yaml":
        (tmp_path / "connector.yaml").write_text(yaml.safe_dump(DECLARATION), encoding="utf-8")
        declared = load_rest_connector(tmp_path / "connector.yaml")
    else:
        declared = rest_connector(DECLARATION)
    settings = {"base_url": sandbox.url, "client_id": CLIENT, "page_size": 7}
    connector = declared(settings, SyncContext(house="demo"))
    records, state = read(connector)
    # The page size comes from the house's settings.
    limits = {q["limit"][0] for _, path, q in sandbox.requests if path == "/events"}
    assert limits == {"7"}
    # The same events as the hand-declared connector serves this client with the same filters.
    builtin = UitdatabankConnector({"search_base_url": sandbox.url, "client_id": CLIENT,
                                    "auth": "client_identification", "workflow_status": "APPROVED,DELETED"},
                                   SyncContext(house="demo"))
    expected, _ = read(builtin)
    assert sorted(r["@id"] for r in records) == sorted(r["@id"] for r in expected) and records
    assert state == {"cursor": max(cursor_format("iso_utc").normalise(r["modified"]) for r in records)}
    # Declared incremental sync: nothing new, then exactly the changed events.
    again, kept = read(connector, state)
    assert again == [] and kept == state
    changed = sandbox.mutate(3)
    later, _ = read(connector, state)
    assert sorted(r["@id"] for r in later) == sorted(changed)


@pytest.mark.parametrize(("part", "value", "known"), [
    ("paginator", {"kind": "scroll"}, "cursor, date_windows, keyset_offset, link_header, next_link, offset, page_number"),
    ("auth", {"kind": "kerberos"}, "api_key_header, api_key_query, basic, bearer, hmac"),
    ("incremental", {"cursor_path": "m", "param": "p", "format": "julian"}, "date, epoch, iso_utc, utc_datetime"),
])
def test_an_unknown_kind_in_a_declaration_lists_the_known_names(part: str, value: dict[str, Any], known: str) -> None:
    declaration = {**DECLARATION, "streams": [dict(DECLARATION["streams"][0])]}
    if part == "auth":
        declaration["auth"] = value
    else:
        declaration["streams"][0][part] = value
    with pytest.raises(ConfigError, match=known):
        rest_connector(declaration)


class _Plain(Connector):
    name = "plain"
    config_spec: dict[str, Any] = {"type": "object"}
    streams = ()


def test_declaration_values_read_the_house_settings() -> None:
    connector = _Plain({"page_size": 50, "organizer": "org-1", "empty": ""}, SyncContext(house="demo"))
    assert resolve("{config.page_size}", connector) == 50  # the whole template keeps the type
    assert resolve("api/{config.organizer}/events", connector) == "api/org-1/events"
    assert resolve({"size": setting("page_size", 100), "q": setting("empty"), "loc": setting("location")},
                   connector) == {"size": 50}  # unset and empty settings send no filter
    with pytest.raises(ConfigError, match="'account'"):
        resolve("{config.account}", connector)
    paginator = Paginate("offset", limit=setting("page_size", 100)).build(connector)
    assert paginator.start({})["params"]["limit"] == 50
    assert resolve(computed(lambda c: c.config["page_size"] * 2), connector) == 100
    # A function given as an option (a paginator's cursor_key) is passed on, not called.
    windowed = Paginate(WindowedOffsetPaginator, bound_param="b", records_path="r", cursor_path="c",
                        cursor_key=CURSOR_FORMATS["iso_utc"].normalise).build(connector)
    assert windowed.cursor_key("2025-01-01T01:00:00+01:00") == "2025-01-01T00:00:00+00:00"


def test_cursor_formats_normalise_to_text_in_time_order() -> None:
    tm = CURSOR_FORMATS["utc_datetime"]
    assert tm.normalise("2025-03-30T03:30:00+02:00") == "2025-03-30 01:30:00"
    assert tm.normalise("2025-03-30 01:30:00") == "2025-03-30 01:30:00"
    assert tm.normalise("not a time") is None and tm.normalise(None) is None
    iso = CURSOR_FORMATS["iso_utc"]
    assert iso.normalise("2025-10-26T02:30:00.123Z") == "2025-10-26T02:30:00+00:00"
    epoch = CURSOR_FORMATS["epoch"]
    assert epoch.normalise(999) < epoch.normalise(1000)  # zero-padded: text order is time order
    assert CURSOR_FORMATS["date"].normalise("2025-03-30T23:30:00-02:00") == "2025-03-31"
    brussels = ZoneInfo("Europe/Brussels")
    assert LOCAL_DATETIME.normalise("2025-10-26T01:30:00Z", brussels) == "2025-10-26T02:30:00"  # UTC -> the wall clock
    assert LOCAL_DATETIME.normalise("2025-10-26T02:30:00", brussels) == "2025-10-26T02:30:00"  # naive: as written
    declared = Incremental("modified", param="since", format="iso_utc", inclusive=True, lookback_seconds=10)
    assert declared.params("2025-01-01T00:00:10+00:00", _Plain({}, SyncContext(house="demo"))) == {
        "since": "2025-01-01T00:00:01+00:00"}


@pytest.mark.parametrize("value", [
    "2025-03-30 01:30:00", "2024-02-29 10:00:00", "2025-02-29 10:00:00", "2025-13-01 00:00:00", "2025-12-31 24:00:00",
    "2025-12-31 23:59:60", "0999-01-01 00:00:00", "1000-01-01 00:00:00", "9999-12-31 23:59:59",
    "2025-03-30T01:30:00+00:00", "2025-03-30T01:30:00+01:00", "0999-03-30T01:30:00+00:00", "2025-03-30",
    "2025-02-30", "0999-03-30", "2025-03-30T01:30:00", "2025-02-30T01:30:00", "0999-03-30T01:30:00",
    "2025-03-30T01:30:00Z", " 2025-03-30 01:30:00", "2025-03-30 01:30:00.5",
    "\u0662\u0660\u0662\u0665-03-30 01:30:00", "2025-03-30T01:30:00+00:00\n", "1234567890", 1234567890, 12.5, True, ""])
def test_a_value_already_in_a_formats_text_normalises_as_if_parsed_and_rendered(value: Any) -> None:
    """``normalise`` returns a value already in the format's rendered shape as it is (checking only that
    it is a real date-time): exactly what parsing and rendering it gives, or None when that fails."""
    for fmt in CURSOR_FORMATS.values():
        try:
            expected = fmt.render(parse_utc(value)) if value not in (None, "") else None
        except (TypeError, ValueError, OverflowError):
            expected = None
        assert fmt.normalise(value) == expected
    brussels = ZoneInfo("Europe/Brussels")
    try:
        expected = LOCAL_DATETIME.parse(value, brussels).strftime(LOCAL_DATETIME.pattern) \
            if value not in (None, "") else None
    except (TypeError, ValueError):
        expected = None
    assert LOCAL_DATETIME.normalise(value, brussels) == expected


def test_child_requests_skip_records_without_a_usable_id_and_quote_the_rest() -> None:
    child = ChildRequest("api/event/{id}/customdata", into="customdata")
    assert child.path_for({"id": "a/b c"}) == "api/event/a%2Fb%20c/customdata"
    assert [child.path_for({"id": bad}) for bad in (None, "", "  ", True, {"x": 1})] == [None] * 5
    record: dict[str, Any] = {"id": 1}
    child.attach(None, record, {"items": []})
    assert record["customdata"] == {"items": []}


def test_a_rest_stream_without_incremental_keeps_the_callable_forms() -> None:
    stream = RestStream(StreamSpec("x", "event", "id", JsonRecords("data"), cursor="ts"), path="x",
                        paginator=lambda: None, params=lambda connector, cursor: {"since": cursor})
    assert stream.query(_Plain({}, SyncContext(house="demo")), "c1") == {"since": "c1"}
    assert stream.cursor_of({"ts": "2025"}) == "2025"
    assert issubclass(rest_connector(DECLARATION), RestConnector)


class _ShortPagesSandbox(Sandbox):
    """Offset paging without a total: 7 items in pages of ``limit``; item 2 is not an object."""

    name = "short-pages"
    rate_limit_requests = 1000

    def route(self, request: Request) -> Response:
        offset, limit = int(request.arg("offset") or 0), int(request.arg("limit") or 3)
        items: list[Any] = [{"id": n} for n in range(7)]
        items[2] = "not an object"
        return Response.json({"items": items[offset:offset + limit]})


def test_a_bad_record_on_a_full_page_does_not_end_the_paging() -> None:
    declared = rest_connector({
        "name": "short_pages", "base_url": "{config.base_url}",
        "streams": [{"name": "events", "entity": "event", "primary_key": "id", "path": "items",
                     "records_path": "items", "paginator": {"kind": "offset", "limit": 3}}]})
    with _ShortPagesSandbox() as box:
        pages = list(declared({"base_url": box.url}, SyncContext(house="demo")).read("events", None))
    # The page with the bad item was full: the records after it are read, the bad one is a record error.
    assert [r["id"] for p in pages for r in p.records] == [0, 1, 3, 4, 5, 6]
    assert sum(len(p.errors) for p in pages) == 1


class _OneRecordSandbox(Sandbox):
    """Answers every list request with one record alone, as ``GET items/{id}`` would."""

    name = "one-record"
    rate_limit_requests = 1000

    def route(self, request: Request) -> Response:
        return Response.json({"id": 7, "name": "Hamlet"})


def test_a_declared_single_record_shape_is_read_by_podium_map_never_as_a_sync_page() -> None:
    from podium.errors import BadDataError
    from podium.parsing.base import decode_page
    from podium.sdk.retry import retrying

    declared = rest_connector({
        "name": "one_or_many", "base_url": "{config.base_url}",
        "streams": [{"name": "events", "entity": "event", "primary_key": "id", "path": "items",
                     "records_path": "items", "single_record_key": "id", "page_markers": ["total"],
                     "paginator": {"kind": "offset", "limit": 3}}]})
    decoder = declared.stream("events").decoder
    assert isinstance(decoder, JsonRecords) and (decoder.single_record_key, decoder.page_markers) == ("id", ("total",))
    items, _ = decode_page(decoder, b'{"id": 7, "name": "Hamlet"}')
    assert list(items) == [{"id": 7, "name": "Hamlet"}]

    class Quick(declared):  # type: ignore[valid-type,misc]
        def retry_policy(self) -> Any:
            return retrying(max_attempts=2, backoff_initial=0.01, backoff_max=0.01)

    # The sync asked for a page: a lone record in its place is an unreadable page, as before.
    with _OneRecordSandbox() as box, pytest.raises(BadDataError, match="no 'items' list"):
        list(Quick({"base_url": box.url}, SyncContext(house="demo")).read("events", None))
class _ParentsAndChildrenSandbox(Sandbox):
    """``/parents`` (5, one without an id) in pages of ``limit`` with a total; ``/children?parent=`` in pages
    of ``limit``: parent n has 3 * n children, none for parents 1 and 2."""

    name = "parents-and-children"
    rate_limit_requests = 1000

    def route(self, request: Request) -> Response:
        start, limit = int(request.arg("start") or 0), int(request.arg("limit") or 2)
        if request.path == "/parents":
            parents: list[dict[str, Any]] = [{"id": n, "secret": "x"} for n in range(5)]
            parents[3] = {"name": "no id"}
            return Response.json({"total": 5, "member": parents[start:start + limit]})
        parent = int(request.arg("parent") or 0)
        children = [] if parent in (1, 2) else [{"id": f"{parent}-{k}"} for k in range(3 * parent)]
        return Response.json({"total": len(children), "member": children[start:start + limit]})


def _fanned_out_connector(child: ChildRequest) -> type[RestConnector]:
    spec = StreamSpec("children", "ticket", "id", JsonRecords("member"))

    class FannedOut(RestConnector):
        name = "fanned_out"
        config_spec: ClassVar[dict[str, Any]] = {"type": "object"}
        rest_streams = (RestStream(spec, path="parents", children=(child,),
                                   paginator=Paginate("offset", limit=1, offset_param="start",
                                                      total_path="total")),)

        def base_url(self) -> str:
            return str(self.config["base_url"])
    return FannedOut


def test_a_paged_child_fans_out_into_the_streams_records() -> None:
    """Every page of each child is read; the children replace their parents, each given the parent fields
    asked for; a parent without the id the child needs is a record error, not a silent drop; parent pages
    without a child (three in a row here) do not trip the paging's empty-page guard."""
    child = ChildRequest("children?parent={id}", into="children", pages=Paginate(
        "offset", limit=2, offset_param="start", total_path="total"), records_path="member",
        fan_out={"parentId": "id"})
    with _ParentsAndChildrenSandbox() as box:
        connector = _fanned_out_connector(child)({"base_url": box.url}, SyncContext(house="demo"))
        pages = list(connector.read("children", None))
    records = [r for p in pages for r in p.records]
    assert records == [{"parentId": 4, "id": f"4-{k}"} for k in range(12)]
    assert [reason for p in pages for reason, _ in p.errors] == [
        "no usable value for the child request children?parent={id}"]
    assert json.loads(pages[-1].raw) == {"member": pages[-1].records}  # the archive holds what was stored
    child_pages = [q for _, path, q in box.requests if path == "/children"]
    assert len(child_pages) == 1 + 1 + 1 + 6  # parents 0, 1, 2 one page each; parent 4: 12 children by 2


def test_a_child_path_may_be_a_function_of_the_record() -> None:
    def from_uri(record: Any) -> str | None:
        uri = record.get("@id")
        return f"children?parent={uri.rsplit('/', 1)[-1]}" if isinstance(uri, str) else None

    child = ChildRequest(from_uri, into="children")
    assert child.path_for({"@id": "https://io.example/event/7"}) == "children?parent=7"
    assert child.path_for({}) is None and child.fields() == [] and child.label == "from_uri"
