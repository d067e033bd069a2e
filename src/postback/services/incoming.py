"""The incoming log: every postback an advertiser sent us, accepted or refused. The admin's
eyes only: the raw requests carry the advertiser's token and revenue."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.services.paging import PageParams, TimeRange
from postback.services.schemas import Timestamp
from postback.store.base import Page

# Incoming requests shown in one trace (a conversion rarely sees more than a few).
MAX_TOUCHES = 200


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


def received_at(row: Mapping[str, Any]) -> datetime:
    """The store hands log rows over as they are: times in integer microseconds (UTC)."""
    value = row["received_at"]
    if isinstance(value, datetime):
        return value
    seconds, micros = divmod(int(value), 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


async def list_incoming(
    ctx: AppContext,
    caller: Caller,
    page: PageParams,
    period: TimeRange,
    *,
    result: str | None = None,
    conversion_id: int | None = None,
    advertiser_id: int | None = None,
    click_id: str | None = None,
) -> Page:
    """Newest first, as views (IncomingOut); `period` bounds the time each was received."""
    admin_only(caller)
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
    return Page(items=[IncomingOut.of(row) for row in found.items], next_cursor=found.next_cursor)


async def incoming_of_conversion(
    ctx: AppContext, caller: Caller, conversion_id: int
) -> list[IncomingOut]:
    """The incoming postbacks that touched one conversion, oldest first (admin)."""
    admin_only(caller)
    touched = await ctx.store.list_incoming(conversion_id=conversion_id, limit=MAX_TOUCHES)
    return [IncomingOut.of(row) for row in reversed(touched.items)]
