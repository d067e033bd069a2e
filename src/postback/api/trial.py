"""POST /postbacks/{id}/test over HTTP: the rules are in services/trial.py.

The answer is the attempt itself; it is also kept in the config's test log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.postbacks import PostbackId
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import trial
from postback.services.trial import TrialOut, TrialRequest


class TrialList(BaseModel):
    items: list[TrialOut]
    next_cursor: str | None = None


async def test_postback(
    postback_id: PostbackId,
    ctx: ContextDep,
    caller: CallerDep,
    body: Annotated[TrialRequest | None, Body()] = None,
) -> ApiResponse:
    """Send the config once, now, and answer with what happened (kept in its test log)."""
    conversion_id = body.conversion_id if body is not None else None
    sent = await trial.test_postback(ctx, caller, postback_id, conversion_id)
    return reply(TrialOut.of(sent))


async def list_tests(
    postback_id: PostbackId, ctx: ContextDep, caller: CallerDep, page: PageDep
) -> ApiResponse:
    """The config's test log, newest first."""
    found = await trial.list_tests(ctx, caller, postback_id, page.limit, page.cursor)
    items = [TrialOut.of(t) for t in found.items]
    return reply(TrialList(items=items, next_cursor=found.next_cursor))


def build_router() -> APIRouter:
    router = new_router("postbacks")
    route(
        router,
        "POST /postbacks/{postback_id}/test",
        test_postback,
        TrialOut,
        "Send a config once with a sample (or the given) conversion",
    )
    route(router, "GET /postbacks/{postback_id}/tests", list_tests, TrialList, "The test log")
    return router
