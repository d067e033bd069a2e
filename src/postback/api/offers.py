"""Offers over HTTP: the rules are in services/offers.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from postback.api.auth import AdminDep, CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import offers
from postback.services.links import public_base
from postback.services.offers import (
    AffiliateOfferOut,
    ListedStatus,
    OfferCreate,
    OfferOut,
    OfferPatch,
)
from postback.services.schemas import MAX_ID


class OfferList(BaseModel):
    items: list[OfferOut] | list[AffiliateOfferOut]
    next_cursor: str | None = None


OfferId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def create_offer(body: OfferCreate, ctx: ContextDep, caller: AdminDep) -> ApiResponse:
    offer = await offers.create_offer(ctx, caller, body)
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
    found = await offers.list_offers(ctx, caller, status, page.limit, page.cursor)
    base = public_base(ctx, str(request.base_url))
    items = [offers.view(o, caller, base) for o in found.items]
    return reply({"items": items, "next_cursor": found.next_cursor})


async def get_offer(
    offer_id: OfferId, ctx: ContextDep, caller: CallerDep, request: Request
) -> ApiResponse:
    offer = await offers.visible_offer(ctx, caller, offer_id)
    return reply(offers.view(offer, caller, public_base(ctx, str(request.base_url))))


async def update_offer(
    offer_id: OfferId, body: OfferPatch, ctx: ContextDep, caller: AdminDep
) -> ApiResponse:
    offer = await offers.update_offer(ctx, caller, offer_id, body)
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
