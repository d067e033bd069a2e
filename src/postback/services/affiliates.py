"""Affiliates: who sends the traffic. The admin creates and changes them; an affiliate sees
only itself. Its API key is shown once, at creation (or when replaced), and kept hashed."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from postback.domain.ids import hash_key, new_api_key
from postback.domain.records import Affiliate
from postback.errors import NotFound
from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.services.schemas import Name, PatchModel, RequestModel, record_fields, record_view
from postback.store.base import Page

# Archived (status "archived"): out of the working set, its key refused, its records kept.
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


# What the admin, or the affiliate itself, sees.
@record_view(Affiliate, include=("id", "name", "status", "created_at", "updated_at"))
class AffiliateOut(BaseModel):
    @classmethod
    def of(cls, affiliate: Affiliate) -> AffiliateOut:
        return cls.model_validate(record_fields(affiliate))


class AffiliateWithKey(AffiliateOut):
    api_key: str

    @classmethod
    def with_key(cls, affiliate: Affiliate, api_key: str) -> AffiliateWithKey:
        return cls.model_validate(record_fields(affiliate, api_key=api_key))


def view(affiliate: Affiliate) -> AffiliateOut:
    """The affiliate as the admin, or the affiliate itself, sees it."""
    return AffiliateOut.of(affiliate)


async def create_affiliate(
    ctx: AppContext, caller: Caller, body: AffiliateCreate
) -> AffiliateWithKey:
    """A new affiliate and its API key, shown this once."""
    admin_only(caller)
    api_key = new_api_key(KEY_PREFIX)
    affiliate = await ctx.store.create_affiliate(body.name, hash_key(api_key))
    return AffiliateWithKey.with_key(affiliate, api_key)


async def list_affiliates(
    ctx: AppContext,
    caller: Caller,
    limit: int,
    cursor: str | None,
    status: str | None = None,
) -> Page:
    """Newest first; by default the working set, or the affiliates of one status."""
    admin_only(caller)
    statuses = WORKING_SET if status is None else (status,)
    return await ctx.store.list_affiliates(statuses=statuses, limit=limit, cursor=cursor)


async def visible_affiliate(ctx: AppContext, caller: Caller, affiliate_id: int) -> Affiliate:
    """One affiliate, to the admin or to itself; to any other affiliate it does not exist."""
    affiliate = await ctx.store.get_affiliate(affiliate_id) if caller.owns(affiliate_id) else None
    if affiliate is None:
        raise NotFound(f"no affiliate {affiliate_id}")
    return affiliate


async def update_affiliate(
    ctx: AppContext, caller: Caller, affiliate_id: int, body: AffiliatePatch
) -> Affiliate:
    admin_only(caller)
    changes = body.changes()
    if not changes:
        return await visible_affiliate(ctx, caller, affiliate_id)
    affiliate = await ctx.store.update_affiliate(affiliate_id, changes)
    if affiliate is None:
        raise NotFound(f"no affiliate {affiliate_id}")
    return affiliate


async def replace_key(ctx: AppContext, caller: Caller, affiliate_id: int) -> AffiliateWithKey:
    """A new API key, shown this once (to the admin or the affiliate itself); the old one
    stops working at once."""
    if not caller.owns(affiliate_id):
        raise NotFound(f"no affiliate {affiliate_id}")
    api_key = new_api_key(KEY_PREFIX)
    affiliate = await ctx.store.update_affiliate(affiliate_id, {"api_key_hash": hash_key(api_key)})
    if affiliate is None:
        raise NotFound(f"no affiliate {affiliate_id}")
    return AffiliateWithKey.with_key(affiliate, api_key)
