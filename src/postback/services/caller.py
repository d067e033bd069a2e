"""Who is calling: the admin or one affiliate, identified by a key; the rights that follow."""

from __future__ import annotations

from dataclasses import dataclass

from postback.domain.ids import hash_key, same_secret
from postback.domain.records import Affiliate
from postback.errors import NotFound, Unauthorized
from postback.services.context import AppContext

MAX_KEY_LENGTH = 512


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


ADMIN = Caller(affiliate=None)


def admin_only(caller: Caller) -> Caller:
    """An affiliate sees nothing of the admin's resources: they do not exist for it."""
    if not caller.is_admin:
        raise NotFound("no such resource")
    return caller


async def caller_for_key(ctx: AppContext, key: str) -> Caller:
    """The caller a key names (API and console login ask the same); Unauthorized if none."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unauthorized("invalid API key")
    return await caller_for_digest(ctx, hash_key(key))


async def caller_for_digest(ctx: AppContext, digest: str) -> Caller:
    """The caller whose key hashes to `digest`: the admin, or an active affiliate."""
    admin_hash = ctx.admin_key_hash()
    if admin_hash is not None and same_secret(digest, admin_hash):
        return ADMIN
    affiliate = await ctx.store.find_affiliate_by_key_hash(digest)
    if affiliate is None:
        raise Unauthorized("invalid API key")
    if not affiliate.active:
        raise Unauthorized("this affiliate is not active; its key is refused")
    return Caller(affiliate=affiliate)
