"""Outgoing postback configs. An affiliate manages only its own; the admin all of them.

Macros are checked when a config is saved, so nothing ever goes out with a raw `{...}`:
affiliate configs may use POSTBACK_MACROS, network-level ones (affiliate_id null) also
{revenue} and {profit}. Both may use `{attr.<name>}` (conversion attributes); for an
affiliate config they expand empty unless the offer lets its affiliates have personal data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from postback.domain.catalog import outgoing_template
from postback.domain.ids import new_webhook_secret
from postback.domain.macros import (
    NETWORK_MACROS,
    NETWORK_ONLY_MACROS,
    POSTBACK_MACROS,
    Encoding,
    expand,
)
from postback.domain.records import Affiliate, Offer, PostbackConfig
from postback.domain.targets import Policy
from postback.domain.targets import check_url as check_target
from postback.domain.templates import outgoing_url
from postback.errors import InvalidInput, NotFound
from postback.services import offers
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.services.schemas import (
    MAX_TEMPLATE_LENGTH,
    Id,
    PatchModel,
    RequestModel,
    check_url,
    clean_text,
    known_list,
    macro_problem,
    record_fields,
    record_view,
)
from postback.store.base import Page

BODY_NEEDS_POST = "a body is only sent with method POST"


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _alone_star(values: list[str]) -> list[str]:
    unique = list(dict.fromkeys(values))
    if "*" in unique and len(unique) > 1:
        raise ValueError('"*" (all) stands alone')
    return unique


Method = Annotated[Literal["GET", "POST"], BeforeValidator(_upper)]
ContentType = Literal["application/json", "application/x-www-form-urlencoded"]
EventName = Annotated[str, StringConstraints(pattern=r"^(?:[A-Za-z0-9_.:-]{1,64}|\*)$")]
Events = Annotated[
    list[EventName],
    Field(min_length=1, max_length=100, description='event names, or ["*"] for all'),
    AfterValidator(_alone_star),
]
StatusOrAll = Literal["pending", "approved", "rejected", "refunded", "chargeback", "*"]
OurStatus = Literal["pending", "approved", "rejected", "refunded", "chargeback"]
TheirWord = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
OutgoingStatusMap = Annotated[
    dict[OurStatus, TheirWord],
    Field(description="our status -> the receiver's word for it, sent as {status}"),
]
Statuses = Annotated[
    list[StatusOrAll],
    Field(min_length=1, max_length=6, description='statuses, or ["*"] for all'),
    AfterValidator(_alone_star),
]
UrlTemplate = Annotated[str, AfterValidator(check_url)]
BodyTemplate = Annotated[str, Field(max_length=MAX_TEMPLATE_LENGTH), AfterValidator(clean_text)]


def _approved_only() -> list[StatusOrAll]:
    return ["approved"]


class PostbackCreate(RequestModel):
    EXAMPLE = {
        "affiliate_id": 7,
        "offer_id": None,
        "url": "https://tracker.example/postback?cid={sub1}&payout={payout}&status={status}",
        "method": "GET",
        "events": ["*"],
        "statuses": ["approved", "rejected"],
    }

    affiliate_id: Id | None = Field(
        default=None, description="null: a network-level integration that sees every conversion"
    )
    offer_id: Id | None = Field(default=None, description="null: every offer")
    url: UrlTemplate | None = Field(
        default=None, description="required unless `template` and `tracker_url` build it"
    )
    template: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")] | None = Field(
        default=None,
        description="an outgoing partner template (GET /templates): with `tracker_url`, "
        "fills url and statuses; the affiliate's click id travels in sub1",
    )
    tracker_url: UrlTemplate | None = Field(
        default=None, description="the affiliate tracker's base URL, for `template`"
    )
    method: Method = "GET"
    body: BodyTemplate | None = Field(
        default=None, description="POST template; null sends the full event"
    )
    content_type: ContentType = "application/json"
    events: Events = Field(default_factory=lambda: ["*"])
    statuses: Statuses = Field(default_factory=_approved_only)
    active: StrictBool = True
    status_map: OutgoingStatusMap = Field(default_factory=dict)
    omit_empty: StrictBool = Field(
        default=False, description="leave out URL parameters whose value comes out empty"
    )
    status_changes_only: StrictBool = Field(
        default=False,
        description="send nothing for an order's lifecycle stage that keeps its status "
        "(a tracker counts every approved it hears)",
    )

    @field_validator("body")
    @classmethod
    def _body_needs_post(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("method", "GET") != "POST":
            raise ValueError(BODY_NEEDS_POST)
        return value

    def filled(self) -> dict[str, Any]:
        """The config's fields, with what a template fills in."""
        fields = self.model_dump(exclude={"template", "tracker_url"})
        if self.template is None:
            if self.tracker_url is not None:
                raise InvalidInput("tracker_url", "tracker_url goes with a template")
            if self.url is None:
                raise InvalidInput("url", "url is required (or a template and tracker_url)")
            return fields
        template = outgoing_template(self.template)
        if self.url is not None:
            raise InvalidInput("url", "give either url or template with tracker_url")
        if self.tracker_url is None:
            raise InvalidInput("tracker_url", "a template needs the tracker's base URL")
        fields["url"] = outgoing_url(template, self.tracker_url)
        if "statuses" not in self.model_fields_set:
            fields["statuses"] = list(template.statuses)
        # A tracker hears our statuses in its own words, once per status, with no empty
        # parameter; what the caller set wins.
        defaults = {
            "status_map": dict(template.status_map),
            "omit_empty": True,
            "status_changes_only": True,
        }
        fields.update({k: v for k, v in defaults.items() if k not in self.model_fields_set})
        return fields


