"""Deliveries (outgoing postbacks owed) with their attempts; resend on demand.

An affiliate sees only deliveries of its own postback configs: any other does not exist
for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from postback.domain.records import Attempt, Delivery
from postback.errors import InvalidInput, NotFound, Purged
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.paging import PageParams, TimeRange
from postback.services.postbacks import owned_postback
from postback.services.schemas import Moment, RequestModel, record_fields, record_view
from postback.store.base import DeliveryHealth, Page

DeliveryState = Literal["pending", "delivered", "failed"]
# Every delivery one conversion owes fits in one read.
MAX_PER_CONVERSION = 1000


@record_view(
    Attempt,
    include=(
        "attempt_no",
        "started_at",
        "duration_ms",
        "url",
        "method",
        "status_code",
        "response_excerpt",
        "error",
        "success",
    ),
)
class AttemptOut(BaseModel):
    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls.model_validate(record_fields(attempt))


# The record's `attempts` (a count) shows as `attempt_count`; `attempts` lists them.
@record_view(
    Delivery,
    include=(
        "id",
        "message_id",
        "conversion_id",
        "postback_id",
        "event",
        "status",
        "method",
        "url",
        "body",
        "body_purged_at",
        "content_type",
        "state",
        "attempt_count",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
        "attempts",
    ),
    extra={"attempt_count": int, "attempts": list[AttemptOut]},
    info={
        "message_id": Field(description="the webhook-id header, stable across retries"),
        "body_purged_at": Field(
            description="when retention removed the body of this delivered postback (null: kept)"
        ),
    },
)
class DeliveryOut(BaseModel):
    if TYPE_CHECKING:
        # A field from the record; named for the type checker, which reads callers'
        # `delivery.conversion_id` (record_view adds the fields at run time).
        conversion_id: int

    @classmethod
    def of(cls, delivery: Delivery, attempts: Sequence[Attempt]) -> DeliveryOut:
        return cls.model_validate(
            record_fields(
                delivery,
                attempt_count=delivery.attempts,
                attempts=[AttemptOut.of(a) for a in attempts],
            )
        )


class RetryFailed(RequestModel):
    since: Moment | None = Field(
        default=None, description="only deliveries created at or after this time"
    )
    until: Moment | None = Field(
        default=None, description="only deliveries created before this time"
    )

    EXAMPLE = {"since": "2026-11-20T00:00:00Z"}


async def with_attempts(ctx: AppContext, found: Sequence[Delivery]) -> list[DeliveryOut]:
    """Deliveries as views, each with its attempts (one read for all of them)."""
    attempts = await ctx.store.list_attempts([d.id for d in found])
    return [DeliveryOut.of(d, attempts.get(d.id, [])) for d in found]


async def deliveries_of_conversion(
    ctx: AppContext, caller: Caller, conversion_id: int
) -> list[DeliveryOut]:
    """What one conversion owes that this caller may see, oldest first."""
    page = await ctx.store.list_deliveries(
        filters={"conversion_id": conversion_id, "affiliate_id": caller.affiliate_id},
        limit=MAX_PER_CONVERSION,
    )
    return await with_attempts(ctx, sorted(page.items, key=lambda d: d.id))


async def list_deliveries(
    ctx: AppContext,
    caller: Caller,
    page: PageParams,
    period: TimeRange,
    *,
    conversion_id: int | None = None,
    postback_id: int | None = None,
    offer_id: int | None = None,
    affiliate_id: int | None = None,
    state: str | None = None,
) -> Page:
    """Newest first, as views (DeliveryOut); `period` bounds the time each was created. An
    affiliate asking for another affiliate's deliveries finds none."""
    if affiliate_id is not None and not caller.owns(affiliate_id):
        return Page(items=[], next_cursor=None)
    filters = {
        "conversion_id": conversion_id,
        "postback_id": postback_id,
        "offer_id": offer_id,
        "state": state,
        "affiliate_id": caller.affiliate_id or affiliate_id,
        **period.filters(),
    }
    found = await ctx.store.list_deliveries(filters=filters, limit=page.limit, cursor=page.cursor)
    return Page(items=await with_attempts(ctx, found.items), next_cursor=found.next_cursor)


async def visible_delivery(ctx: AppContext, caller: Caller, delivery_id: int) -> Delivery:
    """One delivery this caller may see (an affiliate: of a config it owns, deleted ones
    too); NotFound otherwise."""
    delivery = await ctx.store.get_delivery(delivery_id)
    if delivery is not None and not caller.is_admin:
        try:
            await owned_postback(ctx, caller, delivery.postback_id, include_deleted=True)
        except NotFound:
            delivery = None
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery


async def get_delivery(ctx: AppContext, caller: Caller, delivery_id: int) -> DeliveryOut:
    delivery = await visible_delivery(ctx, caller, delivery_id)
    return (await with_attempts(ctx, [delivery]))[0]


async def resend(ctx: AppContext, caller: Caller, delivery_id: int) -> DeliveryOut:
    """Make the delivery due now again, whatever its state (queued, not sent: the workers
    send it), and wake them. Purged once retention has removed the body it would send."""
    delivery = await visible_delivery(ctx, caller, delivery_id)
    if delivery.body_purged_at is not None:
        raise Purged(
            "its body was removed by retention (POSTBACK_RETAIN_ATTEMPTS_DAYS); "
            "`postback replay` renders the config's postbacks again"
        )
    if not await ctx.store.retry_delivery(delivery_id, datetime.now(UTC)):
        raise NotFound(f"no delivery {delivery_id}")
    ctx.wake_dispatch()
    return await get_delivery(ctx, caller, delivery_id)


async def retry_failed(
    ctx: AppContext, caller: Caller, postback_id: int, body: RetryFailed | None = None
) -> int:
    """Every delivery of one config that gave up (optionally within a period) is due again
    now; how many."""
    body = body or RetryFailed()
    if body.since is not None and body.until is not None and body.until < body.since:
        raise InvalidInput("until", "must not be before since")
    config = await owned_postback(ctx, caller, postback_id, include_deleted=True)
    count = await ctx.store.retry_failed(config.id, body.since, body.until, datetime.now(UTC))
    if count:
        ctx.wake_dispatch()
    return count


async def health(ctx: AppContext, caller: Caller, since: datetime) -> DeliveryHealth:
    """How deliveries created since a moment fare (an affiliate: of its own configs)."""
    return await ctx.store.delivery_health(since=since, affiliate_id=caller.affiliate_id)
