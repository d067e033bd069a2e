"""How a postback config signs what it sends, over HTTP: the rules are in
services/postback_secrets.py.

POST /postbacks/{id}/secret issues a new `whsec_` secret, the old one signing as well for
`grace_seconds`; PATCH /postbacks/{id}/signing turns on the `signature` parameter on GET
postbacks. An affiliate key manages only its own configs, like the rest of /postbacks.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.postbacks import PostbackId
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import postback_secrets
from postback.services.postback_secrets import SecretRotation, SigningChange, SigningOut


async def rotate_secret(
    postback_id: PostbackId,
    ctx: ContextDep,
    caller: CallerDep,
    body: Annotated[SecretRotation | None, Body()] = None,
) -> ApiResponse:
    """A new secret; the old one keeps signing too for `grace_seconds` (default a day)."""
    return reply(await postback_secrets.rotate_secret(ctx, caller, postback_id, body))


async def get_signing(postback_id: PostbackId, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    return reply(await postback_secrets.signing(ctx, caller, postback_id))


async def change_signing(
    postback_id: PostbackId, body: SigningChange, ctx: ContextDep, caller: CallerDep
) -> ApiResponse:
    return reply(await postback_secrets.change_signing(ctx, caller, postback_id, body))


def build_router() -> APIRouter:
    router = new_router("postbacks")
    route(
        router,
        "POST /postbacks/{postback_id}/secret",
        rotate_secret,
        SigningOut,
        "Issue a new signing secret; the old one signs too for a grace period",
    )
    route(
        router,
        "GET /postbacks/{postback_id}/signing",
        get_signing,
        SigningOut,
        "How the config signs: secret, grace period, signed GET postbacks",
    )
    route(
        router,
        "PATCH /postbacks/{postback_id}/signing",
        change_signing,
        SigningOut,
        "Turn the signature parameter on GET postbacks on or off",
    )
    return router