class PostbackPatch(PatchModel):
    EXAMPLE = {"active": False}

    NULLABLE = frozenset({"offer_id", "body"})

    offer_id: Id | None = None
    url: UrlTemplate | None = None
    method: Method | None = None
    body: BodyTemplate | None = None
    content_type: ContentType | None = None
    events: Events | None = None
    statuses: Statuses | None = None
    active: StrictBool | None = None
    status_map: OutgoingStatusMap | None = None
    omit_empty: StrictBool | None = None
    status_changes_only: StrictBool | None = None


# Never the previous secret of a rotation (its grace period shows in GET .../signing).
@record_view(
    PostbackConfig,
    include=(
        "id",
        "affiliate_id",
        "offer_id",
        "url",
        "method",
        "body",
        "content_type",
        "events",
        "statuses",
        "active",
        "status_map",
        "omit_empty",
        "status_changes_only",
        "secret",
        "created_at",
        "updated_at",
        "disabled_reason",
        "disabled_at",
    ),
    info={
        "secret": Field(description="whsec_ key of the webhook-signature header (POST)"),
        "disabled_reason": Field(
            default=None, description="why the workers switched it off; PATCH active=true resends"
        ),
        "disabled_at": Field(default=None),
    },
)
class PostbackOut(BaseModel):
    @classmethod
    def of(cls, config: PostbackConfig) -> PostbackOut:
        return cls.model_validate(record_fields(config))


def check_templates(url: str, body: str | None, network: bool, allow_private: Policy) -> None:
    """Every {macro} must be one this kind of config can expand, and the target allowed.

    The address policy is enforced again at connect time; this early check only makes a
    literal private address (in any spelling) a clear 400 when the config is saved.
    """
    refused = check_target(expand(url, {}, Encoding.URL), allow_private)
    if refused is not None:
        raise InvalidInput("url", refused)
    known = NETWORK_MACROS if network else POSTBACK_MACROS
    for param, template in (("url", url), ("body", body)):
        if template is None:
            continue
        problem = macro_problem(template, known, attributes=True)
        if problem is None:
            continue
        if not network and any(f"{{{name}}}" in template for name in NETWORK_ONLY_MACROS):
            problem += " ({revenue} and {profit} are only for network-level postbacks)"
        raise InvalidInput(param, problem, known=known_list(known))


