"""Paginators: how to get from one page to the next.

A position is plain JSON (``{"params": {...}}`` or ``{"url": ...}``) so that it can be stored in
the sync state and a killed sync resumes on the exact page. Each paginator has two methods:
``start`` (the first position) and ``next`` (the following one, or None). The base class guards
every kind against two ways of paging forever: a vendor that serves the same next position twice,
and ``max_empty_pages`` pages in a row without one usable record while the paging still says "more"
(a lying total, a broken filter). Both fail the stream with the position instead of spinning.

A paginator never moves past a page it could not read: ``document`` is the decoded page, and an
undecodable page is the transport's to fetch again or fail (``HttpClient.get_document``), so the
offset kinds refuse ``None`` rather than skip it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import requests

from podium.errors import BadDataError, ConfigError
from podium.parsing.json import dig

Position = dict[str, Any]


class Paginator:
    """Base paginator with loop detection and a bound on pages in a row without a usable record."""

    max_empty_pages = 3

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._empty_in_a_row = 0

    def start(self, params: dict[str, Any]) -> Position:
        """The first position for a read with these query parameters."""
        return self._remember({"params": dict(params)})

    def next(self, position: Position, response: requests.Response | None, document: Any,
             record_count: int, served: int | None = None) -> Position | None:
        """The position after ``position`` (None: that was the last page).

        ``record_count`` counts the usable records, ``served`` every item the page held (records that
        could not be read included; default ``record_count``): a full page with a bad record is still
        full, so it does not end the paging, but a page without one usable record counts as empty.
        """
        nxt = self._next(position, response, document, record_count if served is None else served)
        if nxt is None:
            return None
        self._empty_in_a_row = self._empty_in_a_row + 1 if record_count == 0 else 0
        if self._empty_in_a_row >= self.max_empty_pages:
            where = json.dumps(position, sort_keys=True, default=str)
            raise BadDataError(f"{self._empty_in_a_row} pages in a row without a usable record while the "
                               f"vendor's paging says there is more (last position {where}): stopped "
                               "instead of paging on forever")
        return self._remember(nxt)

    def resume(self, position: Position) -> Position:
        """Continue from a stored position."""
        return self._remember(position)

    def total(self, response: requests.Response | None, document: Any) -> int | None:
        """How many records the whole read holds, when the vendor says (for progress only; None: unknown)."""
        return None

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        raise NotImplementedError

    def _remember(self, position: Position) -> Position:
        key = json.dumps(position, sort_keys=True, default=str)
        if key in self._seen:
            raise BadDataError(f"pagination loop: the vendor served position {key} twice")
        self._seen.add(key)
        return position


class OffsetPaginator(Paginator):
    """``limit``/``offset`` paging; stops at the vendor's total when it gives one, else on a short page.

    The total is read from the body at ``total_path``, or from the response header ``total_header``
    (vendors that serve a bare JSON array and put the count in a header such as ``X-Total-Count``).
    """

    def __init__(self, limit: int = 100, *, limit_param: str = "limit", offset_param: str = "offset",
                 total_path: str | None = None, total_header: str | None = None) -> None:
        super().__init__()
        self.limit, self.limit_param, self.offset_param, self.total_path = limit, limit_param, offset_param, total_path
        self.total_header = total_header

    def _total(self, response: requests.Response | None, document: Any) -> int | None:
        """The vendor's total; a header that is there but not a number is bad data, not "no total"."""
        if self.total_header is not None:
            raw = response.headers.get(self.total_header) if response is not None else None
            if raw is None:
                return None
            try:
                return int(str(raw).strip())
            except ValueError:
                raise BadDataError(f"total header {self.total_header}: {raw!r} is not a number") from None
        total = dig(document, self.total_path) if self.total_path else None
        return None if total is None else int(total)

    def start(self, params: dict[str, Any]) -> Position:
        return super().start({**params, self.limit_param: self.limit, self.offset_param: 0})

    def total(self, response: requests.Response | None, document: Any) -> int | None:
        try:
            return self._total(response, document) if document is not None else None
        except (BadDataError, TypeError, ValueError):
            return None  # paging itself reports a broken total; progress just shows none

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        if document is None:
            raise BadDataError("undecodable page: the stream stops here rather than skip its records")
        params = position["params"]
        offset = int(params.get(self.offset_param, 0)) + int(params.get(self.limit_param, self.limit))
        total = self._total(response, document)
        if total is not None:
            if offset >= total:
                return None
        elif record_count < int(params.get(self.limit_param, self.limit)):
            return None
        return {"params": {**params, self.offset_param: offset}}


