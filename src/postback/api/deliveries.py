"""Deliveries (outgoing postbacks owed) with their attempts; retry on demand.

An affiliate key sees only deliveries of its own postback configs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep, TimeRangeDep
from postback.api.postbacks import owned_postback
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.domain.records import Attempt, Delivery
from postback.errors import InvalidInput, NotFound
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.schemas import MAX_ID, Moment, RequestModel, Timestamp

DeliveryState = Literal["pending", "delivered", "failed"]
# Every delivery one conversion owes fits in one read.
MAX_PER_CONVERSION = 1000


class AttemptOut(BaseModel):
    attempt_no: int
    started_at: Timestamp
    duration_ms: int
    url: str
    method: str
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    success: bool

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            attempt_no=attempt.attempt_no,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            url=attempt.url,
            method=attempt.method,
            status_code=attempt.status_code,
            response_excerpt=attempt.response_excerpt,
            error=attempt.error,
            success=attempt.success,
        )


class DeliveryOut(BaseModel):
    id: int
    message_id: str = Field(description="the webhook-id header, stable across retries")
    conversion_id: int
    postback_id: int
    event: str
    status: str
    method: str
    url: str
    body: str | None
    content_type: str | None
    state: str
    attempt_count: int
    next_attempt_at: Timestamp | None
    last_error: str | None
    created_at: Timestamp
    updated_at: Timestamp
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery, attempts: Sequence[Attempt]) -> DeliveryOut:
        return cls(
            id=delivery.id,
            message_id=delivery.message_id,
            conversion_id=delivery.conversion_id,
            postback_id=delivery.postback_id,
            event=delivery.event,
            status=delivery.status,
            method=delivery.method,
            url=delivery.url,
            body=delivery.body,
            content_type=delivery.content_type,
            state=delivery.state,
            attempt_count=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
            attempts=[AttemptOut.of(a) for a in attempts],
        )


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


async def with_attempts(ctx: AppContext, found: Sequence[Delivery]) -> list[DeliveryOut]:
    attempts = await ctx.store.list_attempts([d.id for d in found])
    return [DeliveryOut.of(d, attempts.get(d.id, [])) for d in found]


async def deliveries_of_conversion(
    ctx: AppContext, caller: Caller, conversion_id: int
) -> list[DeliveryOut]:
    owner = caller.affiliate.id if caller.affiliate is not None else None
    page = await ctx.store.list_deliveries(
        filters={"conversion_id": conversion_id, "affiliate_id": owner}, limit=MAX_PER_CONVERSION
    )
    return await with_attempts(ctx, sorted(page.items, key=lambda d: d.id))


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
    if affiliate_id is not None and not caller.owns(affiliate_id):
        return reply(DeliveryList(items=[]))
    filters = {
        "conversion_id": conversion_id,
        "postback_id": postback_id,
        "offer_id": offer_id,
        "state": state,
        "affiliate_id": caller.affiliate.id if caller.affiliate is not None else affiliate_id,
        **period.filters(),
    }
    found = await ctx.store.list_deliveries(filters=filters, limit=page.limit, cursor=page.cursor)
    items = await with_attempts(ctx, found.items)
    return reply(DeliveryList(items=items, next_cursor=found.next_cursor))


async def _visible(ctx: AppContext, caller: Caller, delivery_id: int) -> Delivery:
    delivery = await ctx.store.get_delivery(delivery_id)
    if delivery is not None and caller.affiliate is not None:
        config = await ctx.store.get_postback(delivery.postback_id, include_deleted=True)
        if config is None or config.affiliate_id != caller.affiliate.id:
            delivery = None
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery


async def get_delivery(delivery_id: DeliveryId, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    delivery = await _visible(ctx, caller, delivery_id)
    return reply((await with_attempts(ctx, [delivery]))[0])


async def retry_delivery(
    delivery_id: DeliveryId, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    """Make the delivery due now again, whatever its state (202: it is queued, not sent)."""
    await _visible(ctx, caller, delivery_id)
    if not await ctx.store.retry_delivery(delivery_id, datetime.now(UTC)):
        raise NotFound(f"no delivery {delivery_id}")
    ctx.wake_dispatch()
    delivery = await _visible(ctx, caller, delivery_id)
    return reply((await with_attempts(ctx, [delivery]))[0], 202)


class RetryFailed(RequestModel):
    since: Moment | None = Field(
        default=None, description="only deliveries created at or after this time"
    )
    until: Moment | None = Field(
        default=None, description="only deliveries created before this time"
    )

    EXAMPLE = {"since": "2026-11-20T00:00:00Z"}


class RetriedCount(BaseModel):
    retried: int = Field(description="how many failed deliveries are due again now")


async def retry_failed(
    postback_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ctx: ContextDep,
    caller: CallerDep,
    body: Annotated[RetryFailed | None, Body()] = None,
) -> ApiResponse:
    """Every delivery of one config that gave up (optionally within a period) is due again now."""
    body = body or RetryFailed()
    if body.since is not None and body.until is not None and body.until < body.since:
        raise InvalidInput("until", "must not be before since")
    config = await owned_postback(ctx, caller, postback_id, include_deleted=True)
    count = await ctx.store.retry_failed(config.id, body.since, body.until, datetime.now(UTC))
    if count:
        ctx.wake_dispatch()
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
