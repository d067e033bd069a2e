"""Alert rules and their incidents (admin only). The workers check the rules; see
domain/alerts.py for what each kind measures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, Strict, StrictBool

from postback.domain.ids import new_webhook_secret
from postback.domain.records import Alert, Incident
from postback.domain.targets import check_url as check_target
from postback.errors import InvalidInput, NotFound
from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.services.paging import PageParams
from postback.services.schemas import (
    Id,
    Name,
    PatchModel,
    RequestModel,
    check_url,
    record_fields,
    record_view,
)
from postback.store.base import Page

Kind = Literal["no_conversions", "delivery_failures", "bad_tokens"]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000_000)]
Percent = Annotated[int, Strict(), Field(ge=0, le=100)]
Window = Annotated[int, Strict(), Field(ge=1, le=30 * 86_400)]
WebhookUrl = Annotated[str, AfterValidator(check_url)]


class AlertCreate(RequestModel):
    EXAMPLE = {
        "name": "Offer 3 stopped converting",
        "kind": "no_conversions",
        "offer_id": 3,
        "threshold": 200,
        "window_seconds": 7200,
        "webhook_url": "https://hooks.example/alerts",
    }

    name: Name
    kind: Kind
    offer_id: Id | None = Field(default=None, description="no_conversions: null = any offer")
    postback_id: Id | None = Field(default=None, description="delivery_failures: the config")
    threshold: Count = Field(
        default=1,
        description="no_conversions: least clicks; delivery_failures: least attempts; "
        "bad_tokens: refusals allowed before it fires",
    )
    percent: Percent = Field(default=50, description="delivery_failures: failure rate above")
    window_seconds: Window = 3600
    webhook_url: WebhookUrl
    active: StrictBool = True


class AlertPatch(PatchModel):
    EXAMPLE = {"threshold": 500, "active": False}

    NULLABLE = frozenset({"offer_id"})

    name: Name | None = None
    offer_id: Id | None = None
    postback_id: Id | None = None
    threshold: Count | None = None
    percent: Percent | None = None
    window_seconds: Window | None = None
    webhook_url: WebhookUrl | None = None
    active: StrictBool | None = None


@record_view(
    Alert,
    include=(
        "id",
        "name",
        "kind",
        "offer_id",
        "postback_id",
        "threshold",
        "percent",
        "window_seconds",
        "webhook_url",
        "secret",
        "active",
        "state",
        "state_since",
        "checked_at",
        "created_at",
        "updated_at",
    ),
    info={
        "secret": Field(description="whsec_ key of the webhook-signature header"),
        "state": Field(description="ok or firing"),
    },
)
class AlertOut(BaseModel):
    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls.model_validate(record_fields(alert))


# Every field of the record (an incident holds nothing the admin may not see).
@record_view(
    Incident,
    info={
        "kind": Field(description="fired or recovered"),
        "detail": Field(description="what was measured"),
        "notify_state": Field(description="pending, sent or failed"),
    },
)
class IncidentOut(BaseModel):
    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls.model_validate(record_fields(incident))


async def _check(ctx: AppContext, fields: dict[str, Any]) -> None:
    """References exist, the kind has what it needs, the webhook is an allowed target."""
    refused = check_target(fields["webhook_url"], ctx.settings.target_policy)
    if refused is not None:
        raise InvalidInput("webhook_url", refused)
    if fields["kind"] == "delivery_failures":
        if fields.get("postback_id") is None:
            raise InvalidInput("postback_id", "delivery_failures needs the postback config")
        if await ctx.store.get_postback(fields["postback_id"]) is None:
            raise InvalidInput("postback_id", f"no postback {fields['postback_id']}")
    if fields.get("offer_id") is not None and await ctx.store.get_offer(fields["offer_id"]) is None:
        raise InvalidInput("offer_id", f"no offer {fields['offer_id']}")


async def create_alert(ctx: AppContext, caller: Caller, body: AlertCreate) -> Alert:
    admin_only(caller)
    fields = body.model_dump()
    await _check(ctx, fields)
    return await ctx.store.create_alert({**fields, "secret": new_webhook_secret()})


async def list_alerts(ctx: AppContext, caller: Caller, page: PageParams) -> Page:
    """Alert records, newest first."""
    admin_only(caller)
    return await ctx.store.list_alerts(limit=page.limit, cursor=page.cursor)


async def get_alert(ctx: AppContext, caller: Caller, alert_id: int) -> Alert:
    admin_only(caller)
    alert = await ctx.store.get_alert(alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


async def update_alert(ctx: AppContext, caller: Caller, alert_id: int, body: AlertPatch) -> Alert:
    """The changes sent, checked against the rule as it will be."""
    alert = await get_alert(ctx, caller, alert_id)
    changes = body.changes()
    if not changes:
        return alert
    current = {
        "kind": alert.kind,
        "webhook_url": alert.webhook_url,
        "postback_id": alert.postback_id,
        "offer_id": alert.offer_id,
    }
    await _check(ctx, {**current, **changes})
    updated = await ctx.store.update_alert(alert_id, changes)
    if updated is None:
        raise NotFound(f"no alert {alert_id}")
    return updated


async def delete_alert(ctx: AppContext, caller: Caller, alert_id: int) -> None:
    """The rule and its incidents."""
    admin_only(caller)
    if not await ctx.store.delete_alert(alert_id):
        raise NotFound(f"no alert {alert_id}")


async def list_incidents(
    ctx: AppContext, caller: Caller, page: PageParams, alert_id: int | None = None
) -> Page:
    """Incident records, newest first: of one rule (NotFound if there is none) or all."""
    admin_only(caller)
    if alert_id is not None:
        await get_alert(ctx, caller, alert_id)
    return await ctx.store.list_incidents(alert_id=alert_id, limit=page.limit, cursor=page.cursor)
