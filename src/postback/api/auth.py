"""Who is calling: `Authorization: Bearer <key>`, the admin key or an affiliate's key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from postback.api.context import ApiContext, ContextDep
from postback.domain.ids import hash_key, same_secret
from postback.domain.records import Affiliate
from postback.edge.http import client_ip
from postback.errors import NotFound, TooManyRequests, Unauthorized

MAX_KEY_LENGTH = 512

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="The admin key, or an affiliate's key (sees only its own records)",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The admin (affiliate is None) or one affiliate."""

    affiliate: Affiliate | None

    @property
    def is_admin(self) -> bool:
        return self.affiliate is None

    @property
    def affiliate_id(self) -> int | None:
        return None if self.affiliate is None else self.affiliate.id

    def owns(self, affiliate_id: int | None) -> bool:
        """The admin owns everything; an affiliate only its own records."""
        return self.affiliate is None or affiliate_id == self.affiliate.id


async def get_caller(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller a key names. A client address that failed too often is answered 429
    before its key is looked at (see edge/ratelimit.py)."""
    ip = client_ip(request.scope, ctx.settings.trusted_proxy_networks)
    wait = ctx.auth_failures.retry_after(ip)
    if wait is not None:
        raise TooManyRequests(
            f"too many failed authentications from {ip}; retry in {wait} s", retry_after=wait
        )
    try:
        return await _identify(ctx, credentials)
    except Unauthorized:
        ctx.auth_failures.failed(ip)
        raise


async def _identify(ctx: ApiContext, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None:
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    return await caller_for_key(ctx, credentials.credentials)


async def caller_for_key(ctx: ApiContext, key: str) -> Caller:
    """The caller a key names (the console's login asks the same); Unauthorized if none."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unauthorized("invalid API key")
    return await caller_for_digest(ctx, hash_key(key))


async def caller_for_digest(ctx: ApiContext, digest: str) -> Caller:
    """The caller whose key hashes to `digest`: the admin, or an active affiliate."""
    admin_hash = ctx.admin_key_hash()
    if admin_hash is not None and same_secret(digest, admin_hash):
        return Caller(affiliate=None)
    affiliate = await ctx.store.find_affiliate_by_key_hash(digest)
    if affiliate is None:
        raise Unauthorized("invalid API key")
    if not affiliate.active:
        raise Unauthorized("this affiliate is not active; its key is refused")
    return Caller(affiliate=affiliate)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def require_admin(caller: CallerDep) -> Caller:
    # An affiliate key sees nothing of the admin's resources: they do not exist for it.
    if not caller.is_admin:
        raise NotFound("no such resource")
    return caller


AdminDep = Annotated[Caller, Depends(require_admin)]
