"""Deliveries over HTTP, with their attempts; retry on demand. The rules (an affiliate key
sees only deliveries of its own postback configs) are in services/deliveries.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep, TimeRangeDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import deliveries
from postback.services.deliveries import DeliveryOut, DeliveryState, RetryFailed
from postback.services.schemas import MAX_ID


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class RetriedCount(BaseModel):
    retried: int = Field(description="how many failed deliveries are due again now")


DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


async def list_deliveries(
    ctx: ContextDep,
    caller: CallerDep,
    page: PageDep,
    period: TimeRangeDep,
    conversion_id: IdFilter = None,
    postback_id: IdFilter = None,
    offer_id: IdFilter = None,
    affiliate_id: IdFilter = None,
    state: DeliveryState | None = None,
) -> ApiResponse:
    """Newest first; `from`/`to` bound the time each delivery was created."""
    found = await deliveries.list_deliveries(
        ctx,
        caller,
        page,
        period,
        conversion_id=conversion_id,
        postback_id=postback_id,
        offer_id=offer_id,
        affiliate_id=affiliate_id,
        state=state,
    )
    return reply(DeliveryList(items=found.items, next_cursor=found.next_cursor))


async def get_delivery(delivery_id: DeliveryId, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    return reply(await deliveries.get_delivery(ctx, caller, delivery_id))


async def retry_delivery(
    delivery_id: DeliveryId, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    """Make the delivery due now again, whatever its state (202: it is queued, not sent)."""
    return reply(await deliveries.resend(ctx, caller, delivery_id), 202)


async def retry_failed(
    postback_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ctx: ContextDep,
    caller: CallerDep,
    body: Annotated[RetryFailed | None, Body()] = None,
) -> ApiResponse:
    """Every delivery of one config that gave up (optionally within a period) is due again now."""
    count = await deliveries.retry_failed(ctx, caller, postback_id, body)
    return reply(RetriedCount(retried=count), 202)


def build_router() -> APIRouter:
    router = new_router("deliveries")
    route(router, "GET /deliveries", list_deliveries, DeliveryList, "List deliveries")
    route(router, "GET /deliveries/{delivery_id}", get_delivery, DeliveryOut, "One delivery")
    route(
        router,
        "POST /deliveries/{delivery_id}/retry",
        retry_delivery,
        DeliveryOut,
        "Send a delivery again now",
        202,
        errors=((410, "its body was removed by retention (purged)"),),
    )
    route(
        router,
        "POST /postbacks/{postback_id}/retry",
        retry_failed,
        RetriedCount,
        "Send again everything that failed for one config",
        202,
    )
    return router
