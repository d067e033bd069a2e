"""Alert rules and their incidents (admin only). The workers check the rules; see
domain/alerts.py for what each kind measures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import AfterValidator, BaseModel, Field, Strict, StrictBool

from postback.api.auth import AdminDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.domain.ids import new_webhook_secret
from postback.domain.records import Alert, Incident
from postback.domain.targets import check_url as check_target
from postback.errors import InvalidInput, NotFound
from postback.services.context import AppContext
from postback.services.schemas import (
    MAX_ID,
    Id,
    Name,
    PatchModel,
    RequestModel,
    Timestamp,
    check_url,
)

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


class AlertOut(BaseModel):
    id: int
    name: str
    kind: str
    offer_id: int | None
    postback_id: int | None
    threshold: int
    percent: int
    window_seconds: int
    webhook_url: str
    secret: str = Field(description="whsec_ key of the webhook-signature header")
    active: bool
    state: str = Field(description="ok or firing")
    state_since: Timestamp | None
    checked_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls(
            id=alert.id,
            name=alert.name,
            kind=alert.kind,
            offer_id=alert.offer_id,
            postback_id=alert.postback_id,
            threshold=alert.threshold,
            percent=alert.percent,
            window_seconds=alert.window_seconds,
            webhook_url=alert.webhook_url,
            secret=alert.secret,
            active=alert.active,
            state=alert.state,
            state_since=alert.state_since,
            checked_at=alert.checked_at,
            created_at=alert.created_at,
            updated_at=alert.updated_at,
        )


class AlertList(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None = None


class IncidentOut(BaseModel):
    id: int
    alert_id: int
    kind: str = Field(description="fired or recovered")
    detail: dict[str, int] = Field(description="what was measured")
    created_at: Timestamp
    notify_state: str = Field(description="pending, sent or failed")
    notify_attempts: int
    status_code: int | None
    last_error: str | None
    notified_at: Timestamp | None

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls(
            id=incident.id,
            alert_id=incident.alert_id,
            kind=incident.kind,
            detail=incident.detail,
            created_at=incident.created_at,
            notify_state=incident.notify_state,
            notify_attempts=incident.notify_attempts,
            status_code=incident.status_code,
            last_error=incident.last_error,
            notified_at=incident.notified_at,
        )


class IncidentList(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = None


AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]


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


async def create_alert(body: AlertCreate, ctx: ContextDep, _: AdminDep) -> ApiResponse:
    fields = body.model_dump()
    await _check(ctx, fields)
    alert = await ctx.store.create_alert({**fields, "secret": new_webhook_secret()})
    return reply(AlertOut.of(alert), 201)


async def list_alerts(ctx: ContextDep, _: AdminDep, page: PageDep) -> ApiResponse:
    found = await ctx.store.list_alerts(limit=page.limit, cursor=page.cursor)
    return reply(
        AlertList(items=[AlertOut.of(a) for a in found.items], next_cursor=found.next_cursor)
    )


async def _alert(ctx: AppContext, alert_id: int) -> Alert:
    alert = await ctx.store.get_alert(alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


async def get_alert(alert_id: AlertId, ctx: ContextDep, _: AdminDep) -> ApiResponse:
    return reply(AlertOut.of(await _alert(ctx, alert_id)))


async def update_alert(
    alert_id: AlertId, body: AlertPatch, ctx: ContextDep, _: AdminDep
) -> ApiResponse:
    alert = await _alert(ctx, alert_id)
    changes = body.changes()
    if not changes:
        return reply(AlertOut.of(alert))
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
    return reply(AlertOut.of(updated))


async def delete_alert(alert_id: AlertId, ctx: ContextDep, _: AdminDep) -> Response:
    """The rule and its incidents."""
    if not await ctx.store.delete_alert(alert_id):
        raise NotFound(f"no alert {alert_id}")
    return Response(status_code=204)


async def alert_incidents(
    alert_id: AlertId, ctx: ContextDep, _: AdminDep, page: PageDep
) -> ApiResponse:
    await _alert(ctx, alert_id)
    found = await ctx.store.list_incidents(alert_id=alert_id, limit=page.limit, cursor=page.cursor)
    items = [IncidentOut.of(i) for i in found.items]
    return reply(IncidentList(items=items, next_cursor=found.next_cursor))


async def list_incidents(ctx: ContextDep, _: AdminDep, page: PageDep) -> ApiResponse:
    found = await ctx.store.list_incidents(limit=page.limit, cursor=page.cursor)
    items = [IncidentOut.of(i) for i in found.items]
    return reply(IncidentList(items=items, next_cursor=found.next_cursor))


def build_router() -> APIRouter:
    router = new_router("alerts")
    route(router, "POST /alerts", create_alert, AlertOut, "Create an alert rule (admin)", 201)
    route(router, "GET /alerts", list_alerts, AlertList, "List alert rules (admin)")
    route(router, "GET /alerts/{alert_id}", get_alert, AlertOut, "One alert rule (admin)")
    route(router, "PATCH /alerts/{alert_id}", update_alert, AlertOut, "Change (admin)")
    route(router, "DELETE /alerts/{alert_id}", delete_alert, None, "Delete (admin)", 204)
    route(
        router,
        "GET /alerts/{alert_id}/incidents",
        alert_incidents,
        IncidentList,
        "Incidents of one rule (admin)",
    )
    route(router, "GET /incidents", list_incidents, IncidentList, "Every incident (admin)")
    return router
