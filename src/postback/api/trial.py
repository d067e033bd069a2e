"""POST /postbacks/{id}/test: render a config for a sample (or real) conversion and send it once.

The answer is the attempt itself; it is also kept in the config's test log (apart from
real deliveries, so reports and retries never see it). The send goes through the same
sender as deliveries (SSRF rules, no redirects, signatures on POST).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.postbacks import PostbackId, owned_postback
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.dispatch.sender import Sender
from postback.domain import payload
from postback.domain.ids import new_message_id
from postback.domain.records import Click, Conversion, Offer, PostbackConfig, TrialSend
from postback.errors import InvalidInput
from postback.services.context import AppContext
from postback.services.schemas import Id, RequestModel, Timestamp

SAMPLE_CLICK_ID = "test_click_0000000000"


class TrialRequest(RequestModel):
    EXAMPLE = {"conversion_id": 42}

    conversion_id: Id | None = None


class TrialOut(BaseModel):
    id: int
    postback_id: int
    conversion_id: int | None
    sample: bool
    method: str
    url: str
    body: str | None
    content_type: str | None
    success: bool
    kind: str
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    started_at: Timestamp
    duration_ms: int

    @classmethod
    def of(cls, trial: TrialSend) -> TrialOut:
        return cls(
            id=trial.id,
            postback_id=trial.postback_id,
            conversion_id=trial.conversion_id,
            sample=trial.conversion_id is None,
            method=trial.method,
            url=trial.url,
            body=trial.body,
            content_type=trial.content_type,
            success=trial.success,
            kind=trial.kind,
            status_code=trial.status_code,
            response_excerpt=trial.response_excerpt,
            error=trial.error,
            started_at=trial.started_at,
            duration_ms=trial.duration_ms,
        )


class TrialList(BaseModel):
    items: list[TrialOut]
    next_cursor: str | None = None


def _first(values: tuple[str, ...], default: str) -> str:
    return default if not values or values[0] == "*" else values[0]


def sample_event(
    config: PostbackConfig, offer: Offer | None, now: datetime
) -> tuple[Conversion, Click, Offer]:
    """Made-up records shaped like the conversions this config fires for."""
    affiliate_id = config.affiliate_id or 1
    if offer is None:
        offer = Offer(
            id=config.offer_id or 1,
            advertiser_id=1,
            name="Test offer",
            destination_url="https://example.com/",
            fallback_url=None,
            revenue=Decimal("10"),
            payout=Decimal("7.5"),
            currency="USD",
            status="active",
            created_at=now,
            updated_at=now,
        )
    click = Click(
        click_id=SAMPLE_CLICK_ID,
        offer_id=offer.id,
        affiliate_id=affiliate_id,
        subs=("sub1_value", "sub2_value", None, None, None),
        ip="203.0.113.10",
        user_agent="Mozilla/5.0 (postback test)",
        referrer=None,
        country="US",
        created_at=now - timedelta(minutes=3),
    )
    conversion = Conversion(
        id=0,
        click_id=click.click_id,
        offer_id=offer.id,
        affiliate_id=affiliate_id,
        advertiser_id=offer.advertiser_id,
        event=_first(config.events, "conversion"),
        txid="test_txid",
        status=_first(config.statuses, "approved"),
        revenue=offer.revenue,
        payout=offer.payout,
        currency=offer.currency,
        created_at=now,
        updated_at=now,
    )
    return conversion, click, offer


async def real_event(
    ctx: AppContext, config: PostbackConfig, conversion_id: int
) -> tuple[Conversion, Click, Offer]:
    conversion = await ctx.store.get_conversion(conversion_id)
    if conversion is None or not (
        config.affiliate_id is None or conversion.affiliate_id == config.affiliate_id
    ):
        raise InvalidInput("conversion_id", f"no conversion {conversion_id} for this postback")
    click = await ctx.store.get_click(conversion.click_id)
    offer = await ctx.store.get_offer(conversion.offer_id)
    if click is None or offer is None:
        raise InvalidInput("conversion_id", f"conversion {conversion_id} lacks its click or offer")
    return conversion, click, offer


async def test_postback(
    postback_id: PostbackId,
    ctx: ContextDep,
    caller: CallerDep,
    body: Annotated[TrialRequest | None, Body()] = None,
) -> ApiResponse:
    """Send the config once, now, and answer with what happened (kept in its test log)."""
    config = await owned_postback(ctx, caller, postback_id)
    now = datetime.now(UTC)
    conversion_id = body.conversion_id if body is not None else None
    if conversion_id is not None:
        conversion, click, offer = await real_event(ctx, config, conversion_id)
    else:
        known = await ctx.store.get_offer(config.offer_id) if config.offer_id else None
        conversion, click, offer = sample_event(config, known, now)
    fields = payload.event_fields(conversion, click, offer, now, config.network_level)
    request = payload.render(config, fields)
    async with Sender(ctx.settings, limit=1) as sender:
        outcome = await sender.send_request(
            method=request.method,
            url=request.url,
            body=request.body,
            content_type=request.content_type,
            message_id=new_message_id(),
            secret=config.secret,
        )
    trial = await ctx.store.record_trial(
        {
            "postback_id": config.id,
            "conversion_id": conversion_id,
            "started_at": outcome.started_at,
            "duration_ms": outcome.duration_ms,
            "method": request.method,
            "url": request.url,
            "body": request.body,
            "content_type": request.content_type,
            "status_code": outcome.status_code,
            "response_excerpt": outcome.response_excerpt,
            "error": outcome.error,
            "kind": outcome.kind,
            "success": outcome.success,
        }
    )
    return reply(TrialOut.of(trial))


async def list_tests(
    postback_id: PostbackId, ctx: ContextDep, caller: CallerDep, page: PageDep
) -> ApiResponse:
    """The config's test log, newest first."""
    config = await owned_postback(ctx, caller, postback_id)
    found = await ctx.store.list_trials(config.id, limit=page.limit, cursor=page.cursor)
    items = [TrialOut.of(t) for t in found.items]
    return reply(TrialList(items=items, next_cursor=found.next_cursor))


def build_router() -> APIRouter:
    router = new_router("postbacks")
    route(
        router,
        "POST /postbacks/{postback_id}/test",
        test_postback,
        TrialOut,
        "Send a config once with a sample (or the given) conversion",
    )
    route(router, "GET /postbacks/{postback_id}/tests", list_tests, TrialList, "The test log")
    return router
