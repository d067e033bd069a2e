"""Who is calling: `Authorization: Bearer <key>`, the admin key or an affiliate's key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from postback.api.context import ContextDep
from postback.domain.client_address import client_address
from postback.errors import TooManyRequests, Unauthorized
from postback.services.caller import Caller, admin_only, caller_for_key

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="The admin key, or an affiliate's key (sees only its own records)",
)


async def get_caller(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller a key names. A client address that failed too often is answered 429
    before its key is looked at (see services/ratelimit.py)."""
    ip = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        ctx.settings.trusted_proxy_networks,
    )
    wait = ctx.auth_failures.retry_after(ip)
    if wait is not None:
        raise TooManyRequests(
            f"too many failed authentications from {ip}; retry in {wait} s", retry_after=wait
        )
    try:
        if credentials is None:
            raise Unauthorized("an API key is required: Authorization: Bearer <key>")
        return await caller_for_key(ctx, credentials.credentials)
    except Unauthorized:
        await ctx.auth_failures.failed(ip)
        raise


CallerDep = Annotated[Caller, Depends(get_caller)]


async def require_admin(caller: CallerDep) -> Caller:
    return admin_only(caller)


AdminDep = Annotated[Caller, Depends(require_admin)]
