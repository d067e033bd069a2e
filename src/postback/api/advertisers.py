"""Advertisers over HTTP: the rules are in services/advertisers.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response
from pydantic import BaseModel

from postback.api.auth import AdminDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import advertisers
from postback.services.advertisers import (
    AdvertiserCreate,
    AdvertiserOut,
    AdvertiserPatch,
    TokenRotation,
)
from postback.services.schemas import MAX_ID


class AdvertiserList(BaseModel):
    items: list[AdvertiserOut]
    next_cursor: str | None = None


AdvertiserId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def create_advertiser(
    body: AdvertiserCreate, ctx: ContextDep, caller: AdminDep
) -> ApiResponse:
    advertiser = await advertisers.create_advertiser(ctx, caller, body)
    return reply(advertisers.view(advertiser), 201)


async def list_advertisers(ctx: ContextDep, caller: AdminDep, page: PageDep) -> ApiResponse:
    found = await advertisers.list_advertisers(ctx, caller, page.limit, page.cursor)
    items = [advertisers.view(a) for a in found.items]
    return reply(AdvertiserList(items=items, next_cursor=found.next_cursor))


async def get_advertiser(
    advertiser_id: AdvertiserId, ctx: ContextDep, caller: AdminDep
) -> ApiResponse:
    advertiser = await advertisers.get_advertiser(ctx, caller, advertiser_id)
    return reply(advertisers.view(advertiser))


async def update_advertiser(
    advertiser_id: AdvertiserId, body: AdvertiserPatch, ctx: ContextDep, caller: AdminDep
) -> ApiResponse:
    advertiser = await advertisers.update_advertiser(ctx, caller, advertiser_id, body)
    return reply(advertisers.view(advertiser))


async def rotate_token(
    advertiser_id: AdvertiserId,
    ctx: ContextDep,
    caller: AdminDep,
    body: Annotated[TokenRotation | None, Body()] = None,
) -> ApiResponse:
    """A new postback token; the old one is still accepted for `grace_seconds`."""
    advertiser = await advertisers.rotate_token(ctx, caller, advertiser_id, body)
    return reply(advertisers.view(advertiser))


async def delete_advertiser(
    advertiser_id: AdvertiserId, ctx: ContextDep, caller: AdminDep
) -> Response:
    """Only an advertiser without offers can go (409 otherwise: archive its offers instead)."""
    await advertisers.delete_advertiser(ctx, caller, advertiser_id)
    return Response(status_code=204)


def build_router() -> APIRouter:
    router = new_router("advertisers")
    route(router, "POST /advertisers", create_advertiser, AdvertiserOut, "Create (admin)", 201)
    route(router, "GET /advertisers", list_advertisers, AdvertiserList, "List (admin)")
    route(router, "GET /advertisers/{advertiser_id}", get_advertiser, AdvertiserOut, "Get (admin)")
    route(router, "PATCH /advertisers/{advertiser_id}", update_advertiser, AdvertiserOut, "Change")
    route(
        router,
        "DELETE /advertisers/{advertiser_id}",
        delete_advertiser,
        None,
        "Delete an advertiser that has no offers (admin)",
        204,
        errors=((409, "the advertiser still has offers"),),
    )
    route(
        router,
        "POST /advertisers/{advertiser_id}/token",
        rotate_token,
        AdvertiserOut,
        "Issue a new postback token; the old one keeps working for a grace period (admin)",
    )
    return router
