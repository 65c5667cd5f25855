"""Paginators: positions, stopping rules, loop detection."""

from __future__ import annotations

from typing import Any

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


def test_offset_without_total_stops_on_a_short_page() -> None:
    pager = OffsetPaginator(limit=10)
    pos = pager.start({})
    nxt = pager.next(pos, None, {"data": []}, 10)
    assert nxt == {"params": {"limit": 10, "offset": 10}}
    assert pager.next(nxt, None, {"data": []}, 3) is None


def _answer(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers.update(headers)
    return response


def test_offset_reads_the_total_from_a_response_header() -> None:
    # A bare JSON array has no room for a total: the vendor sends it as a header (any case).
    pager = OffsetPaginator(limit=10, total_header="x_total_count")
    pos = pager.start({})
    pos = pager.next(pos, _answer({"X_Total_Count": "20"}), [{}] * 10, 10)
    assert pos == {"params": {"limit": 10, "offset": 10}}
    # Exactly two full pages: the total ends the paging without asking for an empty third page.
    assert pager.next(pos, _answer({"x_total_count": "20"}), [{}] * 10, 10) is None


def test_offset_with_a_total_header_reads_a_short_last_page_and_falls_back_without_the_header() -> None:
    pager = OffsetPaginator(limit=10, total_header="x_total_count")
    pos = pager.next(pager.start({}), _answer({"x_total_count": "13"}), [{}] * 10, 10)
    assert pos is not None and pager.next(pos, _answer({"x_total_count": "13"}), [{}] * 3, 3) is None
    # No header at all: the short-page rule decides, as without a total.
    fallback = OffsetPaginator(limit=10, total_header="x_total_count")
    nxt = fallback.next(fallback.start({}), _answer({}), [{}] * 10, 10)
    assert nxt == {"params": {"limit": 10, "offset": 10}}
    assert fallback.next(nxt, _answer({}), [{}] * 4, 4) is None


def test_offset_refuses_a_total_header_that_is_not_a_number() -> None:
    pager = OffsetPaginator(limit=10, total_header="x_total_count")
    with pytest.raises(BadDataError, match="x_total_count"):
        pager.next(pager.start({}), _answer({"x_total_count": "veel"}), [{}] * 10, 10)


@pytest.mark.parametrize("pager", [OffsetPaginator(limit=10), PageNumberPaginator(size=10),
                                   JsonNextLinkPaginator(), CursorPaginator("next", "c")],
                         ids=lambda p: type(p).__name__)
def test_no_paginator_moves_past_an_undecodable_page(pager: Any) -> None:
    with pytest.raises(BadDataError, match="undecodable"):
        pager.next(pager.start({}), None, None, 0)


@pytest.mark.parametrize("pager,page", [
    (OffsetPaginator(limit=10, total_path="nbrofresults"), {"nbrofresults": 10**9}),
    (PageNumberPaginator(size=10, total_pages_path="pages"), {"pages": 10**9}),
    (JsonNextLinkPaginator(), None),
    (CursorPaginator("next", "c"), None),
], ids=lambda p: type(p).__name__ if not isinstance(p, dict | type(None)) else "")
def test_every_paginator_stops_after_pages_in_a_row_without_a_usable_record(pager: Any, page: Any) -> None:
    # A vendor whose total (or next link) promises more while serving nothing usable: Ticketmatic
    # contacts once paged to offset 303,550 for 600 contacts.
    position = pager.start({})
    with pytest.raises(BadDataError, match="3 pages in a row without a usable record") as caught:
        for number in range(10):
            document = page if page is not None else {"next": f"n{number}", "pagination": {"next": f"u{number}"}}
            position = pager.next(position, None, document, 0)
    assert "last position" in str(caught.value)


def test_a_usable_record_resets_the_empty_page_count() -> None:
    pager = OffsetPaginator(limit=10, total_path="n")
    position = pager.start({})
    for count in (0, 0, 1, 0, 0, 5, 0, 0):
        position = pager.next(position, None, {"n": 1000}, count)
    assert position["params"]["offset"] == 80


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
