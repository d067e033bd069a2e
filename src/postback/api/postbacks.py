"""Outgoing postback configs over HTTP: the rules are in services/postbacks.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import postbacks
from postback.services.postbacks import PostbackCreate, PostbackOut, PostbackPatch, owned_postback
from postback.services.schemas import MAX_ID


class PostbackList(BaseModel):
    items: list[PostbackOut]
    next_cursor: str | None = None


PostbackId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def create_postback(body: PostbackCreate, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    config = await postbacks.create_postback(ctx, caller, body)
    return reply(PostbackOut.of(config), 201)


async def list_postbacks(
    ctx: ContextDep,
    caller: CallerDep,
    page: PageDep,
    affiliate_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ApiResponse:
    found = await postbacks.list_postbacks(
        ctx, caller, page.limit, page.cursor, affiliate_id=affiliate_id, offer_id=offer_id
    )
    items = [PostbackOut.of(c) for c in found.items]
    return reply(PostbackList(items=items, next_cursor=found.next_cursor))


async def get_postback(postback_id: PostbackId, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    return reply(PostbackOut.of(await owned_postback(ctx, caller, postback_id)))


async def update_postback(
    postback_id: PostbackId, body: PostbackPatch, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    config = await postbacks.update_postback(ctx, caller, postback_id, body)
    return reply(PostbackOut.of(config))


async def delete_postback(postback_id: PostbackId, ctx: ContextDep, caller: CallerDep) -> Response:
    """Stops future deliveries; past deliveries and their attempts stay readable."""
    await postbacks.delete_postback(ctx, caller, postback_id)
    return Response(status_code=204)


def build_router() -> APIRouter:
    router = new_router("postbacks")
    route(router, "POST /postbacks", create_postback, PostbackOut, "Create a config", 201)
    route(router, "GET /postbacks", list_postbacks, PostbackList, "List configs")
    route(router, "GET /postbacks/{postback_id}", get_postback, PostbackOut, "One config")
    route(router, "PATCH /postbacks/{postback_id}", update_postback, PostbackOut, "Change")
    route(router, "DELETE /postbacks/{postback_id}", delete_postback, None, "Delete", 204)
    return router
