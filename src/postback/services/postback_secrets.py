"""How a postback config signs what it sends: secret rotation and signed GET postbacks.

A rotation issues a new `whsec_` secret. For `grace_seconds` the old one keeps signing as
well (both signatures go out), so the partner can switch keys without refusing a single
postback. Rotating again ends an earlier grace period at once: only one previous secret
is kept.

`sign_get` turns on the `signature` parameter on GET postbacks (the hex HMAC-SHA256 of
the URL as sent, with the same secret; see dispatch/signing.py).

An affiliate manages only its own configs; the admin all of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictInt

from postback.domain.ids import new_webhook_secret
from postback.domain.records import PostbackConfig
from postback.errors import NotFound
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.postbacks import owned_postback
from postback.services.schemas import RequestModel, Timestamp

# Long enough for a partner to deploy its new key, short enough to matter.
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 30 * 24 * 3600


class SecretRotation(RequestModel):
    EXAMPLE = {"grace_seconds": 86400}

    grace_seconds: StrictInt = Field(
        default=DEFAULT_GRACE_SECONDS,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="how long the old secret keeps signing too (0: stops at once; max 30 days)",
    )


class SigningChange(RequestModel):
    EXAMPLE = {"sign_get": True}

    sign_get: StrictBool = Field(
        description="true: GET postbacks carry a `signature` parameter (HMAC of the URL)"
    )


class SigningOut(BaseModel):
    postback_id: int
    secret: str = Field(description="the current whsec_ secret")
    previous_secret_valid_until: Timestamp | None = Field(
        description="after a rotation: until when the previous secret still signs as well"
    )
    sign_get: bool

    @classmethod
    def of(cls, config: PostbackConfig, now: datetime) -> SigningOut:
        graced = len(config.signing_secrets(now)) > 1
        return cls(
            postback_id=config.id,
            secret=config.secret,
            previous_secret_valid_until=config.previous_secret_until if graced else None,
            sign_get=config.sign_get,
        )


def rotation(current: PostbackConfig, grace_seconds: int, now: datetime) -> dict[str, Any]:
    """The columns of a rotation; the old secret is kept only for a non-zero grace."""
    keep_old = grace_seconds > 0
    return {
        "secret": new_webhook_secret(),
        "previous_secret": current.secret if keep_old else None,
        "previous_secret_until": now + timedelta(seconds=grace_seconds) if keep_old else None,
    }


async def _changed(ctx: AppContext, postback_id: int, changes: dict[str, Any]) -> PostbackConfig:
    updated = await ctx.store.update_postback(postback_id, changes)
    if updated is None:
        raise NotFound(f"no postback {postback_id}")
    return updated


async def rotate_secret(
    ctx: AppContext, caller: Caller, postback_id: int, body: SecretRotation | None
) -> SigningOut:
    """A new secret; the old one keeps signing too for `grace_seconds` (default a day)."""
    current = await owned_postback(ctx, caller, postback_id)
    now = datetime.now(UTC)
    grace = body.grace_seconds if body is not None else DEFAULT_GRACE_SECONDS
    updated = await _changed(ctx, postback_id, rotation(current, grace, now))
    return SigningOut.of(updated, now)


async def signing(ctx: AppContext, caller: Caller, postback_id: int) -> SigningOut:
    """How the config signs: its secret, the grace period of the previous one, sign_get."""
    config = await owned_postback(ctx, caller, postback_id)
    return SigningOut.of(config, datetime.now(UTC))


async def change_signing(
    ctx: AppContext, caller: Caller, postback_id: int, body: SigningChange
) -> SigningOut:
    """Signed GET postbacks on or off."""
    await owned_postback(ctx, caller, postback_id)
    updated = await _changed(ctx, postback_id, {"sign_get": body.sign_get})
    return SigningOut.of(updated, datetime.now(UTC))
