"""Query parameters shared by the list endpoints: pages, cursors and time ranges (their
rules are in services/paging.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from postback.services.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PageParams,
    TimeRange,
    checked_cursor,
    period,
)


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="items per page (1..1000)")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=19, pattern=r"^[0-9]+$", description="next_cursor of the previous page"),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=checked_cursor(cursor))


PageDep = Annotated[PageParams, Depends(page_params)]


def time_range(
    start: Annotated[
        str | None,
        Query(alias="from", max_length=64, description="from this time on (ISO 8601, inclusive)"),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            alias="to",
            max_length=64,
            description="before this time (exclusive); a bare date includes that day",
        ),
    ] = None,
) -> TimeRange:
    return period(start, end)


TimeRangeDep = Annotated[TimeRange, Depends(time_range)]
