"""Advertisers: who sends us conversions, with their token, IP allow-list and status map.
Only the admin creates, reads and changes them."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, Strict, StrictBool

from postback.domain.ids import new_postback_token
from postback.domain.incoming import field_rule
from postback.domain.records import Advertiser
from postback.errors import NotFound
from postback.services import templates
from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.services.schemas import (
    Name,
    PatchModel,
    RequestModel,
    Timestamp,
    clean_text,
    record_fields,
    record_view,
)
from postback.store.base import Page

# Long enough for an advertiser to update its integration, short enough to matter.
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 30 * 24 * 3600

StatusName = Literal["pending", "approved", "rejected", "refunded", "chargeback"]


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"not an IP address or CIDR network: {value[:64]!r}") from None


Cidr = Annotated[str, Field(max_length=64), AfterValidator(_network)]
AllowedIps = Annotated[list[Cidr], Field(max_length=1000)]
TheirStatus = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(clean_text)]
StatusMap = Annotated[dict[TheirStatus, StatusName], Field(max_length=200)]


def _field_rules(value: dict[str, str]) -> dict[str, str]:
    for theirs, ours in value.items():
        field_rule(theirs, ours)  # ValueError: refused with its message
    return value


FieldMap = Annotated[
    dict[Annotated[str, Field(max_length=1040)], Annotated[str, Field(max_length=512)]],
    Field(max_length=100),
    AfterValidator(_field_rules),
]
TheirEvent = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
EventMap = Annotated[dict[TheirEvent, TheirEvent], Field(max_length=200)]
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]
PartnerSecret = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
PLATFORM_KEY_HELP = (
    "a sales platform's own secret (Hotmart hottok, Monetizze chave_unica, Kiwify token, "
    "Eduzz API key): its postbacks proving it need no token of ours; never shown back"
)
SIGNED_HELP = "true: `signature` and `ts` are read as a signed postback; else they are data"


class AdvertiserCreate(RequestModel):
    EXAMPLE = {
        "name": "Shop Inc.",
        "allowed_ips": ["203.0.113.0/24"],
        "status_map": {"1": "approved", "0": "rejected", "2": "pending"},
        "require_token": True,
    }

    name: Name
    allowed_ips: AllowedIps = Field(
        default_factory=list, description="CIDRs allowed to send postbacks; empty = any"
    )
    status_map: StatusMap = Field(
        default_factory=dict, description="their status value -> pending|approved|rejected|..."
    )
    require_token: StrictBool = True
    field_map: FieldMap = Field(
        default_factory=dict,
        description="their field name -> ours (click_id, txid, event, status, revenue, "
        "currency, token or attr.<name>); applies to postbacks that carry adv_id",
    )
    event_map: EventMap = Field(
        default_factory=dict, description="their event name -> ours (e.g. a lifecycle event)"
    )
    template: TemplateName | None = Field(
        default=None,
        description="a partner template (GET /templates): fills status_map, field_map and "
        "event_map; fields given here win",
    )
    partner_secret: PartnerSecret | None = Field(default=None, description=PLATFORM_KEY_HELP)
    signed_postbacks: StrictBool = Field(default=False, description=SIGNED_HELP)


class AdvertiserPatch(PatchModel):
    EXAMPLE = {"allowed_ips": ["203.0.113.0/24", "2001:db8::/32"]}

    NULLABLE = frozenset({"partner_secret"})

    name: Name | None = None
    allowed_ips: AllowedIps | None = None
    status_map: StatusMap | None = None
    field_map: FieldMap | None = None
    event_map: EventMap | None = None
    require_token: StrictBool | None = None
    partner_secret: PartnerSecret | None = Field(default=None, description=PLATFORM_KEY_HELP)
    signed_postbacks: StrictBool | None = Field(default=None, description=SIGNED_HELP)
    rotate_token: StrictBool | None = Field(
        default=None,
        description="true: issue a new postback_token; the old one stops working at once",
    )


GraceSeconds = Annotated[int, Strict(), Field(ge=0, le=MAX_GRACE_SECONDS)]


class TokenRotation(RequestModel):
    EXAMPLE = {"grace_seconds": 86400}

    grace_seconds: GraceSeconds = Field(
        default=DEFAULT_GRACE_SECONDS,
        description="how long the old token keeps working (0: stops at once; at most 30 days)",
    )


# The admin's view; a token replaced by a rotation is not shown again.
@record_view(
    Advertiser,
    include=(
        "id",
        "name",
        "postback_token",
        "allowed_ips",
        "status_map",
        "field_map",
        "event_map",
        "require_token",
        "template",
        "partner_secret_set",
        "signed_postbacks",
        "previous_token_valid_until",
        "created_at",
        "updated_at",
    ),
    extra={"previous_token_valid_until": Timestamp | None, "partner_secret_set": bool},
    info={
        "previous_token_valid_until": Field(
            description="after a rotation: until when the previous token is still accepted"
        ),
        "partner_secret_set": Field(description="whether a partner_secret is stored"),
    },
)
class AdvertiserOut(BaseModel):
    @classmethod
    def of(cls, advertiser: Advertiser) -> AdvertiserOut:
        grace_end = _grace_end(advertiser)
        return cls.model_validate(
            record_fields(
                advertiser,
                previous_token_valid_until=grace_end,
                partner_secret_set=advertiser.partner_secret is not None,
            )
        )


def _grace_end(advertiser: Advertiser) -> datetime | None:
    if advertiser.previous_token_until is None:
        return None
    if advertiser.previous_token_until <= datetime.now(UTC):
        return None
    return advertiser.previous_token_until


def view(advertiser: Advertiser) -> AdvertiserOut:
    """The advertiser as the admin sees it (the only caller who may)."""
    return AdvertiserOut.of(advertiser)


def _rotation(current: Advertiser | None, grace_seconds: int) -> dict[str, Any]:
    """Columns of a token rotation; the old token is kept only for a non-zero grace."""
    keep_old = current is not None and grace_seconds > 0
    return {
        "postback_token": new_postback_token(),
        "previous_token": current.postback_token if current is not None and keep_old else None,
        "previous_token_until": (
            datetime.now(UTC) + timedelta(seconds=grace_seconds) if keep_old else None
        ),
    }


async def create_advertiser(ctx: AppContext, caller: Caller, body: AdvertiserCreate) -> Advertiser:
    """A new advertiser with a fresh postback token; a template fills the maps not given."""
    admin_only(caller)
    fields = {**body.model_dump(), "postback_token": new_postback_token()}
    if body.template is not None:
        fields = templates.with_incoming(body.template, fields, body.model_fields_set)
    if body.partner_secret is not None:
        templates.check_partner_secret(body.template)
    return await ctx.store.create_advertiser(fields)


async def list_advertisers(ctx: AppContext, caller: Caller, limit: int, cursor: str | None) -> Page:
    admin_only(caller)
    return await ctx.store.list_advertisers(limit=limit, cursor=cursor)


async def get_advertiser(ctx: AppContext, caller: Caller, advertiser_id: int) -> Advertiser:
    admin_only(caller)
    advertiser = await ctx.store.get_advertiser(advertiser_id)
    if advertiser is None:
        raise NotFound(f"no advertiser {advertiser_id}")
    return advertiser


async def update_advertiser(
    ctx: AppContext, caller: Caller, advertiser_id: int, body: AdvertiserPatch
) -> Advertiser:
    """The changes given; `rotate_token` issues a new token, the old one refused at once."""
    admin_only(caller)
    changes: dict[str, Any] = body.changes()
    if changes.pop("rotate_token", False):
        changes.update(_rotation(None, 0))
    if not changes:
        return await get_advertiser(ctx, caller, advertiser_id)
    if changes.get("partner_secret") is not None:
        templates.check_partner_secret((await get_advertiser(ctx, caller, advertiser_id)).template)
    advertiser = await ctx.store.update_advertiser(advertiser_id, changes)
    if advertiser is None:
        raise NotFound(f"no advertiser {advertiser_id}")
    return advertiser


async def rotate_token(
    ctx: AppContext, caller: Caller, advertiser_id: int, body: TokenRotation | None
) -> Advertiser:
    """A new postback token; the old one is still accepted for `grace_seconds` (default a
    day)."""
    current = await get_advertiser(ctx, caller, advertiser_id)
    grace = body.grace_seconds if body is not None else DEFAULT_GRACE_SECONDS
    advertiser = await ctx.store.update_advertiser(advertiser_id, _rotation(current, grace))
    if advertiser is None:
        raise NotFound(f"no advertiser {advertiser_id}")
    return advertiser


async def delete_advertiser(ctx: AppContext, caller: Caller, advertiser_id: int) -> None:
    """Only an advertiser without offers can go (InUse otherwise: archive its offers)."""
    admin_only(caller)
    if not await ctx.store.delete_advertiser(advertiser_id):
        raise NotFound(f"no advertiser {advertiser_id}")
