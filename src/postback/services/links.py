"""Ready-to-paste links: an affiliate's tracking link and an advertiser's postback URL.

Placeholders stay unencoded (`{sub1}`, `{click_id}`) so that the partner can see and
replace them with its own platform's macros.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from postback.domain.catalog import known_incoming
from postback.domain.templates import incoming_url
from postback.errors import InvalidInput
from postback.services.advertisers import get_advertiser
from postback.services.affiliates import visible_affiliate
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.offers import SUBS, tracking_url, visible_offer

# The fields an advertiser's platform fills in, in the order they read best.
POSTBACK_FIELDS = ("click_id", "txid", "event", "status", "revenue", "currency")

# How a platform writes "put the value of X here" in the URLs it calls.
MacroSyntax = Literal["braces", "double_braces", "brackets", "percent", "hash"]
SYNTAX: dict[str, tuple[str, str]] = {
    "braces": ("{", "}"),
    "double_braces": ("{{", "}}"),
    "brackets": ("[", "]"),
    "percent": ("%", "%"),
    "hash": ("#", "#"),
}


def public_base(ctx: AppContext, request_base: str) -> str:
    """POSTBACK_BASE_URL, else the address the request came in on."""
    return ctx.settings.base_url or request_base.rstrip("/")


def placeholder(name: str, syntax: str) -> str:
    start, end = SYNTAX[syntax]
    return f"{start}{name}{end}"


class TrackingLinkOut(BaseModel):
    offer_id: int
    aff_id: int
    url: str = Field(description="the link with every sub as a placeholder to fill in")
    plain_url: str = Field(description="the link without subs")
    subs: list[str] = Field(description="the sub parameters the link passes through")


class PostbackUrlOut(BaseModel):
    advertiser_id: int
    method: Literal["GET", "POST"] = Field(
        description="POST for a platform that posts its webhook (JSON or a form)"
    )
    url: str = Field(description="the URL to give the advertiser, token included when required")
    fields: dict[str, str] = Field(description="each parameter and the placeholder it carries")
    status_values: dict[str, str] = Field(
        description="status values the advertiser may send, and the status each one means"
    )
    token_required: bool


async def tracking_link(
    ctx: AppContext, caller: Caller, base: str, offer_id: int, aff_id: int | None
) -> TrackingLinkOut:
    """The tracking link of one offer for one affiliate (default: the calling one)."""
    if aff_id is None:
        if caller.affiliate is None:
            raise InvalidInput("aff_id", "field required with the admin key")
        aff_id = caller.affiliate.id
    affiliate = await visible_affiliate(ctx, caller, aff_id)
    offer = await visible_offer(ctx, caller, offer_id)
    return TrackingLinkOut(
        offer_id=offer.id,
        aff_id=affiliate.id,
        url=tracking_url(base, offer.id, affiliate.id, with_subs=True),
        plain_url=tracking_url(base, offer.id, affiliate.id, with_subs=False),
        subs=list(SUBS),
    )


async def postback_url(
    ctx: AppContext, caller: Caller, base: str, advertiser_id: int, syntax: str
) -> PostbackUrlOut:
    """The postback URL to hand to the advertiser, in its platform's macro syntax; for an
    advertiser made from a template, the template's URL (a sales platform's needs no
    token of ours once its own secret is stored)."""
    advertiser = await get_advertiser(ctx, caller, advertiser_id)
    template = known_incoming(advertiser.template)
    if template is not None:
        proves_itself = template.auth is not None and advertiser.partner_secret is not None
        return PostbackUrlOut(
            advertiser_id=advertiser.id,
            method="GET" if template.transport == "query" else "POST",
            url=incoming_url(template, base, advertiser.id, advertiser.postback_token),
            fields=dict(advertiser.field_map),
            status_values=dict(advertiser.status_map or advertiser.event_map),
            token_required=advertiser.require_token and not proves_itself,
        )
    fields = {name: placeholder(name, syntax) for name in POSTBACK_FIELDS}
    query = "&".join(f"{name}={value}" for name, value in fields.items())
    if advertiser.require_token:
        query += f"&token={advertiser.postback_token}"
    # Its own status words when it has a status map, else ours.
    statuses = dict(advertiser.status_map) or {
        s: s for s in ("pending", "approved", "rejected", "refunded", "chargeback")
    }
    return PostbackUrlOut(
        advertiser_id=advertiser.id,
        method="GET",
        url=f"{base}/postback?{query}",
        fields=fields,
        status_values=statuses,
        token_required=advertiser.require_token,
    )
