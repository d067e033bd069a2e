"""The incoming log: every postback an advertiser sent us, accepted or refused (admin)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from postback.api.auth import AdminDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep, TimeRangeDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services.schemas import MAX_ID, Text, Timestamp

IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class IncomingOut(BaseModel):
    id: int
    received_at: Timestamp
    method: str
    ip: str | None
    query: str
    body: str | None
    http_status: int
    result: str
    message: str | None
    click_id: str | None
    conversion_id: int | None
    advertiser_id: int | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> IncomingOut:
        return cls(**{**row, "received_at": received_at(row)})


class IncomingList(BaseModel):
    items: list[IncomingOut]
    next_cursor: str | None = None


def received_at(row: Mapping[str, Any]) -> datetime:
    """The store hands log rows over as they are: times in integer microseconds (UTC)."""
    value = row["received_at"]
    if isinstance(value, datetime):
        return value
    seconds, micros = divmod(int(value), 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


async def list_incoming(
    ctx: ContextDep,
    _: AdminDep,
    page: PageDep,
    period: TimeRangeDep,
    result: Annotated[
        Text | None,
        Query(
            max_length=32,
            description="created, updated, duplicate, or an error code (bad_token, ...)",
        ),
    ] = None,
    conversion_id: IdFilter = None,
    advertiser_id: IdFilter = None,
    click_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
) -> ApiResponse:
    found = await ctx.store.list_incoming(
        result=result,
        since=period.start,
        until=period.end,
        conversion_id=conversion_id,
        advertiser_id=advertiser_id,
        click_id=click_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    items = [IncomingOut.of(row) for row in found.items]
    return reply(IncomingList(items=items, next_cursor=found.next_cursor))


def build_router() -> APIRouter:
    router = new_router("incoming")
    route(router, "GET /incoming", list_incoming, IncomingList, "The incoming log (admin)")
    return router