async def _check_refs(ctx: AppContext, affiliate_id: int | None, offer_id: int | None) -> None:
    if affiliate_id is not None and await ctx.store.get_affiliate(affiliate_id) is None:
        raise InvalidInput("affiliate_id", f"no affiliate {affiliate_id}")
    if offer_id is not None and await ctx.store.get_offer(offer_id) is None:
        raise InvalidInput("offer_id", f"no offer {offer_id}")


async def owned_postback(
    ctx: AppContext, caller: Caller, postback_id: int, *, include_deleted: bool = False
) -> PostbackConfig:
    """One config this caller owns; NotFound otherwise (another affiliate's does not exist)."""
    config = await ctx.store.get_postback(postback_id, include_deleted=include_deleted)
    if config is None or not caller.owns(config.affiliate_id):
        raise NotFound(f"no postback {postback_id}")
    return config


def draft_affiliate(caller: Caller, body: PostbackCreate) -> int | None:
    """Whose config this body makes: an affiliate's key makes only its own."""
    if caller.affiliate is None:
        return body.affiliate_id
    if "affiliate_id" in body.model_fields_set and body.affiliate_id != caller.affiliate.id:
        raise InvalidInput("affiliate_id", "an affiliate key creates only its own postbacks")
    return caller.affiliate.id


async def create_postback(ctx: AppContext, caller: Caller, body: PostbackCreate) -> PostbackConfig:
    fields: dict[str, Any] = body.filled()
    fields["affiliate_id"] = draft_affiliate(caller, body)
    if caller.is_admin:
        await _check_refs(ctx, fields["affiliate_id"], None)
    await _check_refs(ctx, None, fields["offer_id"])
    check_templates(
        fields["url"],
        fields["body"],
        network=fields["affiliate_id"] is None,
        allow_private=ctx.settings.target_policy,
    )
    fields["secret"] = new_webhook_secret()
    return await ctx.store.create_postback(fields)


async def list_postbacks(
    ctx: AppContext,
    caller: Caller,
    limit: int,
    cursor: str | None,
    *,
    affiliate_id: int | None = None,
    offer_id: int | None = None,
) -> Page:
    """Configs newest first, of one affiliate or offer if asked; an affiliate sees its own
    only (asking for another's finds none)."""
    if caller.affiliate is not None:
        if affiliate_id not in (None, caller.affiliate.id):
            return Page(items=[], next_cursor=None)
        affiliate_id = caller.affiliate.id
    return await ctx.store.list_postbacks(
        affiliate_id, offer_id=offer_id, limit=limit, cursor=cursor
    )


async def update_postback(
    ctx: AppContext, caller: Caller, postback_id: int, body: PostbackPatch
) -> PostbackConfig:
    config = await owned_postback(ctx, caller, postback_id)
    changes = body.changes()
    if not changes:
        return config
    method = changes.get("method", config.method)
    template = changes.get("body", config.body)
    if template is not None and method != "POST":
        raise InvalidInput("body", f"{BODY_NEEDS_POST}; send body: null to drop it")
    await _check_refs(ctx, None, changes.get("offer_id"))
    check_templates(
        changes.get("url", config.url),
        template,
        network=config.network_level,
        allow_private=ctx.settings.target_policy,
    )
    updated = await ctx.store.update_postback(postback_id, changes)
    if updated is None:
        raise NotFound(f"no postback {postback_id}")
    return updated


async def delete_postback(ctx: AppContext, caller: Caller, postback_id: int) -> None:
    """Stops future deliveries; past deliveries and their attempts stay readable."""
    await owned_postback(ctx, caller, postback_id)
    if not await ctx.store.delete_postback(postback_id):
        raise NotFound(f"no postback {postback_id}")


async def choices(
    ctx: AppContext, caller: Caller, limit: int
) -> tuple[list[Offer], list[Affiliate]]:
    """The offers and affiliates a form lets this caller's config name: to an affiliate the
    offers it may see (and no affiliate list); to the admin every offer and affiliate,
    archived ones too, since a config may still name one."""
    if caller.affiliate is not None:
        return (await offers.list_offers(ctx, caller, None, limit, None)).items, []
    found = await ctx.store.list_offers(limit=limit)
    return found.items, (await ctx.store.list_affiliates(limit=limit)).items
