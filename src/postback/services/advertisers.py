"""Advertisers: whose offers they are and who calls /postback (admin only)."""

from __future__ import annotations

from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.store.base import Page


async def list_advertisers(ctx: AppContext, caller: Caller, limit: int, cursor: str | None) -> Page:
    admin_only(caller)
    return await ctx.store.list_advertisers(limit=limit, cursor=cursor)
