"""Conversions over HTTP with their status history and deliveries: the rules (affiliates:
own ones, no revenue) are in services/conversions.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep, TimeRangeDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import conversions
from postback.services.conversions import (
    AffiliateConversionDetail,
    ConversionBase,
    ConversionDetail,
    ConversionOut,
    StatusFilter,
)
from postback.services.schemas import MAX_ID, Text

IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class ConversionList(BaseModel):
    items: list[ConversionOut] | list[ConversionBase]
    next_cursor: str | None = None


ConversionId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def list_conversions(
    ctx: ContextDep,
    caller: CallerDep,
    page: PageDep,
    period: TimeRangeDep,
    offer_id: IdFilter = None,
    affiliate_id: IdFilter = None,
    status: StatusFilter | None = None,
    event: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
    click_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    txid: Annotated[Text | None, Query(min_length=1, max_length=255)] = None,
) -> ApiResponse:
    found = await conversions.list_conversions(
        ctx,
        caller,
        page,
        period,
        offer_id=offer_id,
        affiliate_id=affiliate_id,
        status=status,
        event=event,
        click_id=click_id,
        txid=txid,
    )
    return reply({"items": found.items, "next_cursor": found.next_cursor})


async def get_conversion(
    conversion_id: ConversionId, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    return reply(await conversions.trace(ctx, caller, conversion_id))


def build_router() -> APIRouter:
    router = new_router("conversions")
    route(router, "GET /conversions", list_conversions, ConversionList, "List conversions")
    route(
        router,
        "GET /conversions/{conversion_id}",
        get_conversion,
        ConversionDetail | AffiliateConversionDetail,
        "One conversion with its status history and deliveries",
    )
    return router
