"""Ready-to-paste links: an affiliate's tracking link and an advertiser's postback URL.

Placeholders stay unencoded (`{sub1}`, `{click_id}`) so that the partner can see and
replace them with its own platform's macros.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from postback.api.auth import AdminDep, CallerDep
from postback.api.context import ContextDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.errors import InvalidInput, NotFound
from postback.services.context import AppContext
from postback.services.schemas import MAX_ID

SUBS = ("sub1", "sub2", "sub3", "sub4", "sub5")
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

IdQuery = Annotated[int, Query(ge=1, le=MAX_ID)]


def public_base(ctx: AppContext, request: Request) -> str:
    """POSTBACK_BASE_URL, else the address this request came in on."""
    return ctx.settings.base_url or str(request.base_url).rstrip("/")


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
    method: Literal["GET"]
    url: str = Field(description="the URL to give the advertiser, token included when required")
    fields: dict[str, str] = Field(description="each parameter and the placeholder it carries")
    status_values: dict[str, str] = Field(
        description="status values the advertiser may send, and the status each one means"
    )
    token_required: bool


def tracking_url(base: str, offer_id: int, aff_id: int, with_subs: bool) -> str:
    url = f"{base}/click?offer_id={offer_id}&aff_id={aff_id}"
    if with_subs:
        url += "".join(f"&{sub}={{{sub}}}" for sub in SUBS)
    return url


async def tracking_link(
    ctx: ContextDep,
    caller: CallerDep,
    request: Request,
    offer_id: IdQuery,
    aff_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="default: the calling affiliate")
    ] = None,
) -> ApiResponse:
    """The tracking link of one offer for one affiliate."""
    if aff_id is None:
        if caller.affiliate is None:
            raise InvalidInput("aff_id", "field required with the admin key")
        aff_id = caller.affiliate.id
    affiliate = await ctx.store.get_affiliate(aff_id) if caller.owns(aff_id) else None
    if affiliate is None:
        raise NotFound(f"no affiliate {aff_id}")
    offer = await ctx.store.get_offer(offer_id)
    if offer is None or not (caller.is_admin or offer.active):
        raise NotFound(f"no offer {offer_id}")
    base = public_base(ctx, request)
    return reply(
        TrackingLinkOut(
            offer_id=offer.id,
            aff_id=affiliate.id,
            url=tracking_url(base, offer.id, affiliate.id, with_subs=True),
            plain_url=tracking_url(base, offer.id, affiliate.id, with_subs=False),
            subs=list(SUBS),
        )
    )


async def postback_url(
    advertiser_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ctx: ContextDep,
    _: AdminDep,
    request: Request,
    syntax: Annotated[
        MacroSyntax, Query(description="how the advertiser's platform writes its macros")
    ] = "braces",
) -> ApiResponse:
    """The postback URL to hand to the advertiser, in its platform's macro syntax."""
    advertiser = await ctx.store.get_advertiser(advertiser_id)
    if advertiser is None:
        raise NotFound(f"no advertiser {advertiser_id}")
    fields = {name: placeholder(name, syntax) for name in POSTBACK_FIELDS}
    query = "&".join(f"{name}={value}" for name, value in fields.items())
    if advertiser.require_token:
        query += f"&token={advertiser.postback_token}"
    # Its own status words when it has a status map, else ours.
    statuses = dict(advertiser.status_map) or {
        s: s for s in ("pending", "approved", "rejected", "refunded", "chargeback")
    }
    return reply(
        PostbackUrlOut(
            advertiser_id=advertiser.id,
            method="GET",
            url=f"{public_base(ctx, request)}/postback?{query}",
            fields=fields,
            status_values=statuses,
            token_required=advertiser.require_token,
        )
    )


def build_router() -> APIRouter:
    router = new_router("links")
    route(router, "GET /tracking-link", tracking_link, TrackingLinkOut, "A tracking link")
    route(
        router,
        "GET /advertisers/{advertiser_id}/postback-url",
        postback_url,
        PostbackUrlOut,
        "The postback URL for an advertiser (admin)",
    )
    return router
