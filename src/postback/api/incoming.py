"""The incoming log over HTTP (admin): the rules are in services/incoming.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from postback.api.auth import AdminDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep, TimeRangeDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import incoming
from postback.services.incoming import IncomingOut
from postback.services.schemas import MAX_ID, Text

IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class IncomingList(BaseModel):
    items: list[IncomingOut]
    next_cursor: str | None = None


async def list_incoming(
    ctx: ContextDep,
    caller: AdminDep,
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
    found = await incoming.list_incoming(
        ctx,
        caller,
        page,
        period,
        result=result,
        conversion_id=conversion_id,
        advertiser_id=advertiser_id,
        click_id=click_id,
    )
    return reply(IncomingList(items=found.items, next_cursor=found.next_cursor))


def build_router() -> APIRouter:
    router = new_router("incoming")
    route(router, "GET /incoming", list_incoming, IncomingList, "The incoming log (admin)")
    return router
