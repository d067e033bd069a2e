"""Affiliates: their API key is shown once, at creation (or when replaced), and kept hashed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from postback.api.auth import AdminDep, CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.domain.ids import hash_key, new_api_key
from postback.domain.records import Affiliate
from postback.errors import NotFound
from postback.services.schemas import MAX_ID, Name, PatchModel, RequestModel, Timestamp

# Archived (PATCH status "archived"): out of the working set, its key refused, its
# records kept.
AffiliateStatus = Literal["active", "paused", "archived"]
WORKING_SET = ("active", "paused")
KEY_PREFIX = "aff"


class AffiliateCreate(RequestModel):
    EXAMPLE = {"name": "Media buyer 7"}

    name: Name


class AffiliatePatch(PatchModel):
    EXAMPLE = {"status": "paused"}

    name: Name | None = None
    status: AffiliateStatus | None = None


class AffiliateOut(BaseModel):
    id: int
    name: str
    status: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, affiliate: Affiliate) -> AffiliateOut:
        return cls(
            id=affiliate.id,
            name=affiliate.name,
            status=affiliate.status,
            created_at=affiliate.created_at,
            updated_at=affiliate.updated_at,
        )


class AffiliateWithKey(AffiliateOut):
    api_key: str

    @classmethod
    def with_key(cls, affiliate: Affiliate, api_key: str) -> AffiliateWithKey:
        return cls(**AffiliateOut.of(affiliate).model_dump(), api_key=api_key)


class AffiliateList(BaseModel):
    items: list[AffiliateOut]
    next_cursor: str | None = None


AffiliateId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def create_affiliate(body: AffiliateCreate, ctx: ContextDep, _: AdminDep) -> ApiResponse:
    api_key = new_api_key(KEY_PREFIX)
    affiliate = await ctx.store.create_affiliate(body.name, hash_key(api_key))
    return reply(AffiliateWithKey.with_key(affiliate, api_key), 201)


async def list_affiliates(
    ctx: ContextDep,
    _: AdminDep,
    page: PageDep,
    status: Annotated[
        AffiliateStatus | None, Query(description="default: active and paused, not archived")
    ] = None,
) -> ApiResponse:
    statuses = WORKING_SET if status is None else (status,)
    found = await ctx.store.list_affiliates(statuses=statuses, limit=page.limit, cursor=page.cursor)
    items = [AffiliateOut.of(a) for a in found.items]
    return reply(AffiliateList(items=items, next_cursor=found.next_cursor))


async def get_affiliate(
    affiliate_id: AffiliateId, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    affiliate = await ctx.store.get_affiliate(affiliate_id) if caller.owns(affiliate_id) else None
    if affiliate is None:
        raise NotFound(f"no affiliate {affiliate_id}")
    return reply(AffiliateOut.of(affiliate))


async def update_affiliate(
    affiliate_id: AffiliateId, body: AffiliatePatch, ctx: ContextDep, _: AdminDep
) -> ApiResponse:
    changes = body.changes()
    if changes:
        affiliate = await ctx.store.update_affiliate(affiliate_id, changes)
    else:
        affiliate = await ctx.store.get_affiliate(affiliate_id)
    if affiliate is None:
        raise NotFound(f"no affiliate {affiliate_id}")
    return reply(AffiliateOut.of(affiliate))


async def replace_key(affiliate_id: AffiliateId, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    """A new API key; the old one stops working at once."""
    api_key = new_api_key(KEY_PREFIX)
    affiliate = None
    if caller.owns(affiliate_id):
        changes = {"api_key_hash": hash_key(api_key)}
        affiliate = await ctx.store.update_affiliate(affiliate_id, changes)
    if affiliate is None:
        raise NotFound(f"no affiliate {affiliate_id}")
    return reply(AffiliateWithKey.with_key(affiliate, api_key))


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
