"""Ready-to-paste links over HTTP: the rules are in services/links.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from postback.api.auth import AdminDep, CallerDep
from postback.api.context import ContextDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import links
from postback.services.links import MacroSyntax, PostbackUrlOut, TrackingLinkOut, public_base
from postback.services.schemas import MAX_ID

IdQuery = Annotated[int, Query(ge=1, le=MAX_ID)]


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
    base = public_base(ctx, str(request.base_url))
    return reply(await links.tracking_link(ctx, caller, base, offer_id, aff_id))


async def postback_url(
    advertiser_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ctx: ContextDep,
    caller: AdminDep,
    request: Request,
    syntax: Annotated[
        MacroSyntax, Query(description="how the advertiser's platform writes its macros")
    ] = "braces",
) -> ApiResponse:
    """The postback URL to hand to the advertiser, in its platform's macro syntax."""
    base = public_base(ctx, str(request.base_url))
    return reply(await links.postback_url(ctx, caller, base, advertiser_id, syntax))


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
