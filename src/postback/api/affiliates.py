"""Affiliates over HTTP: the rules are in services/affiliates.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from postback.api.auth import AdminDep, CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import affiliates
from postback.services.affiliates import (
    AffiliateCreate,
    AffiliateOut,
    AffiliatePatch,
    AffiliateStatus,
    AffiliateWithKey,
)
from postback.services.schemas import MAX_ID


class AffiliateList(BaseModel):
    items: list[AffiliateOut]
    next_cursor: str | None = None


AffiliateId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def create_affiliate(body: AffiliateCreate, ctx: ContextDep, caller: AdminDep) -> ApiResponse:
    return reply(await affiliates.create_affiliate(ctx, caller, body), 201)


async def list_affiliates(
    ctx: ContextDep,
    caller: AdminDep,
    page: PageDep,
    status: Annotated[
        AffiliateStatus | None, Query(description="default: active and paused, not archived")
    ] = None,
) -> ApiResponse:
    found = await affiliates.list_affiliates(ctx, caller, page.limit, page.cursor, status)
    items = [affiliates.view(a) for a in found.items]
    return reply(AffiliateList(items=items, next_cursor=found.next_cursor))


async def get_affiliate(
    affiliate_id: AffiliateId, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    affiliate = await affiliates.visible_affiliate(ctx, caller, affiliate_id)
    return reply(affiliates.view(affiliate))


async def update_affiliate(
    affiliate_id: AffiliateId, body: AffiliatePatch, ctx: ContextDep, caller: AdminDep
) -> ApiResponse:
    affiliate = await affiliates.update_affiliate(ctx, caller, affiliate_id, body)
    return reply(affiliates.view(affiliate))


async def replace_key(affiliate_id: AffiliateId, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    """A new API key; the old one stops working at once."""
    return reply(await affiliates.replace_key(ctx, caller, affiliate_id))


def build_router() -> APIRouter:
    router = new_router("affiliates")
    route(router, "POST /affiliates", create_affiliate, AffiliateWithKey, "Create (admin)", 201)
    route(router, "GET /affiliates", list_affiliates, AffiliateList, "List (admin)")
    route(
        router,
        "GET /affiliates/{affiliate_id}",
        get_affiliate,
        AffiliateOut,
        "One affiliate (admin, or the affiliate itself)",
    )
    route(router, "PATCH /affiliates/{affiliate_id}", update_affiliate, AffiliateOut, "Change")
    route(
        router,
        "POST /affiliates/{affiliate_id}/key",
        replace_key,
        AffiliateWithKey,
        "Replace the API key (admin, or the affiliate itself); the new key is shown once",
    )
    return router
