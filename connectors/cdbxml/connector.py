"""CdbXML 3.3 connector: UiTdatabank events from publiq's legacy Search API v1 ``xmlview``, or a local feed.

Over HTTP it reads ``{base_url}/api/events/xmlview?key=…&changedsince=…&page=…&pagelength=…``
(the Search API v1 list method meant for database synchronisation) page by page; ``changedsince``
has minute precision (``2010-01-19T20.00``), so records at or before the stored cursor are dropped
here. With ``feed_path`` it streams a CdbXML file (or every ``*.xml`` of a folder) from disk:
the file object goes straight to lxml ``iterparse``, records are handed on in batches, and a
large file is never held in memory (``Page.raw`` is None for files over ``raw_max_bytes``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from connectors.cdbxml.decoder import CdbXmlRecords
from connectors.cdbxml.feed import NS_32, NS_33
from podium.errors import AuthError, BadDataError, ConfigError
from podium.parsing import RecordError
from podium.sdk.auth import ApiKeyQueryAuth
from podium.sdk.connector import Connector, Page, StreamSpec
from podium.sdk.cursors import LOCAL_DATETIME
from podium.sdk.http import HttpClient
from podium.sdk.paginators import Paginator
from podium.sdk.ratelimit import shared_limiter
from podium.secrets import safe_text

log = logging.getLogger("podium.connectors.cdbxml")

XMLVIEW_PATH = "api/events/xmlview"
DEFAULT_PAGE_LENGTH = 50  # the Search API v1 default
DEFAULT_BATCH = 500
BRUSSELS = ZoneInfo("Europe/Brussels")
RAW_MAX_BYTES = 16 * 1024 * 1024

# Un-namespaced documents are accepted too: cultuurnet/Cdb's own 3.2 actor sample has none.
# ``nofrecords`` (an xmlview page's total) is read by the sync and is no record of a served document.
DECODER = CdbXmlRecords(tags=("event", "actor", "production", "item", "nofrecords"), namespaces=(NS_33, NS_32, ""),
                        page_info_tags=("nofrecords",))


def cursor_of(record: Mapping[str, Any], timezone: ZoneInfo) -> str | None:
    """The change time of a raw record (CdbXML writes naive Europe/Brussels wall-clock time)."""
    return LOCAL_DATETIME.normalise(record.get("@lastupdated") or record.get("@modifiedon"), timezone)


def local_cursor(value: Any, timezone: ZoneInfo) -> str | None:
    """A stored cursor as CdbXML local time ``YYYY-MM-DDTHH:MM:SS`` (an aware one is converted)."""
    return None if value in (None, "") else LOCAL_DATETIME.request_value(value, timezone)


def changedsince(cursor: str, timezone: ZoneInfo = BRUSSELS) -> str:
    """The Search API v1 ``changedsince`` form: ``2010-01-19T20.00`` (':' is reserved in URIs, say the docs)."""
    return LOCAL_DATETIME.request_value(cursor, timezone, "%Y-%m-%dT%H.%M")


def _refusal(content: bytes) -> str | None:
    head = content[:512].lstrip()
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2:].lstrip()
    if head.startswith(b"<rsp") and b"ERROR" in head.upper():
        return safe_text(content.decode("utf-8", "replace"), 300).strip()
    return None


def _load_page(content: bytes) -> tuple[str | None, list[dict[str, Any] | RecordError]]:
    """An error envelope's text, or the page's items; a page cut short raises BadDataError (fetched again)."""
    refusal = _refusal(content)
    if refusal is not None:
        return refusal, []
    return None, list(DECODER.decode(content))


class CdbXmlConnector(Connector):
    """UiTdatabank CdbXML 3.3 events: Search API v1 ``xmlview`` with ``key``, or a local feed."""

    name = "cdbxml"
    sandbox = "connectors.cdbxml.sandbox:CdbXmlSandbox"
    version = "0.1.0"
    title = "UiTdatabank CdbXML 3.3 (legacy UiT feed)"
    requests_per_second = 5.0

    # Orchestration (see podium.sdk.Connector): a daily feed, gently.
    auth_kind = "api_key"
    default_schedule = "0 5 * * *"
    pool_slots = 2
    default_owner = "podium-publication"
    example_share = {"cultuurcentrum": 0.3, "gemeenschapscentrum": 0.2, "kunstenorganisatie": 0.15}

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        return {"base_url": "https://www.uitid.be/uitid/rest/searchv2", "organiser": name}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        from connectors.cdbxml.sandbox import DEFAULT_API_KEY

        return {"password": DEFAULT_API_KEY}
    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "UiTdatabank CdbXML 3.3",
        "type": "object",
        "anyOf": [{"required": ["base_url", "api_key"]}, {"required": ["feed_path"]}],
        "properties": {
            "base_url": {"type": "string", "format": "uri", "pattern": "^https?://",
                         "description": "Search API v1 root; events are read from {base_url}/api/events/xmlview"},
            "api_key": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "password",
                        "description": "The Search API key (sent as the documented 'key' query parameter)"},
            "q": {"type": "string", "description": "Search API 'q' free-text filter"},
            "organiser": {"type": "string",
                          "description": "Search API 'organiser' filter: the house's organiser cdbid or name"},
            "location": {"type": "string", "description": "Search API 'location' filter: a venue cdbid or name"},
            "page_length": {"type": "integer", "minimum": 1, "maximum": 1000, "default": DEFAULT_PAGE_LENGTH},
            "feed_path": {"type": "string", "format": "local-path",
                          "description": "A local CdbXML file, or a folder of *.xml files, read instead of HTTP; "
                                         "under the house's data root (relative paths start there)"},
            "batch_size": {"type": "integer", "minimum": 1, "default": DEFAULT_BATCH,
                           "description": "Records per page when streaming a local feed"},
            "raw_max_bytes": {"type": "integer", "minimum": 0, "default": RAW_MAX_BYTES,
                              "description": "Local files up to this size are archived raw; larger ones are not"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
    }
    streams = (StreamSpec("events", "event", "@cdbid", DECODER, cursor="@lastupdated",
                          description="CdbXML <event>s, one canonical event per dated occurrence"),)

    def __init__(self, config: Mapping[str, Any], context: Any) -> None:
        super().__init__(config, context)
        self._client: HttpClient | None = None


    # -- transport -------------------------------------------------------------------------------
    def _feed_path(self) -> Path | None:
        value = self.config.get("feed_path")
        if not value:
            if not self.config.get("base_url") or not self.config.get("api_key"):
                raise ConfigError("cdbxml: set base_url + api_key (HTTP feed) or feed_path (local feed)")
            return None
        path = self._inside(value)
        if not path.exists():
            raise ConfigError(f"cdbxml: feed_path {path} does not exist")
        return path

    def _inside(self, value: str | Path) -> Path:
        """A local path of the feed, refused when it leaves the house's data root (a symlink out included)."""
        boundary = self.context.boundary
        if boundary is None:
            return Path(str(value)).expanduser()
        return boundary.local_path(value, key=f"connectors.{self.name}.settings.feed_path")

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            base = str(self.config["base_url"])
            rate = float(self.config.get("requests_per_second") or self.requests_per_second)
            self._client = HttpClient(base, auth=ApiKeyQueryAuth(str(self.config["api_key"]), param="key"),
                                      rate_limiter=shared_limiter(f"{self.name}:{base}", rate),
                                      timeout=self.timeouts, retry=self.retry_policy())
        return self._client

    def _filters(self) -> dict[str, Any]:
        return {k: self.config[k] for k in ("q", "organiser", "location") if self.config.get(k)}

    def _get(self, params: dict[str, Any]) -> tuple[bytes, list[dict[str, Any] | RecordError]]:
        """One xmlview page and its decoded items; a page that cannot be read whole is fetched again."""
        response, (refusal, items) = self.client.get_document(XMLVIEW_PATH, _load_page, params=params)
        if refusal is not None:  # an error envelope served with 200
            if "Unauthorized" in refusal or "Authentication" in refusal:
                raise AuthError(f"GET {XMLVIEW_PATH}: the Search API refused the key — vendor said: {refusal}")
            raise BadDataError(f"GET {XMLVIEW_PATH}: the Search API answered an error — vendor said: {refusal}")
        return response.content, items

    def check(self) -> None:
        """A local feed must be readable; over HTTP, the first one-record page proves URL and key."""
        path = self._feed_path()
        if path is not None:
            if path.is_dir() and not any(path.glob("*.xml")):
                raise ConfigError(f"cdbxml: feed_path {path} holds no *.xml files")
            return
        self._get({**self._filters(), "page": 1, "pagelength": 1})

    # -- reading ---------------------------------------------------------------------------------
    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        self.stream(stream)
        state = dict(state or {})
        path = self._feed_path()
        if path is None:
            yield from self._read_http(state)
        else:
            yield from self._read_files(path, state)

    def _sort(self, item: dict[str, Any] | RecordError, cursor: str | None, records: list[dict[str, Any]],
              errors: list[tuple[str, Any]]) -> str | None:
        """File one decoded item as a record or an error; one at or before the cursor is dropped."""
        if isinstance(item, RecordError):
            errors.append((item.reason, item.raw))
            return None
        seen = cursor_of(item, self.context.timezone)
        if cursor is not None and seen is not None and seen <= cursor:
            return None
        records.append(item)
        return seen

    def _read_http(self, state: dict[str, Any]) -> Iterator[Page]:
        cursor = local_cursor(state.get("cursor"), self.context.timezone)
        max_seen = local_cursor(state.get("max_seen"), self.context.timezone) or cursor
        length = int(self.config.get("page_length") or DEFAULT_PAGE_LENGTH)
        page = int((state.get("resume") or {}).get("page", 1))
        unusable_in_a_row = 0
        while True:
            params: dict[str, Any] = {**self._filters(), "page": page, "pagelength": length}
            if cursor:
                params["changedsince"] = changedsince(cursor, self.context.timezone)
            content, items = self._get(params)
            records: list[dict[str, Any]] = []
            errors: list[tuple[str, Any]] = []
            served = 0  # records on the page before the cursor filter
            total: int | None = None
            for item in items:
                if not isinstance(item, RecordError) and item.get("@_tag") == "nofrecords":
                    total = int(str(item.get("#text") or "0").strip() or 0)
                    continue
                served += 1
                seen = self._sort(item, cursor, records, errors)
                if seen is not None and (max_seen is None or seen > max_seen):
                    max_seen = seen
            more = (page * length < total) if total is not None else served >= length
            if not served and not errors:  # an empty page ends the read even if nofrecords says more
                more = False
            unusable_in_a_row = unusable_in_a_row + 1 if more and served == len(errors) else 0
            if unusable_in_a_row >= Paginator.max_empty_pages:
                raise BadDataError(f"GET {XMLVIEW_PATH}: {unusable_in_a_row} pages in a row without a usable "
                                   f"record (last: page={page}): stopped instead of paging on forever")
            after: dict[str, Any]
            if more:
                after = {"cursor": cursor, "resume": {"page": page + 1}, "max_seen": max_seen}
            else:
                after = {"cursor": max_seen} if max_seen else {}
            yield Page(records=records, state=after, raw=content, raw_suffix="xml", label=f"page={page}",
                       errors=errors)
            if not more:
                return
            page += 1

    def _read_files(self, root: Path, state: dict[str, Any]) -> Iterator[Page]:
        files = sorted(root.glob("*.xml")) if root.is_dir() else [root]
        for path in files:
            self._inside(path)
        cursor = local_cursor(state.get("cursor"), self.context.timezone)
        max_seen = local_cursor(state.get("max_seen"), self.context.timezone) or cursor
        resume = state.get("resume") or {}
        batch = int(self.config.get("batch_size") or DEFAULT_BATCH)
        raw_limit = int(self.config.get("raw_max_bytes", RAW_MAX_BYTES))
        if resume.get("file"):
            files = [f for f in files if f.name >= str(resume["file"])]
        if not files:
            yield Page(records=[], state={"cursor": max_seen} if max_seen else {}, raw=None, raw_suffix="xml",
                       label=f"file={root.name} (no *.xml)")
            return
        for index, path in enumerate(files):
            last_file = index == len(files) - 1
            skip = int(resume.get("skip", 0)) if path.name == resume.get("file") else 0
            raw = path.read_bytes() if path.stat().st_size <= raw_limit and not skip else None
            position = 0
            records: list[dict[str, Any]] = []
            errors: list[tuple[str, Any]] = []
            with path.open("rb") as handle:
                items = DECODER.decode(handle)
                try:
                    for item in items:
                        if not isinstance(item, RecordError) and item.get("@_tag") == "nofrecords":
                            continue
                        position += 1
                        if position <= skip:
                            continue
                        seen = self._sort(item, cursor, records, errors)
                        if seen is not None and (max_seen is None or seen > max_seen):
                            max_seen = seen
                        if len(records) + len(errors) >= batch:
                            yield Page(records=records, errors=errors, raw=raw, raw_suffix="xml",
                                       label=f"file={path.name} records={position}",
                                       state={"cursor": cursor, "max_seen": max_seen,
                                              "resume": {"file": path.name, "skip": position}})
                            records, errors, raw = [], [], None
                except BadDataError as exc:
                    errors.append((f"{path.name}: {exc}", None))
            if last_file:
                final: dict[str, Any] = {"cursor": max_seen} if max_seen else {}
            else:
                final = {"cursor": cursor, "max_seen": max_seen, "resume": {"file": files[index + 1].name, "skip": 0}}
            yield Page(records=records, errors=errors, raw=raw, raw_suffix="xml",
                       label=f"file={path.name} records={position}", state=final)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
