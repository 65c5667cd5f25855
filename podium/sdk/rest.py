"""Declarative REST streams: a connector says path, paginator, records path and incremental filter.

``RestConnector.read`` does the rest for every REST vendor: first position (or the stored resume
position), requests through the shared ``HttpClient``, decoding, cursor tracking, and a state per
page. A page that cannot be decoded as a whole is fetched again and, when it stays broken, fails the
stream before its state is yielded: the stored position never passes records that were not stored.
State shape (plain JSON, stored with the page's records in one transaction)::

    {"cursor": <highest cursor value of the last complete read>}                 between syncs
    {"cursor": c, "resume": <paginator position>, "max_seen": <cursor so far>}   mid-sync
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from requests.auth import AuthBase

from podium.errors import BadDataError, ConfigError
from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext, RecordError
from podium.parsing.json import JsonRecords, dig
from podium.sdk.connector import Connector, Page, StreamSpec
from podium.sdk.cursors import CursorFormat, cursor_format
from podium.sdk.error_table import ErrorRule
from podium.sdk.http import HttpClient
from podium.sdk.paginators import Paginator, make_paginator
from podium.sdk.ratelimit import shared_limiter
from podium.secrets import redact, strip_credentials

log = logging.getLogger("podium.rest")


@dataclass(frozen=True)
class Setting:
    """A declaration value read from the house's settings when a read starts (``setting("page_size", 100)``)."""

    key: str
    default: Any = None

    def __call__(self, connector: Connector) -> Any:
        value = connector.config.get(self.key)
        return self.default if value is None or value == "" else value


def setting(key: str, default: Any = None) -> Setting:
    """A declaration value taken from the house's setting ``key`` (``default`` when it is not set)."""
    return Setting(key, default)


@dataclass(frozen=True)
class Computed:
    """A declaration value computed from the connector when a read starts (``computed(fn)``)."""

    function: Callable[[Any], Any]

    def __call__(self, connector: Connector) -> Any:
        return self.function(connector)


def computed(function: Callable[[Any], Any]) -> Computed:
    """A declaration value computed by ``function(connector)`` (for what one setting cannot say)."""
    return Computed(function)


_WHOLE_SETTING = re.compile(r"\{config\.(\w+)\}")


class _ConfigView:
    """``{config.name}`` in a template: a setting that is not there is a ConfigError naming it."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    def __getattr__(self, name: str) -> Any:
        value = self._connector.config.get(name)
        if value is None:
            raise ConfigError(f"{self._connector.name}: setting '{name}' is needed by the declaration")
        return value


def resolve(value: Any, connector: Connector) -> Any:
    """A declaration value for ``connector``: a ``setting``/``computed`` value is read, a
    ``{config.name}`` template is filled in, a dict is resolved value by value (None values dropped).
    Other values, functions included (a paginator's ``cursor_key``), pass as they are."""
    if isinstance(value, Setting | Computed):
        return value(connector)
    if isinstance(value, str):
        whole = _WHOLE_SETTING.fullmatch(value)
        if whole:  # only the setting: keep its type (a page size stays a number)
            return getattr(_ConfigView(connector), whole.group(1))
        return value.format(config=_ConfigView(connector)) if "{config." in value else value
    if isinstance(value, Mapping):
        resolved = {key: resolve(item, connector) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not None}
    return value


@dataclass(frozen=True)
class Paginate:
    """A paginator by kind (a ``PAGINATOR_MAP`` name or a class) and options; options may be settings."""

    kind: str | type[Paginator]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, kind: str | type[Paginator], **options: Any) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "options", options)

    def build(self, connector: Connector) -> Paginator:
        """A fresh paginator for one read by ``connector``."""
        options = resolve(self.options, connector)
        if isinstance(self.kind, str):
            return make_paginator(self.kind, **options)
        return self.kind(**options)


@dataclass(frozen=True)
class Incremental:
    """Declared incremental sync: the record's cursor field, the request parameter the stored cursor goes
    into, and its format (a ``CURSOR_FORMATS`` name or a ``CursorFormat``).

    ``inclusive``: the vendor's filter means "at or after", so the request asks from one second after
    the cursor (what the last sync stored is not read again). ``lookback_seconds`` re-reads a margin
    before the cursor (a vendor's indexing lag); it may be a setting.
    """

    cursor_path: str
    param: str
    format: str | CursorFormat = "iso_utc"
    inclusive: bool = False
    lookback_seconds: Any = 0

    def value(self, record: Mapping[str, Any]) -> str | None:
        """The comparable cursor text of one raw record (None: absent or unreadable)."""
        return cursor_format(self.format).normalise(dig(record, self.cursor_path))

    def params(self, cursor: Any, connector: Connector) -> dict[str, Any]:
        """The request parameter for a read after ``cursor``."""
        shift = (1.0 if self.inclusive else 0.0) - float(resolve(self.lookback_seconds, connector) or 0)
        return {self.param: cursor_format(self.format).request_value(cursor, shift)}


