"""Offers: what affiliates promote. Affiliates see active offers only, never revenue."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
)

from postback.api.auth import AdminDep, CallerDep
from postback.api.context import ContextDep
from postback.api.links import public_base, tracking_url
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.domain.lifecycle import affiliate_events
from postback.domain.macros import CLICK_MACROS
from postback.domain.records import Offer
from postback.errors import InvalidInput, NotFound
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.schemas import (
    MAX_ID,
    Id,
    Money,
    MoneyIn,
    Name,
    PatchModel,
    RequestModel,
    Timestamp,
    url_template,
)

OfferStatus = Literal["active", "paused"]
# Archived (PATCH status "archived"): out of the working set, kept for the clicks,
# conversions and reports that name it. PATCH status "active" brings it back.
ListedStatus = Literal["active", "paused", "archived"]
WORKING_SET = ("active", "paused")


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Currency = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=r"^[A-Z]{3}$"),
]
ClickUrl = Annotated[str, url_template(CLICK_MACROS)]
LifecycleEvent = Literal[
    "checkout_abandoned",
    "awaiting_payment",
    "approved",
    "completed",
    "canceled",
    "refunded",
    "chargeback",
    "shipping_update",
]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


LifecycleEvents = Annotated[list[LifecycleEvent], Field(max_length=8), AfterValidator(_unique)]


class OfferCreate(RequestModel):
    EXAMPLE = {
        "advertiser_id": 1,
        "name": "Summer sale",
        "destination_url": "https://shop.example/landing?cid={click_id}&src={aff_id}",
        "revenue": 12.5,
        "payout": 9,
        "currency": "USD",
        "fallback_url": "https://shop.example/",
    }

    advertiser_id: Id
    name: Name
    destination_url: ClickUrl
    revenue: MoneyIn
    payout: MoneyIn
    currency: Currency = "USD"
    status: OfferStatus = "active"
    fallback_url: ClickUrl | None = None
    lifecycle_events: LifecycleEvents = Field(
        default_factory=list,
        description="sale lifecycle events its orders go through (empty: plain conversions)",
    )
    affiliate_events: LifecycleEvents | None = Field(
        default=None,
        description="lifecycle events affiliates receive; null: all declared except "
        "checkout_abandoned and shipping_update",
    )
    affiliate_personal_data: StrictBool = Field(
        default=False, description="true: affiliates also receive the conversion's attributes"
    )


class OfferPatch(PatchModel):
    EXAMPLE = {"payout": 9.5, "status": "paused"}

    NULLABLE = frozenset({"fallback_url", "affiliate_events"})

    advertiser_id: Id | None = None
    name: Name | None = None
    destination_url: ClickUrl | None = None
    revenue: MoneyIn | None = None
    payout: MoneyIn | None = None
    currency: Currency | None = None
    status: ListedStatus | None = None
    fallback_url: ClickUrl | None = None
    lifecycle_events: LifecycleEvents | None = None
    affiliate_events: LifecycleEvents | None = None
    affiliate_personal_data: StrictBool | None = None


class OfferBase(BaseModel):
    id: int
    advertiser_id: int
    name: str
    destination_url: str
    fallback_url: str | None
    payout: Money
    currency: str
    status: str
    created_at: Timestamp
    updated_at: Timestamp
    lifecycle_events: list[str]
    affiliates_receive: list[str] = Field(
        description="the lifecycle events affiliates receive (after the default rule)"
    )
    affiliate_personal_data: bool


class OfferOut(OfferBase):
    """The admin's view."""

    revenue: Money
    affiliate_events: list[str] | None = Field(description="as set; null: the default rule")

    @classmethod
    def of(cls, offer: Offer) -> OfferOut:
        chosen = None if offer.affiliate_events is None else list(offer.affiliate_events)
        return cls(**_common(offer), revenue=offer.revenue, affiliate_events=chosen)


class AffiliateOfferOut(OfferBase):
    """An affiliate's view: no revenue, with its own tracking link."""

    tracking_url: str

    @classmethod
    def of(cls, offer: Offer, affiliate_id: int, base_url: str) -> AffiliateOfferOut:
        url = tracking_url(base_url, offer.id, affiliate_id, with_subs=False)
        return cls(**_common(offer), tracking_url=url)


