"""Affiliates: who sends the traffic (admin only; each affiliate sees itself through its key)."""

from __future__ import annotations

from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.store.base import Page

# Archived affiliates are out of the working set, kept for what names them.
WORKING_SET = ("active", "paused")


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