@dataclass(frozen=True)
class ChildRequest:
    """One more request per record (``path`` is a template of record fields, e.g.
    ``api/event/{id}/customdata``, or a function of the record for what a template cannot say: None
    means no usable value), made before the page is handed on; a child request that fails fails
    the stream, so the page's state is not stored and the next sync reads the page again.

    ``into`` names the record key the decoded answer goes into, or is a function
    ``(connector, record, answer)`` that attaches what it needs. ``params`` may hold ``setting``/``computed``
    values; ``when`` (a value, a ``setting`` or ``computed``) switches the requests off.
    A record without a usable value for a path field gets no request (the mapping reports it).

    ``pages``: the child answer is paged; every page is read and the answer is the list of the records
    at ``records_path``. ``fan_out`` (child field -> parent field): the child's records *replace* their
    parent as the page's records, each given those parent fields (a vendor that lists check-ins only per
    passholder: the stream's records are the check-ins, each knowing its passholder); the page archived
    is then those records in the parent page's shape.
    """

    path: str | Callable[[Mapping[str, Any]], str | None]  # a template of record fields, or record -> path
    into: str | Callable[[Any, dict[str, Any], Any], None]
    params: Mapping[str, Any] = field(default_factory=dict)
    when: Any = True
    pages: Paginate | None = None
    records_path: str = ""
    fan_out: Mapping[str, str] | None = None

    def fields(self) -> list[str]:
        if callable(self.path):
            return []
        return [name for _, name, _, _ in string.Formatter().parse(self.path) if name]

    @property
    def label(self) -> str:
        """The child request as a person reads it (its template, or the function that builds the path)."""
        return self.path if isinstance(self.path, str) else getattr(self.path, "__name__", "a path function")

    def path_for(self, record: Mapping[str, Any]) -> str | None:
        """The child path for ``record``; None when a field it needs is missing or blank."""
        if callable(self.path):
            return self.path(record)
        values = {}
        for name in self.fields():
            value = record.get(name)
            if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
                return None
            values[name] = quote(str(value), safe="")
        return self.path.format(**values)

    def attach(self, connector: Any, record: dict[str, Any], answer: Any) -> None:
        if callable(self.into):
            self.into(connector, record, answer)
        else:
            record[self.into] = answer


@dataclass
class RestStream:
    """One REST resource, declared. Values that depend on the house (page size, filters, a date window
    in the path) are settings (``setting(...)``), ``{config.name}`` templates or ``computed(...)`` values."""

    spec: StreamSpec
    path: str | Any  # a path, a ``{config.x}`` template, a ``computed`` value or callable(connector) -> path
    paginator: Paginate | type[Paginator] | Any  # a ``Paginate``, or a factory called with no arguments
    params: Any = None  # a dict of query parameters (settings resolved), or callable(connector, cursor)
    cursor_value: Any = None  # callable(record) -> comparable str | None; default: the incremental's value
    extra: dict[str, Any] = field(default_factory=dict)
    incremental: Incremental | None = None
    children: tuple[ChildRequest, ...] = ()
    # A stored next-page position the vendor no longer accepts (an expired result set: ConfigError on
    # the first page of a resumed read) restarts the read from its cursor instead of failing every sync.
    restart_refused_resume: bool = False

    def path_for(self, connector: Connector) -> str:
        """The request path for a read by ``connector``."""
        return str(self.path(connector) if callable(self.path) else resolve(self.path, connector))

    def paginator_for(self, connector: Connector) -> Paginator:
        """A fresh paginator for one read by ``connector``."""
        if isinstance(self.paginator, Paginate):
            return self.paginator.build(connector)
        return self.paginator()  # type: ignore[no-any-return]

    def query(self, connector: Connector, cursor: Any) -> dict[str, Any]:
        """Query parameters for a read starting after ``cursor``."""
        if callable(self.params):
            query = dict(self.params(connector, cursor))
        else:
            query = dict(resolve(self.params or {}, connector))
        if self.incremental is not None and cursor:
            query.update(self.incremental.params(cursor, connector))
        return query

    def cursor_of(self, record: Mapping[str, Any]) -> Any:
        """The cursor value of one raw record."""
        if self.cursor_value is not None:
            return self.cursor_value(record)
        if self.incremental is not None:
            return self.incremental.value(record)
        return record.get(self.spec.cursor) if self.spec.cursor else None


