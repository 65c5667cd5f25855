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

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from requests.auth import AuthBase

from podium.parsing.base import RecordError
from podium.parsing.json import JsonRecords
from podium.sdk.connector import Connector, Page, StreamSpec
from podium.sdk.error_table import ErrorRule
from podium.sdk.http import HttpClient
from podium.sdk.paginators import Paginator
from podium.sdk.ratelimit import shared_limiter
from podium.secrets import redact, strip_credentials


@dataclass
class RestStream:
    """One REST resource. ``params`` builds the query for a read from the stored cursor."""

    spec: StreamSpec
    path: str | Any  # a path, or callable(connector) -> path (e.g. a date window inside the path)
    paginator: type[Paginator] | Any  # a factory: called with no arguments for every read
    params: Any = None  # callable(connector, cursor | None) -> dict; None: no filters
    cursor_value: Any = None  # callable(record) -> comparable str | None; default: record[spec.cursor]
    extra: dict[str, Any] = field(default_factory=dict)

    def path_for(self, connector: Connector) -> str:
        """The request path for a read by ``connector``."""
        return str(self.path(connector)) if callable(self.path) else str(self.path)

    def query(self, connector: Connector, cursor: Any) -> dict[str, Any]:
        """Query parameters for a read starting after ``cursor``."""
        return dict(self.params(connector, cursor)) if self.params else {}

    def cursor_of(self, record: Mapping[str, Any]) -> Any:
        """The cursor value of one raw record."""
        if self.cursor_value is not None:
            return self.cursor_value(record)
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

    def rest_stream(self, name: str) -> RestStream:
        spec = self.stream(name)
        return next(s for s in self.rest_streams if s.spec is spec)

    def check(self) -> None:
        """Read the first page of the first stream: proves base URL and credentials."""
        first = self.rest_streams[0]
        paginator = first.paginator()
        position = paginator.start(first.query(self, None))
        self.client.get(first.path_for(self), params=position["params"])

    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        rest = self.rest_stream(stream)
        decoder = rest.spec.decoder
        if not isinstance(decoder, JsonRecords):
            raise TypeError("RestConnector streams decode JSON pages (JsonRecords)")
        state = dict(state or {})
        cursor = state.get("cursor")
        max_seen = state.get("max_seen", cursor)
        paginator = rest.paginator()
        resume = state.get("resume")
        position = paginator.resume(resume) if resume else paginator.start(rest.query(self, cursor))
        path = rest.path_for(self)

        def load(body: bytes) -> tuple[Any, list[dict[str, Any] | RecordError]]:
            # The whole page or nothing: a page that cannot be read is fetched again, never skipped.
            document = decoder.load(body)
            return document, list(decoder.records(document))

        while position is not None:
            if "url" in position:
                response, loaded = self.client.get_document(position["url"], load)
            else:
                response, loaded = self.client.get_document(path, load, params=position["params"])
            # None: an answer the error table says to IGNORE, read as an empty last page.
            document, items = loaded if loaded is not None else (None, [])
            records: list[dict[str, Any]] = []
            errors: list[tuple[str, Any]] = []
            for item in items:
                if isinstance(item, RecordError):
                    errors.append((item.reason, item.raw))
                else:
                    records.append(item)
            for record in records:
                value = rest.cursor_of(record)
                if value is not None and (max_seen is None or str(value) > str(max_seen)):
                    max_seen = str(value)
            nxt = paginator.next(position, response, document, len(records)) if loaded is not None else None
            label = _label(position)
            if nxt is None:
                after: dict[str, Any] = {"cursor": max_seen} if max_seen is not None else {}
            else:
                after = {"cursor": cursor, "resume": _storable(nxt), "max_seen": max_seen}
            yield Page(records=records, state=after, raw=response.content, raw_suffix=decoder.suffix,
                       label=label, errors=errors)
            position = nxt

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


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
