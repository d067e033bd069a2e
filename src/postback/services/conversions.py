"""Conversions with their status history and deliveries. The admin sees every one, with
revenue and profit; an affiliate its own only, without revenue, and the attributes the
platform sent only where the offer allows personal data."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from postback.domain.records import Click, Conversion, StatusChange
from postback.errors import NotFound
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.deliveries import DeliveryOut, deliveries_of_conversion
from postback.services.incoming import IncomingOut, incoming_of_conversion
from postback.services.offers import SUBS
from postback.services.paging import PageParams, TimeRange
from postback.services.schemas import Money, record_fields, record_view
from postback.store.base import Page

StatusFilter = Literal["pending", "approved", "rejected", "refunded", "chargeback"]


@record_view(
    Conversion,
    include=(
        "id",
        "click_id",
        "offer_id",
        "affiliate_id",
        "advertiser_id",
        "event",
        "txid",
        "status",
        "payout",
        "currency",
        "created_at",
        "updated_at",
        "stage",
        "attributes",
    ),
    info={
        "stage": Field(default=None, description="a lifecycle order's last event"),
        "attributes": Field(
            default_factory=dict,
            description="fields the platform sent (customer, product ...); an affiliate sees "
            "them only where the offer allows personal data",
        ),
    },
)
class ConversionBase(BaseModel):
    """What an affiliate sees of a conversion."""


@record_view(Conversion, include=("revenue", "profit"), extra={"profit": Money})
class ConversionOut(ConversionBase):
    """The admin's view: with revenue and profit (revenue - payout)."""


@record_view(
    StatusChange,
    include=("from_status", "to_status", "stage", "created_at"),
    info={"stage": Field(default=None)},
)
class HistoryOut(BaseModel):
    @classmethod
    def of(cls, change: StatusChange) -> HistoryOut:
        return cls.model_validate(record_fields(change))


@record_view(
    Click,
    include=(
        "click_id",
        "offer_id",
        "affiliate_id",
        *SUBS,
        "ip",
        "user_agent",
        "referrer",
        "country",
        "region",
        "city",
        "device",
        "os",
        "browser",
        "is_bot",
        "is_unique",
        "cost",
        "created_at",
    ),
    extra=dict.fromkeys(SUBS, str | None),
)
class ClickOut(BaseModel):
    @classmethod
    def of(cls, click: Click) -> ClickOut:
        subs = dict(zip(SUBS, click.subs, strict=True))
        return cls.model_validate(record_fields(click, **subs))


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


def view_fields(conversion: Conversion, admin: bool, personal_data: bool = True) -> dict[str, Any]:
    """The view's fields; attributes only with `personal_data` (see `sees_personal_data`),
    revenue and profit only for the admin."""
    fields: dict[str, Any] = record_fields(conversion)
    if not (admin or personal_data):
        fields["attributes"] = {}
    if admin:
        fields["profit"] = conversion.revenue - conversion.payout
    else:
        del fields["revenue"]
    return fields


async def sees_personal_data(ctx: AppContext, caller: Caller, conversion: Conversion) -> bool:
    """The admin always; an affiliate where the conversion's offer allows it."""
    if caller.is_admin:
        return True
    if not conversion.attributes:
        return False
    offer = await ctx.store.get_offer(conversion.offer_id)
    return offer is not None and offer.affiliate_personal_data


async def view(ctx: AppContext, caller: Caller, conversion: Conversion) -> ConversionBase:
    """The conversion as this caller may see it (ConversionOut for the admin)."""
    model: type[ConversionBase] = ConversionOut if caller.is_admin else ConversionBase
    personal = await sees_personal_data(ctx, caller, conversion)
    return model(**view_fields(conversion, caller.is_admin, personal))


async def list_conversions(
    ctx: AppContext,
    caller: Caller,
    page: PageParams,
    period: TimeRange,
    *,
    offer_id: int | None = None,
    affiliate_id: int | None = None,
    status: str | None = None,
    event: str | None = None,
    click_id: str | None = None,
    txid: str | None = None,
) -> Page:
    """Newest first, as views; an affiliate's own only (asking for another's finds none)."""
    if affiliate_id is not None and not caller.owns(affiliate_id):
        return Page(items=[], next_cursor=None)
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
    items = [await view(ctx, caller, c) for c in found.items]
    return Page(items=items, next_cursor=found.next_cursor)


async def visible_conversion(ctx: AppContext, caller: Caller, conversion_id: int) -> Conversion:
    """One conversion this caller may see (an affiliate: its own); NotFound otherwise."""
    conversion = await ctx.store.get_conversion(conversion_id)
    if conversion is None or not caller.owns(conversion.affiliate_id):
        raise NotFound(f"no conversion {conversion_id}")
    return conversion


async def trace(
    ctx: AppContext, caller: Caller, conversion_id: int
) -> ConversionDetail | AffiliateConversionDetail:
    """One conversion from click to partner: its click, status history and deliveries
    (an affiliate: of its own configs) and, for the admin, the incoming postbacks."""
    conversion = await visible_conversion(ctx, caller, conversion_id)
    history = await ctx.store.conversion_history(conversion_id)
    deliveries = await deliveries_of_conversion(ctx, caller, conversion_id)
    click = await ctx.store.get_click(conversion.click_id)
    personal = await sees_personal_data(ctx, caller, conversion)
    trail: dict[str, Any] = {
        **view_fields(conversion, caller.is_admin, personal),
        "click": None if click is None else ClickOut.of(click),
        "history": [HistoryOut.of(h) for h in history],
        "deliveries": deliveries,
    }
    if not caller.is_admin:
        return AffiliateConversionDetail(**trail)
    # The advertiser's raw requests carry its token and revenue: the admin's eyes only.
    incoming = await incoming_of_conversion(ctx, caller, conversion_id)
    return ConversionDetail(**trail, incoming=incoming)
