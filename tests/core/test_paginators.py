"""Paginators: positions, stopping rules, loop detection."""

from __future__ import annotations

import pytest
import requests

from podium.errors import BadDataError, ConfigError
from podium.sdk.paginators import (
    CursorPaginator,
    JsonNextLinkPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    make_paginator,
)


def test_offset_stops_at_the_vendor_total() -> None:
    pager = OffsetPaginator(limit=100, total_path="nbrofresults")
    pos = pager.start({"lastupdatesince": "x"})
    assert pos == {"params": {"lastupdatesince": "x", "limit": 100, "offset": 0}}
    pos2 = pager.next(pos, None, {"nbrofresults": 250}, 100)
    assert pos2 == {"params": {"lastupdatesince": "x", "limit": 100, "offset": 100}}
    pos3 = pager.next(pos2, None, {"nbrofresults": 250}, 100)
    assert pager.next(pos3, None, {"nbrofresults": 250}, 50) is None


def test_offset_without_total_stops_on_a_short_page_and_skips_an_undecodable_one() -> None:
    pager = OffsetPaginator(limit=10)
    pos = pager.start({})
    nxt = pager.next(pos, None, None, 0)  # the page could not be decoded: advance anyway
    assert nxt == {"params": {"limit": 10, "offset": 10}}
    assert pager.next(nxt, None, {"data": []}, 3) is None


def test_page_number() -> None:
    pager = PageNumberPaginator(size=2, total_pages_path="pages")
    pos = pager.start({})
    pos = pager.next(pos, None, {"pages": 2}, 2)
    assert pos == {"params": {"page": 2, "size": 2}}
    assert pager.next(pos, None, {"pages": 2}, 2) is None


def test_next_link_and_loop_detection() -> None:
    pager = JsonNextLinkPaginator("pagination.next")
    pos = pager.start({})
    pos = pager.next(pos, None, {"pagination": {"next": "http://v/api?page=2"}}, 1)
    assert pos == {"url": "http://v/api?page=2"}
    with pytest.raises(BadDataError, match="loop"):
        pager.next(pos, None, {"pagination": {"next": "http://v/api?page=2"}}, 1)
    assert JsonNextLinkPaginator().next({"url": "a"}, None, {"pagination": {}}, 1) is None


def test_link_header() -> None:
    response = requests.Response()
    response.headers["Link"] = '<https://api.x/items?page=3>; rel="next", <https://api.x/items?page=1>; rel="first"'
    pager = LinkHeaderPaginator()
    assert pager.next(pager.start({}), response, None, 1) == {"url": "https://api.x/items?page=3"}


def test_cursor_token() -> None:
    pager = CursorPaginator("meta.next_cursor", "cursor")
    pos = pager.next(pager.start({"q": 1}), None, {"meta": {"next_cursor": "abc"}}, 5)
    assert pos == {"params": {"q": 1, "cursor": "abc"}}
    assert pager.next(pos, None, {"meta": {}}, 5) is None


def test_registry_lists_known_names() -> None:
    with pytest.raises(ConfigError, match="known: cursor, link_header, next_link, offset, page_number"):
        make_paginator("scroll")