class WindowedOffsetPaginator(OffsetPaginator):
    """Offset paging under a result window, sorted ascending on a cursor field.

    Search engines cap ``offset + limit`` (Elasticsearch's ``max_result_window``, often
    10,000). Before a page would cross ``window`` the read restarts at offset 0 with the lower-bound
    filter ``bound_param`` set to the last cursor value seen. The bound is inclusive, so the restart
    skips the records with that value already read (``tail`` in the position) and no record is lost
    or served twice, as long as ties keep their order. The position stays plain JSON for resume.
    """

    def __init__(self, limit: int = 100, *, window: int = 10_000, bound_param: str, records_path: str,
                 cursor_path: str, cursor_key: Callable[[Any], str] | None = None,
                 limit_param: str = "limit", offset_param: str = "offset",
                 total_path: str | None = None) -> None:
        super().__init__(limit, limit_param=limit_param, offset_param=offset_param, total_path=total_path)
        if limit > window:
            raise ConfigError(f"page size {limit} is larger than the result window {window}")
        self.window, self.bound_param = window, bound_param
        self.records_path, self.cursor_path = records_path, cursor_path
        self.cursor_key = cursor_key or str

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        tail = self._tail(position.get("tail"), document)
        nxt = super()._next(position, response, document, record_count)
        if nxt is None:
            return None
        params = nxt["params"]
        offset, limit = int(params[self.offset_param]), int(params.get(self.limit_param, self.limit))
        if offset + limit <= self.window:
            return {**nxt, "tail": tail}
        if tail is None:
            raise BadDataError(f"result window of {self.window} reached without a '{self.cursor_path}' "
                               "value to move the lower bound to")
        if tail.get("unsorted"):
            raise BadDataError(f"results are not sorted ascending on '{self.cursor_path}': the result "
                               "window cannot be moved without losing records")
        if tail["count"] + limit > self.window:
            raise BadDataError(f"more than {self.window - limit} records share {self.cursor_path}="
                               f"{tail['value']}: the result window cannot move past them")
        moved = {**params, self.bound_param: tail["value"], self.offset_param: tail["count"]}
        return {"params": moved, "tail": tail}

    def _tail(self, tail: dict[str, Any] | None, document: Any) -> dict[str, Any] | None:
        """The last cursor value read and how many records in a row carried it."""
        items = dig(document, self.records_path) if document is not None else None
        tail = dict(tail) if tail else None
        for item in items if isinstance(items, list) else []:
            raw = dig(item, self.cursor_path) if isinstance(item, dict) else None
            try:
                value = self.cursor_key(raw) if raw is not None else None
            except (TypeError, ValueError):
                value = None  # an unreadable cursor is the mapping's problem, not the paging's
            if value is None:
                continue
            if tail is not None and value == tail["value"]:
                tail["count"] += 1
                continue
            unsorted = bool(tail and (tail.get("unsorted") or value < tail["value"]))
            tail = {"value": value, "count": 1, **({"unsorted": True} if unsorted else {})}
        return tail


class KeysetOffsetPaginator(WindowedOffsetPaginator):
    """Offset paging sorted ascending on a cursor field that moves the lower bound after every page.

    Offsets shift when records change during a read (a changed record jumps to the end of an
    ascending change sort, so the next page would skip one). Restarting each page from the last
    cursor value read (``bound_param``, inclusive, skipping the ``tail`` already read with that value)
    makes the read immune to that; ties longer than a page are walked by offset inside the bound.
    ``cursor_key`` may render the bound as the vendor's filter needs it (e.g. one second earlier for an
    exclusive "changed after" filter), as long as it keeps the order.
    """

    def __init__(self, limit: int = 100, *, bound_param: str, records_path: str, cursor_path: str,
                 cursor_key: Callable[[Any], str] | None = None, limit_param: str = "limit",
                 offset_param: str = "offset", total_path: str | None = None) -> None:
        super().__init__(limit, window=limit, bound_param=bound_param, records_path=records_path,
                         cursor_path=cursor_path, cursor_key=cursor_key, limit_param=limit_param,
                         offset_param=offset_param, total_path=total_path)

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        tail = self._tail(position.get("tail"), document)
        if OffsetPaginator._next(self, position, response, document, record_count) is None:
            return None
        if tail is None:
            raise BadDataError(f"a full page without a '{self.cursor_path}' value: the lower bound cannot move")
        if tail.get("unsorted"):
            raise BadDataError(f"results are not sorted ascending on '{self.cursor_path}': paging by the lower "
                               "bound would lose records")
        moved = {**position["params"], self.bound_param: tail["value"], self.offset_param: tail["count"]}
        return {"params": moved, "tail": tail}


class PageNumberPaginator(Paginator):
    """``page``/``size`` paging, from ``first_page``; stops at ``total_pages_path`` or on a short page."""

    def __init__(self, size: int = 100, *, page_param: str = "page", size_param: str = "size",
                 first_page: int = 1, total_pages_path: str | None = None) -> None:
        super().__init__()
        self.size, self.page_param, self.size_param = size, page_param, size_param
        self.first_page, self.total_pages_path = first_page, total_pages_path

    def start(self, params: dict[str, Any]) -> Position:
        return super().start({**params, self.page_param: self.first_page, self.size_param: self.size})

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        if document is None:
            raise BadDataError("undecodable page: the stream stops here rather than skip its records")
        params = position["params"]
        page = int(params[self.page_param])
        total_pages = dig(document, self.total_pages_path) if self.total_pages_path else None
        if total_pages is not None and page - self.first_page + 1 >= int(total_pages):
            return None
        if total_pages is None and record_count < int(params[self.size_param]):
            return None
        return {"params": {**params, self.page_param: page + 1}}


