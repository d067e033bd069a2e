"""Offers: what affiliates promote. The admin creates and changes them; an affiliate sees
the active ones only, never their revenue."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
)

from postback.domain.conversion import (
    ATTRIBUTION_DAYS,
    MAX_ATTRIBUTION_DAYS,
    MIN_ATTRIBUTION_DAYS,
)
from postback.domain.lifecycle import affiliate_events
from postback.domain.macros import CLICK_MACROS
from postback.domain.records import Offer
from postback.errors import InvalidInput, NotFound
from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.services.schemas import (
    Id,
    MoneyIn,
    Name,
    PatchModel,
    RequestModel,
    record_fields,
    record_view,
    url_template,
)
from postback.store.base import Page

OfferStatus = Literal["active", "paused"]
# Archived (status "archived"): out of the working set, kept for the clicks, conversions
# and reports that name it. Status "active" brings it back.
ListedStatus = Literal["active", "paused", "archived"]
WORKING_SET = ("active", "paused")
SUBS = ("sub1", "sub2", "sub3", "sub4", "sub5")


def tracking_url(base: str, offer_id: int, aff_id: int, with_subs: bool) -> str:
    """An offer's tracking link for one affiliate, its subs as placeholders or left out."""
    url = f"{base}/click?offer_id={offer_id}&aff_id={aff_id}"
    if with_subs:
        url += "".join(f"&{sub}={{{sub}}}" for sub in SUBS)
    return url


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
AttributionDays = Annotated[
    int,
    Strict(),
    Field(
        ge=MIN_ATTRIBUTION_DAYS,
        le=MAX_ATTRIBUTION_DAYS,
        description="days after its click a postback may still create a conversion "
        "(older: 410 click_expired); status changes are accepted at any age",
    ),
]


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
    bot_url: ClickUrl | None = Field(
        default=None, description="where clicks flagged as bots go instead of the destination"
    )
    attribution_days: AttributionDays = ATTRIBUTION_DAYS


class OfferPatch(PatchModel):
    EXAMPLE = {"payout": 9.5, "status": "paused"}

    NULLABLE = frozenset({"fallback_url", "affiliate_events", "bot_url"})

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
    bot_url: ClickUrl | None = None
    attribution_days: AttributionDays | None = None


@record_view(
    Offer,
    include=(
        "id",
        "advertiser_id",
        "name",
        "destination_url",
        "fallback_url",
        "payout",
        "currency",
        "status",
        "created_at",
        "updated_at",
        "lifecycle_events",
        "affiliates_receive",
        "affiliate_personal_data",
        "attribution_days",
    ),
    extra={"affiliates_receive": list[str]},
    info={
        "affiliates_receive": Field(
            description="the lifecycle events affiliates receive (after the default rule)"
        ),
        "attribution_days": Field(
            description="days after its click a postback may still create a conversion"
        ),
    },
)
class OfferBase(BaseModel):
    """What everyone may see of an offer, read from its record."""


@record_view(
    Offer,
    include=("revenue", "affiliate_events", "bot_url"),
    info={"affiliate_events": Field(description="as set; null: the default rule")},
)
class OfferOut(OfferBase):
    """The admin's view."""

    @classmethod
    def of(cls, offer: Offer) -> OfferOut:
        return cls.model_validate(_record(offer))


class AffiliateOfferOut(OfferBase):
    """An affiliate's view: no revenue, with its own tracking link."""

    tracking_url: str

    @classmethod
    def of(cls, offer: Offer, affiliate_id: int, base_url: str) -> AffiliateOfferOut:
        url = tracking_url(base_url, offer.id, affiliate_id, with_subs=False)
        return cls.model_validate(_record(offer) | {"tracking_url": url})


def _record(offer: Offer) -> dict[str, object]:
    received = affiliate_events(offer.lifecycle_events, offer.affiliate_events)
    return record_fields(offer, affiliates_receive=received)


def view(offer: Offer, caller: Caller, base_url: str) -> OfferOut | AffiliateOfferOut:
    """The offer as this caller may see it."""
    if caller.affiliate is None:
        return OfferOut.of(offer)
    return AffiliateOfferOut.of(offer, caller.affiliate.id, base_url)


async def _check_advertiser(ctx: AppContext, advertiser_id: int) -> None:
    if await ctx.store.get_advertiser(advertiser_id) is None:
        raise InvalidInput("advertiser_id", f"no advertiser {advertiser_id}")


async def create_offer(ctx: AppContext, caller: Caller, body: OfferCreate) -> Offer:
    admin_only(caller)
    await _check_advertiser(ctx, body.advertiser_id)
    return await ctx.store.create_offer(body.model_dump())


async def list_offers(
    ctx: AppContext,
    caller: Caller,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """Offers newest first: by default the working set (active and paused); an affiliate
    sees active offers only, any other does not exist for it."""
    statuses: tuple[str, ...] = WORKING_SET if status is None else (status,)
    if not caller.is_admin:
        statuses = tuple(s for s in statuses if s == "active")
        if not statuses:
            return Page(items=[], next_cursor=None)
    return await ctx.store.list_offers(statuses=statuses, limit=limit, cursor=cursor)


async def visible_offer(ctx: AppContext, caller: Caller, offer_id: int) -> Offer:
    """One offer this caller may see (an affiliate: active only); NotFound otherwise."""
    offer = await ctx.store.get_offer(offer_id)
    if offer is None or not (caller.is_admin or offer.active):
        raise NotFound(f"no offer {offer_id}")
    return offer


async def update_offer(ctx: AppContext, caller: Caller, offer_id: int, body: OfferPatch) -> Offer:
    admin_only(caller)
    changes = body.changes()
    if "advertiser_id" in changes:
        await _check_advertiser(ctx, changes["advertiser_id"])
    offer = (
        await ctx.store.update_offer(offer_id, changes)
        if changes
        else await ctx.store.get_offer(offer_id)
    )
    if offer is None:
        raise NotFound(f"no offer {offer_id}")
    return offer