def _common(offer: Offer) -> dict[str, object]:
    return {
        "id": offer.id,
        "advertiser_id": offer.advertiser_id,
        "name": offer.name,
        "destination_url": offer.destination_url,
        "fallback_url": offer.fallback_url,
        "payout": offer.payout,
        "currency": offer.currency,
        "status": offer.status,
        "created_at": offer.created_at,
        "updated_at": offer.updated_at,
        "lifecycle_events": list(offer.lifecycle_events),
        "affiliates_receive": list(
            affiliate_events(offer.lifecycle_events, offer.affiliate_events)
        ),
        "affiliate_personal_data": offer.affiliate_personal_data,
    }


class OfferList(BaseModel):
    items: list[OfferOut] | list[AffiliateOfferOut]
    next_cursor: str | None = None


OfferId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _view(
    offer: Offer, caller: Caller, ctx: AppContext, request: Request
) -> OfferOut | AffiliateOfferOut:
    if caller.affiliate is None:
        return OfferOut.of(offer)
    return AffiliateOfferOut.of(offer, caller.affiliate.id, public_base(ctx, request))


async def _check_advertiser(ctx: AppContext, advertiser_id: int) -> None:
    if await ctx.store.get_advertiser(advertiser_id) is None:
        raise InvalidInput("advertiser_id", f"no advertiser {advertiser_id}")


async def create_offer(body: OfferCreate, ctx: ContextDep, _: AdminDep) -> ApiResponse:
    await _check_advertiser(ctx, body.advertiser_id)
    offer = await ctx.store.create_offer(body.model_dump())
    return reply(OfferOut.of(offer), 201)


async def list_offers(
    ctx: ContextDep,
    caller: CallerDep,
    request: Request,
    page: PageDep,
    status: Annotated[
        ListedStatus | None, Query(description="default: active and paused, not archived")
    ] = None,
) -> ApiResponse:
    statuses: tuple[str, ...] = WORKING_SET if status is None else (status,)
    if not caller.is_admin:
        # An affiliate sees active offers only: any other does not exist for it.
        statuses = tuple(s for s in statuses if s == "active")
        if not statuses:
            return reply({"items": [], "next_cursor": None})
    found = await ctx.store.list_offers(statuses=statuses, limit=page.limit, cursor=page.cursor)
    items = [_view(o, caller, ctx, request) for o in found.items]
    return reply({"items": items, "next_cursor": found.next_cursor})


async def get_offer(
    offer_id: OfferId, ctx: ContextDep, caller: CallerDep, request: Request
) -> ApiResponse:
    offer = await ctx.store.get_offer(offer_id)
    if offer is None or not (caller.is_admin or offer.active):
        raise NotFound(f"no offer {offer_id}")
    return reply(_view(offer, caller, ctx, request))


async def update_offer(
    offer_id: OfferId, body: OfferPatch, ctx: ContextDep, _: AdminDep
) -> ApiResponse:
    changes = body.changes()
    if "advertiser_id" in changes:
        await _check_advertiser(ctx, changes["advertiser_id"])
    if changes:
        offer = await ctx.store.update_offer(offer_id, changes)
    else:
        offer = await ctx.store.get_offer(offer_id)
    if offer is None:
        raise NotFound(f"no offer {offer_id}")
    return reply(OfferOut.of(offer))


def build_router() -> APIRouter:
    router = new_router("offers")
    route(router, "POST /offers", create_offer, OfferOut, "Create an offer (admin)", 201)
    route(router, "GET /offers", list_offers, OfferList, "List offers (affiliate: active ones)")
    route(
        router,
        "GET /offers/{offer_id}",
        get_offer,
        OfferOut | AffiliateOfferOut,
        "One offer (affiliate: active only, without revenue)",
    )
    route(router, "PATCH /offers/{offer_id}", update_offer, OfferOut, "Change an offer (admin)")
    return router
