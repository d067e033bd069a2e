"""Alert rules and their incidents over HTTP (admin only): the rules are in
services/alerts.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from postback.api.auth import AdminDep
from postback.api.context import ContextDep
from postback.api.paging import PageDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import alerts
from postback.services.alerts import AlertCreate, AlertOut, AlertPatch, IncidentOut
from postback.services.schemas import MAX_ID
from postback.store.base import Page


class AlertList(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None = None


class IncidentList(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = None


AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _incidents(found: Page) -> IncidentList:
    items = [IncidentOut.of(i) for i in found.items]
    return IncidentList(items=items, next_cursor=found.next_cursor)


async def create_alert(body: AlertCreate, ctx: ContextDep, caller: AdminDep) -> ApiResponse:
    return reply(AlertOut.of(await alerts.create_alert(ctx, caller, body)), 201)


async def list_alerts(ctx: ContextDep, caller: AdminDep, page: PageDep) -> ApiResponse:
    found = await alerts.list_alerts(ctx, caller, page)
    return reply(
        AlertList(items=[AlertOut.of(a) for a in found.items], next_cursor=found.next_cursor)
    )


async def get_alert(alert_id: AlertId, ctx: ContextDep, caller: AdminDep) -> ApiResponse:
    return reply(AlertOut.of(await alerts.get_alert(ctx, caller, alert_id)))


async def update_alert(
    alert_id: AlertId, body: AlertPatch, ctx: ContextDep, caller: AdminDep
) -> ApiResponse:
    return reply(AlertOut.of(await alerts.update_alert(ctx, caller, alert_id, body)))


async def delete_alert(alert_id: AlertId, ctx: ContextDep, caller: AdminDep) -> Response:
    """The rule and its incidents."""
    await alerts.delete_alert(ctx, caller, alert_id)
    return Response(status_code=204)


async def alert_incidents(
    alert_id: AlertId, ctx: ContextDep, caller: AdminDep, page: PageDep
) -> ApiResponse:
    return reply(_incidents(await alerts.list_incidents(ctx, caller, page, alert_id)))


async def list_incidents(ctx: ContextDep, caller: AdminDep, page: PageDep) -> ApiResponse:
    return reply(_incidents(await alerts.list_incidents(ctx, caller, page)))


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