class JsonNextLinkPaginator(Paginator):
    """The body carries the next page's URL at ``next_path`` (e.g. ``pagination.next``)."""

    def __init__(self, next_path: str = "pagination.next") -> None:
        super().__init__()
        self.next_path = next_path

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        if document is None:
            raise BadDataError("undecodable page: the next-page link cannot be read, the stream stops here")
        url = dig(document, self.next_path)
        return {"url": str(url)} if url else None


class LinkHeaderPaginator(Paginator):
    """RFC 8288 ``Link: <…>; rel="next"`` header (GitHub style)."""

    def __init__(self, rel: str = "next") -> None:
        super().__init__()
        self.rel = rel

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        if response is None:
            return None
        link = response.links.get(self.rel)
        return {"url": link["url"]} if link and link.get("url") else None


class CursorPaginator(Paginator):
    """An opaque token in the body (``token_path``) sent back as query parameter ``param``."""

    def __init__(self, token_path: str, param: str) -> None:
        super().__init__()
        self.token_path, self.param = token_path, param

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        if document is None:
            raise BadDataError("undecodable page: the cursor token cannot be read, the stream stops here")
        token = dig(document, self.token_path)
        if not token:
            return None
        return {"params": {**position.get("params", {}), self.param: token}}


class DateWindowPaginator(Paginator):
    """Next-link paging inside date windows, where the link ends a *window*, not the data.

    Some vendors serve a list only for a bounded period (``from_param``/``to_param``) and page inside
    it by a next link (``next_path``). At a window's last page the next window ``[to, to + days)`` is
    opened, until a window reaches past ``until`` (today): a read that stopped at the first missing
    link would silently miss every later window. The position keeps the window, so a resumed read
    continues in it. An empty window is a quiet period, not a broken filter: opening the next window
    does not count towards the empty-page guard.
    """

    def __init__(self, *, from_param: str, to_param: str, until: date | str, days: int = 31,
                 next_path: str = "next", date_format: str = "%Y-%m-%d") -> None:
        super().__init__()
        if int(days) < 1:
            raise ConfigError(f"a date window needs at least one day, not {days}")
        self.from_param, self.to_param, self.next_path = from_param, to_param, next_path
        self.until, self.days, self.date_format = _day(until, "until"), int(days), date_format

    def start(self, params: dict[str, Any]) -> Position:
        if params.get(self.from_param) in (None, ""):
            raise ConfigError(f"a date-window read needs a first '{self.from_param}' day")
        return self._remember(self._window(params, _day(params[self.from_param], self.from_param)))

    def next(self, position: Position, response: requests.Response | None, document: Any,
             record_count: int, served: int | None = None) -> Position | None:
        nxt = super().next(position, response, document, record_count, served)
        if nxt is not None and "url" not in nxt:
            self._empty_in_a_row = 0  # a new window: quiet months before it are no paging fault
        return nxt

    def _next(self, position: Position, response: requests.Response | None, document: Any,
              record_count: int) -> Position | None:
        if document is None:
            raise BadDataError("undecodable page: the next-page link cannot be read, the stream stops here")
        params = position["params"]
        url = dig(document, self.next_path)
        if url:
            return {"url": str(url), "params": params}
        window_end = _day(params[self.to_param], self.to_param)
        if window_end > self.until:
            return None
        return self._window(params, window_end)

    def _window(self, params: dict[str, Any], first: date) -> Position:
        last = first + timedelta(days=self.days)
        return {"params": {**params, self.from_param: first.strftime(self.date_format),
                           self.to_param: last.strftime(self.date_format)}}


def _day(value: Any, name: str) -> date:
    """A day from a date, or the date part of ``YYYY-MM-DD[Thh:mm:ss]`` text; else a ConfigError."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a day (YYYY-MM-DD)") from None


PAGINATOR_MAP: dict[str, type[Paginator]] = {
    "offset": OffsetPaginator,
    "windowed_offset": WindowedOffsetPaginator,
    "page_number": PageNumberPaginator,
    "next_link": JsonNextLinkPaginator,
    "link_header": LinkHeaderPaginator,
    "cursor": CursorPaginator,
    "date_windows": DateWindowPaginator,
    "keyset_offset": KeysetOffsetPaginator,
}


def make_paginator(name: str, **kwargs: Any) -> Paginator:
    """Build a paginator by kind name; an unknown name lists the known ones."""
    try:
        cls = PAGINATOR_MAP[name]
    except KeyError:
        raise ConfigError(f"unknown paginator '{name}' (known: {', '.join(sorted(PAGINATOR_MAP))})") from None
    return cls(**kwargs)