class RestConnector(Connector):
    """A connector whose streams are ``RestStream`` declarations."""

    rest_streams: ClassVar[tuple[RestStream, ...]]
    error_overrides: ClassVar[Mapping[int, ErrorRule]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "rest_streams" in cls.__dict__:
            cls.streams = tuple(s.spec for s in cls.rest_streams)

    def __init__(self, config: Mapping[str, Any], context: Any) -> None:
        super().__init__(config, context)
        self._client: HttpClient | None = None

    # -- to declare ------------------------------------------------------------------------------
    def base_url(self) -> str:
        """The vendor's API root for this house's account."""
        raise NotImplementedError

    def auth(self) -> AuthBase | None:
        """The auth object built from this house's secrets."""
        return None

    # -- shared behaviour -------------------------------------------------------------------------
    @property
    def client(self) -> HttpClient:
        if self._client is None:
            base = self.base_url()
            rate = float(self.config.get("requests_per_second", self.requests_per_second))
            self._client = HttpClient(base, auth=self.auth(), error_overrides=self.error_overrides,
                                      rate_limiter=shared_limiter(f"{self.name}:{base}", rate),
                                      timeout=self.timeouts, retry=self.retry_policy())
        return self._client

    @classmethod
    def replay_page(cls, stream: str, data: bytes, settings: Mapping[str, Any]) -> Page:
        spec = cls.stream(stream)
        rest = next(s for s in cls.rest_streams if s.spec is spec)
        if rest.children:  # their answers complete the records but are not archived with the page
            raise ConfigError(f"{cls.name} {stream}: its records are completed by child requests that the "
                              "archive does not hold; a remap cannot rebuild them (run a full-refresh sync)")
        return super().replay_page(stream, data, settings)

    def rest_stream(self, name: str) -> RestStream:
        spec = self.stream(name)
        return next(s for s in self.rest_streams if s.spec is spec)

    def check(self) -> None:
        """Read the first page of the first stream: proves base URL and credentials."""
        first = self.rest_streams[0]
        paginator = first.paginator_for(self)
        position = paginator.start(first.query(self, None))
        self.client.get(first.path_for(self), params=position["params"])

    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        rest = self.rest_stream(stream)
        pages = self._read_pages(rest, state)
        if not (rest.restart_refused_resume and state and state.get("resume")):
            yield from pages
            return
        try:
            first = next(pages)
        except StopIteration:
            return
        except ConfigError as exc:
            log.warning("%s %s: the stored next-page position no longer works (%s); reading again from the "
                        "cursor", self.name, stream, exc)
            yield from self._read_pages(rest, {"cursor": state["cursor"]} if state.get("cursor") else {})
            return
        yield first
        yield from pages

    def _read_pages(self, rest: RestStream, state: Mapping[str, Any] | None) -> Iterator[Page]:
        decoder = rest.spec.decoder
        if not isinstance(decoder, JsonRecords):
            raise TypeError("RestConnector streams decode JSON pages (JsonRecords)")
        state = dict(state or {})
        cursor = state.get("cursor")
        max_seen = state.get("max_seen", cursor)
        paginator = rest.paginator_for(self)
        resume = state.get("resume")
        position: dict[str, Any] | None = (paginator.resume(resume) if resume
                                           else paginator.start(rest.query(self, cursor)))
        path = rest.path_for(self)
        children = [child for child in rest.children if resolve(child.when, self)]
        fanned_out = any(child.fan_out is not None for child in children)

        def load(body: bytes) -> tuple[Any, list[dict[str, Any] | RecordError], PageContext]:
            # The whole page or nothing: a page that cannot be read is fetched again, never skipped.
            document = decoder.load(body)
            return document, list(decoder.records(document)), decoder.page_context(document)

        while position is not None:
            if "url" in position:
                response, loaded = self.client.get_document(position["url"], load)
            else:
                response, loaded = self.client.get_document(path, load, params=position["params"])
            # None: an answer the error table says to IGNORE, read as an empty last page.
            document, items, context = loaded if loaded is not None else (None, [], EMPTY_PAGE_CONTEXT)
            records: list[dict[str, Any]] = []
            errors: list[tuple[str, Any]] = []
            for item in items:
                if isinstance(item, RecordError):
                    errors.append((item.reason, item.raw))
                else:
                    records.append(item)
            parents = len(records)  # the paging's "empty page" guard counts what the vendor served here
            for child in children:
                records, orphans = self._fetch_children(child, records)
                errors += orphans
            for record in records:
                value = rest.cursor_of(record)
                if value is not None and (max_seen is None or str(value) > str(max_seen)):
                    max_seen = str(value)
            nxt = (paginator.next(position, response, document, parents, served=len(items))
                   if loaded is not None else None)
            label = _label(position)
            if nxt is None:
                after: dict[str, Any] = {"cursor": max_seen} if max_seen is not None else {}
            else:
                after = {"cursor": cursor, "resume": _storable(nxt), "max_seen": max_seen}
            # Fanned-out children are not in the parent's answer: the page archived is what was read and
            # stored, in the parent page's shape (so ``podium map`` reads it like a page of the vendor's).
            raw = _page_of(decoder.records_path, records) if fanned_out else response.content
            # The vendor's total counts its own records (parents), not fanned-out children.
            total = paginator.total(response, document) if loaded is not None and not fanned_out else None
            yield Page(records=records, state=after, raw=raw, raw_suffix=decoder.suffix,
                       label=label, errors=errors, context=context, total=total)
            position = nxt

    def _fetch_children(self, child: ChildRequest, records: list[dict[str, Any]]
                        ) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
        """Each record's child request: (the page's records, parents that could not be fanned out).

        No fallback on failure: a record stored without its child data would lose it until the record
        changes again, so the error fails the stream before the page's state is stored."""
        params = resolve(child.params, self)
        kept: list[dict[str, Any]] = []
        orphans: list[tuple[str, Any]] = []
        for record in records:
            path = child.path_for(record)
            if path is None:
                if child.fan_out is None:
                    kept.append(record)
                else:  # a parent whose children cannot be asked for is a dead letter, never a silent drop
                    orphans.append((f"no usable value for the child request {child.label}", record))
                continue
            answer = self._child_answer(child, path, params)
            if child.pages is not None:  # a child record that cannot be read is its own dead letter
                orphans += [(item.reason, item.raw) for item in answer if isinstance(item, RecordError)]
                answer = [item for item in answer if not isinstance(item, RecordError)]
            if child.fan_out is None:
                child.attach(self, record, answer)
                kept.append(record)
                continue
            context = {key: record.get(parent_key) for key, parent_key in child.fan_out.items()}
            for item in answer if isinstance(answer, list) else [answer]:
                if isinstance(item, dict):
                    kept.append({**context, **item})
                else:
                    orphans.append((f"{child.label}: a child record is {type(item).__name__}, not an object",
                                    item))
        return kept, orphans

    def _child_answer(self, child: ChildRequest, path: str, params: Mapping[str, Any]) -> Any:
        """One child answer: the decoded document, or with ``pages`` the records of all its pages
        (checked as a stream's records are: an unreadable one is a ``RecordError``)."""
        if child.pages is None:
            return self.client.get_document(path, JsonRecords("").load, params=params)[1]
        decoder = JsonRecords(child.records_path)
        paginator = child.pages.build(self)
        position: dict[str, Any] | None = paginator.start(dict(params))
        collected: list[dict[str, Any] | RecordError] = []
        while position is not None:
            where = position.get("url", path)
            response, document = self.client.get_document(where, decoder.load, params=position.get("params"))
            if document is None:  # an answer the error table IGNOREs: no (more) children
                break
            if not isinstance(dig(document, child.records_path), list):
                raise BadDataError(f"{child.label}: a child page has no '{child.records_path}' list")
            items = list(decoder.records(document))
            collected += items
            usable = sum(not isinstance(item, RecordError) for item in items)
            position = paginator.next(position, response, document, usable, served=len(items))
        return collected

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _page_of(records_path: str, records: list[dict[str, Any]]) -> bytes:
    """``records`` as a JSON page holding them at ``records_path`` ("" = a bare list)."""
    document: Any = records
    for key in reversed([part for part in records_path.split(".") if part]):
        document = {key: document}
    return json.dumps(document, ensure_ascii=False).encode()


def _storable(position: dict[str, Any]) -> dict[str, Any]:
    """The position as stored in the state: a next-page URL without the credentials a vendor put in
    it (the auth object adds them again when the sync resumes)."""
    if "url" not in position:
        return position
    return {**position, "url": redact(strip_credentials(str(position["url"])))}


def _label(position: Mapping[str, Any]) -> str:
    if "url" in position:
        from podium.sdk.http import safe_url

        return f"url={safe_url(position['url'])}"
    params = position.get("params", {})
    shown = {k: v for k, v in params.items() if k in ("offset", "page", "start", "limit", "size")}
    return " ".join(f"{k}={v}" for k, v in shown.items())
