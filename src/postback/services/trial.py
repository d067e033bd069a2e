"""Trying a config: what it would send for a sample (or real) conversion, and the Test
button that sends it once.

A test send is kept in the config's test log (apart from real deliveries, so reports and
retries never see it). It goes through the same sender as deliveries (SSRF rules, no
redirects, signatures on POST), and renders with the same code (domain/payload.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from postback.dispatch.sender import Sender
from postback.domain import payload
from postback.domain.ids import new_message_id
from postback.domain.payload import RenderedRequest
from postback.domain.records import Click, Conversion, Offer, PostbackConfig, TrialSend
from postback.errors import InvalidInput
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.postbacks import (
    PostbackCreate,
    check_templates,
    draft_affiliate,
    owned_postback,
)
from postback.services.schemas import Id, RequestModel, record_fields, record_view
from postback.store.base import Page

SAMPLE_CLICK_ID = "test_click_0000000000"

Event = tuple[Conversion, Click, Offer]


class TrialRequest(RequestModel):
    EXAMPLE = {"conversion_id": 42}

    conversion_id: Id | None = None


@record_view(
    TrialSend,
    include=(
        "id",
        "postback_id",
        "conversion_id",
        "sample",
        "method",
        "url",
        "body",
        "content_type",
        "success",
        "kind",
        "status_code",
        "response_excerpt",
        "error",
        "started_at",
        "duration_ms",
    ),
    extra={"sample": bool},
)
class TrialOut(BaseModel):
    @classmethod
    def of(cls, trial: TrialSend) -> TrialOut:
        return cls.model_validate(record_fields(trial, sample=trial.conversion_id is None))


def _first(values: tuple[str, ...], default: str) -> str:
    return default if not values or values[0] == "*" else values[0]


def sample_event(config: PostbackConfig, offer: Offer | None, now: datetime) -> Event:
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


async def real_event(ctx: AppContext, config: PostbackConfig, conversion_id: int) -> Event:
    """A real conversion this config may be sent for, with its click and offer."""
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


def draft(ctx: AppContext, caller: Caller, body: PostbackCreate) -> PostbackConfig:
    """The config this body would save, not saved; InvalidInput when saving would refuse it."""
    filled = body.filled()
    affiliate_id = draft_affiliate(caller, body)
    check_templates(filled["url"], body.body, affiliate_id is None, ctx.settings.target_policy)
    now = datetime.now(UTC)
    return PostbackConfig(
        id=0,
        affiliate_id=affiliate_id,
        offer_id=body.offer_id,
        url=filled["url"],
        method=body.method,
        body=body.body,
        content_type=body.content_type,
        events=tuple(body.events),
        statuses=tuple(filled["statuses"]),
        active=body.active,
        secret="",
        created_at=now,
        updated_at=now,
    )


async def preview(
    ctx: AppContext, config: PostbackConfig, conversion_id: int | None
) -> RenderedRequest:
    """The request the config sends for the given conversion, or for a sample shaped like
    the conversions it fires for (its offer if it names one) when None."""
    now = datetime.now(UTC)
    if conversion_id is not None:
        conversion, click, offer = await real_event(ctx, config, conversion_id)
    else:
        known = await ctx.store.get_offer(config.offer_id) if config.offer_id else None
        conversion, click, offer = sample_event(config, known, now)
    fields = payload.event_fields(conversion, click, offer, now, config.network_level)
    return payload.render(config, fields)


async def test_postback(
    ctx: AppContext, caller: Caller, postback_id: int, conversion_id: int | None
) -> TrialSend:
    """Send the config once, now, for the given conversion (a sample when None), and keep
    what happened in its test log."""
    config = await owned_postback(ctx, caller, postback_id)
    request = await preview(ctx, config, conversion_id)
    async with Sender(ctx.settings, limit=1) as sender:
        outcome = await sender.send_request(
            method=request.method,
            url=request.url,
            body=request.body,
            content_type=request.content_type,
            message_id=new_message_id(),
            secret=config.secret,
        )
    return await ctx.store.record_trial(
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


async def list_tests(
    ctx: AppContext, caller: Caller, postback_id: int, limit: int, cursor: str | None
) -> Page:
    """The config's test log, newest first."""
    config = await owned_postback(ctx, caller, postback_id)
    return await ctx.store.list_trials(config.id, limit=limit, cursor=cursor)
