"""Conversions with their status history and deliveries. Affiliates: own ones, no revenue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.deliveries import DeliveryOut, deliveries_of_conversion
from postback.api.incoming import IncomingOut
from postback.api.paging import PageDep, TimeRangeDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.domain.records import Click, Conversion, StatusChange
from postback.errors import NotFound
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.schemas import MAX_ID, Money, Text, Timestamp

StatusFilter = Literal["pending", "approved", "rejected", "refunded", "chargeback"]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# Incoming requests shown in one trace (a conversion rarely sees more than a few).
MAX_TOUCHES = 200


class ConversionBase(BaseModel):
    """What an affiliate sees of a conversion."""

    id: int
    click_id: str
    offer_id: int
    affiliate_id: int
    advertiser_id: int
    event: str
    txid: str | None
    status: str
    payout: Money
    currency: str
    created_at: Timestamp
    updated_at: Timestamp
    stage: str | None = Field(default=None, description="a lifecycle order's last event")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="fields the platform sent (customer, product ...); an affiliate sees "
        "them only where the offer allows personal data",
    )


class ConversionOut(ConversionBase):
    """The admin's view: with revenue and profit (revenue - payout)."""

    revenue: Money
    profit: Money


class HistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    stage: str | None = None
    created_at: Timestamp

    @classmethod
    def of(cls, change: StatusChange) -> HistoryOut:
        return cls(
            from_status=change.from_status,
            to_status=change.to_status,
            stage=change.stage,
            created_at=change.created_at,
        )


class ClickOut(BaseModel):
    click_id: str
    offer_id: int
    affiliate_id: int
    sub1: str | None
    sub2: str | None
    sub3: str | None
    sub4: str | None
    sub5: str | None
    ip: str | None
    user_agent: str | None
    referrer: str | None
    country: str | None
    created_at: Timestamp

    @classmethod
    def of(cls, click: Click) -> ClickOut:
        subs = dict(zip(("sub1", "sub2", "sub3", "sub4", "sub5"), click.subs, strict=True))
        return cls(
            click_id=click.click_id,
            offer_id=click.offer_id,
            affiliate_id=click.affiliate_id,
            ip=click.ip,
            user_agent=click.user_agent,
            referrer=click.referrer,
            country=click.country,
            created_at=click.created_at,
            **subs,
        )


class Trail(BaseModel):
    """From click to partner: the click, each status change, each delivery and attempt."""

    click: ClickOut | None
    history: list[HistoryOut]
    deliveries: list[DeliveryOut]


class ConversionDetail(ConversionOut, Trail):
    """The admin's trace also holds every incoming postback that touched the conversion."""

    incoming: list[IncomingOut]


class AffiliateConversionDetail(ConversionBase, Trail):
    pass


class ConversionList(BaseModel):
    items: list[ConversionOut] | list[ConversionBase]
    next_cursor: str | None = None


def view(conversion: Conversion, admin: bool, personal_data: bool = True) -> dict[str, Any]:
    """The answer's fields; attributes only with `personal_data` (see `sees_personal_data`)."""
    fields: dict[str, Any] = {
        "id": conversion.id,
        "click_id": conversion.click_id,
        "offer_id": conversion.offer_id,
        "affiliate_id": conversion.affiliate_id,
        "advertiser_id": conversion.advertiser_id,
        "event": conversion.event,
        "txid": conversion.txid,
        "status": conversion.status,
        "payout": conversion.payout,
        "currency": conversion.currency,
        "created_at": conversion.created_at,
        "updated_at": conversion.updated_at,
        "stage": conversion.stage,
        "attributes": dict(conversion.attributes) if admin or personal_data else {},
    }
    if admin:
        fields["revenue"] = conversion.revenue
        fields["profit"] = conversion.revenue - conversion.payout
    return fields


ConversionId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def sees_personal_data(ctx: AppContext, caller: Caller, conversion: Conversion) -> bool:
    """The admin always; an affiliate where the conversion's offer allows it."""
    if caller.is_admin:
        return True
    if not conversion.attributes:
        return False
    offer = await ctx.store.get_offer(conversion.offer_id)
    return offer is not None and offer.affiliate_personal_data


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
    model: type[ConversionBase] = ConversionOut if caller.is_admin else ConversionBase
    if affiliate_id is not None and not caller.owns(affiliate_id):
        return reply({"items": [], "next_cursor": None})
    filters: dict[str, Any] = {
        "offer_id": offer_id,
        "affiliate_id": caller.affiliate_id or affiliate_id,
        "status": status,
        "event": event,
        "click_id": click_id,
        "txid": txid,
        **period.filters(),
    }
    found = await ctx.store.list_conversions(filters=filters, limit=page.limit, cursor=page.cursor)
    items = [
        model(**view(c, caller.is_admin, await sees_personal_data(ctx, caller, c)))
        for c in found.items
    ]
    return reply({"items": items, "next_cursor": found.next_cursor})


async def get_conversion(
    conversion_id: ConversionId, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    conversion = await ctx.store.get_conversion(conversion_id)
    if conversion is None or not caller.owns(conversion.affiliate_id):
        raise NotFound(f"no conversion {conversion_id}")
    history = await ctx.store.conversion_history(conversion_id)
    deliveries = await deliveries_of_conversion(ctx, caller, conversion_id)
    click = await ctx.store.get_click(conversion.click_id)
    trail: dict[str, Any] = {
        **view(conversion, caller.is_admin, await sees_personal_data(ctx, caller, conversion)),
        "click": None if click is None else ClickOut.of(click),
        "history": [HistoryOut.of(h) for h in history],
        "deliveries": deliveries,
    }
    if not caller.is_admin:
        return reply(AffiliateConversionDetail(**trail))
    # The advertiser's raw requests carry its token and revenue: the admin's eyes only.
    touched = await ctx.store.list_incoming(conversion_id=conversion_id, limit=MAX_TOUCHES)
    incoming = [IncomingOut.of(row) for row in reversed(touched.items)]
    return reply(ConversionDetail(**trail, incoming=incoming))


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
