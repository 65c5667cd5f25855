"""Paginators: positions, stopping rules, loop detection."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from podium.errors import BadDataError, ConfigError
from podium.sdk.paginators import (
    CursorPaginator,
    DateWindowPaginator,
    JsonNextLinkPaginator,
    KeysetOffsetPaginator,
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
    with pytest.raises(ConfigError, match="known: cursor, date_windows, keyset_offset, link_header, next_link, offset, page_number"):
        make_paginator("scroll")


def test_date_windows_follow_next_inside_a_window_and_open_the_next_until_today() -> None:
    """A null next link ends a window, not the data: windows follow each other without a gap until one
    reaches past ``until``; empty windows (quiet months) are no paging fault."""
    pager = DateWindowPaginator(from_param="SoldFrom", to_param="SoldTo", until="2026-02-11", days=31,
                                next_path="Next")
    pos = pager.start({"pageSize": 500, "SoldFrom": "2025-11-01"})
    assert pos == {"params": {"pageSize": 500, "SoldFrom": "2025-11-01", "SoldTo": "2025-12-02"}}
    inside = pager.next(pos, None, {"Data": [{}], "Next": "http://x/sales?page=2"}, 1)
    assert inside == {"url": "http://x/sales?page=2", "params": pos["params"]}
    windows = [pager.next(inside, None, {"Data": [], "Next": None}, 0)]
    while windows[-1] is not None:
        windows.append(pager.next(windows[-1], None, {"Data": [], "Next": None}, 0))
    assert [w["params"]["SoldFrom"] for w in windows[:-1]] == ["2025-12-02", "2026-01-02", "2026-02-02"]
    assert windows[-2]["params"]["SoldTo"] == "2026-03-05"  # the last window holds today


def test_date_windows_need_a_first_day_and_keep_the_empty_page_guard_inside_a_window() -> None:
    pager = DateWindowPaginator(from_param="from", to_param="to", until="2026-02-11")
    with pytest.raises(ConfigError):
        pager.start({})
    pos = pager.start({"from": "2026-01-01"})
    with pytest.raises(BadDataError):
        for n in range(5):
            pos = pager.next(pos, None, {"next": f"http://x/?p={n}"}, 0)
    assert make_paginator("date_windows", from_param="a", to_param="b", until="2026-01-01").days == 31


def _changing_vendor(records: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """A vendor sorted ascending on ``t`` with an inclusive lower bound ``since``, offset/limit paging."""
    matches = sorted((r for r in records if r["t"] >= int(params.get("since", 0))), key=lambda r: (r["t"], r["id"]))
    offset, limit = int(params["offset"]), int(params["limit"])
    return {"items": [dict(r) for r in matches[offset:offset + limit]], "total": len(matches)}


def _read_while_one_record_changes(pager: Any) -> set[int]:
    records = [{"id": n, "t": n // 2} for n in range(10)]  # ties: two records per value
    position: dict[str, Any] | None = pager.start({})
    seen: set[int] = set()
    first = True
    while position is not None:
        page = _changing_vendor(records, position["params"])
        seen.update(r["id"] for r in page["items"])
        if first:  # a record already read changes: it jumps to the end of the sort, the rest shift left
            records[0]["t"] = 99
            first = False
        position = pager.next(position, None, page, len(page["items"]))
    return seen


def test_keyset_paging_reads_every_record_while_records_change_and_offset_paging_does_not() -> None:
    keyset = KeysetOffsetPaginator(3, bound_param="since", records_path="items", cursor_path="t",
                                   total_path="total")
    assert _read_while_one_record_changes(keyset) == set(range(10))
    offset = OffsetPaginator(3, total_path="total")
    assert _read_while_one_record_changes(offset) != set(range(10)), "control: offset paging skips one"


def test_keyset_paging_walks_ties_longer_than_a_page_and_refuses_an_unsorted_answer() -> None:
    records = [{"id": n, "t": 5} for n in range(7)] + [{"id": 7, "t": 6}]
    pager = KeysetOffsetPaginator(3, bound_param="since", records_path="items", cursor_path="t", total_path="total")
    position: dict[str, Any] | None = pager.start({})
    seen: list[int] = []
    while position is not None:
        page = _changing_vendor(records, position["params"])
        seen.extend(r["id"] for r in page["items"])
        position = pager.next(position, None, page, len(page["items"]))
    assert seen == list(range(8))
    unsorted = {"items": [{"t": 3}, {"t": 1}, {"t": 2}], "total": 9}
    with pytest.raises(BadDataError, match="not sorted"):
        KeysetOffsetPaginator(3, bound_param="since", records_path="items", cursor_path="t",
                              total_path="total").next({"params": {"offset": 0, "limit": 3}}, None, unsorted, 3)
