"""Pages the API filters itself, and the time parameters (pure, no database)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from postback.api.paging import PageParams, filtered_page, parse_time
from postback.errors import InvalidInput
from postback.store.base import Page

IDS = list(range(50, 0, -1))  # newest first, as the store pages them


async def fetch(cursor: str | None, limit: int) -> Page:
    rest = [i for i in IDS if cursor is None or i < int(cursor)]
    items = rest[:limit]
    return Page(items, str(items[-1]) if len(rest) > limit else None)


async def walk(keep: Callable[[int], bool], limit: int, budget: int) -> tuple[list[int], int]:
    seen: list[int] = []
    cursor = None
    requests = 0
    while True:
        page = await filtered_page(
            fetch,
            keep,
            int,
            PageParams(limit=limit, cursor=cursor),
            budget=budget,
        )
        requests += 1
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            return seen, requests


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
@pytest.mark.parametrize("budget", [1, 10, 5000])
async def test_filtered_pages_visit_every_kept_item_once(limit: int, budget: int) -> None:
    seen, _ = await walk(lambda i: i % 3 == 0, limit, budget)
    assert seen == [i for i in IDS if i % 3 == 0]


async def test_filtered_page_stops_at_the_budget() -> None:
    page = await filtered_page(fetch, lambda i: False, int, PageParams(10, None), budget=1)
    assert page.items == []
    assert page.next_cursor is None  # 50 items fit in one store page
    page = await filtered_page(fetch, lambda i: i > 45, int, PageParams(2, None))
    assert page.items == [50, 49] and page.next_cursor == "49"


def test_parse_time() -> None:
    assert parse_time("2024-02-29", "from", end=False) == datetime(2024, 2, 29, tzinfo=UTC)
    assert parse_time("2024-02-29", "to", end=True) == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_time("2024-02-29T10:00:00Z", "to", end=True) == datetime(
        2024, 2, 29, 10, tzinfo=UTC
    )
    assert parse_time("2024-02-29T10:00:00 02:00", "from", end=False) == datetime(
        2024, 2, 29, 8, tzinfo=UTC
    )
    assert parse_time("2024-02-29T10:00:00", "from", end=False).utcoffset() == timedelta(0)
    assert parse_time("9999-12-31", "to", end=True).year == 9999
    for text in ["", "now", "2024-02-30", "0001-01-01T00:00:00+05:00", "1700000000"]:
        with pytest.raises(InvalidInput) as refused:
            parse_time(text, "from", end=False)
        assert refused.value.param == "from"
