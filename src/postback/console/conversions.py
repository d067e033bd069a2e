"""Conversions: a filterable list, and one conversion's whole trace (click, incoming
postbacks for the admin, status history, deliveries and their attempts) with resend
buttons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.web import (
    Visit,
    choice_param,
    id_param,
    page,
    path_id,
    pattern_param,
    redirect,
    shown,
)
from postback.services import conversions, deliveries
from postback.services.paging import PageParams, period

PAGE_SIZE = 50
STATUSES = ("pending", "approved", "rejected", "refunded", "chargeback")
EVENT = r"[A-Za-z0-9_.:-]{1,64}"
CLICK_ID = r"[A-Za-z0-9_-]{1,64}"
CURSOR = r"[0-9]{1,19}"


def filters_of(visit: Visit) -> dict[str, Any]:
    """The list's filters from the query string, checked like the API checks them."""
    return {
        "offer_id": id_param(visit.query("offer_id"), "offer_id"),
        "affiliate_id": id_param(visit.query("affiliate_id"), "affiliate_id"),
        "status": choice_param(visit.query("status"), "status", STATUSES),
        "event": pattern_param(visit.query("event"), "event", EVENT),
        "click_id": pattern_param(visit.query("click_id"), "click_id", CLICK_ID),
        "from": visit.query("from"),
        "to": visit.query("to"),
    }


async def list_conversions(visit: Visit) -> Response:
    asked = filters_of(visit)
    cursor = pattern_param(visit.query("cursor"), "cursor", CURSOR)
    between = period(asked["from"], asked["to"])
    found = await conversions.list_conversions(
        visit.ctx,
        visit.user,
        PageParams(PAGE_SIZE, cursor),
        between,
        offer_id=asked["offer_id"],
        affiliate_id=asked["affiliate_id"],
        status=asked["status"],
        event=asked["event"],
        click_id=asked["click_id"],
    )
    return visit.render(
        "conversions/list.html",
        conversions=shown(found.items),
        next_cursor=found.next_cursor,
        filters=asked,
        statuses=STATUSES,
    )


async def trace(visit: Visit) -> Response:
    conversion_id = path_id(visit, "conversion_id")
    conversion = await conversions.trace(visit.ctx, visit.user, conversion_id)
    return visit.render("conversions/trace.html", conversion=shown(conversion))


async def resend(visit: Visit) -> Response:
    """Make one delivery due now (the workers send it); back to its conversion's trace."""
    delivery_id = path_id(visit, "delivery_id")
    delivery = await deliveries.resend(visit.ctx, visit.user, delivery_id)
    return redirect(f"/conversions/{delivery.conversion_id}?resent={delivery_id}")


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /conversions", list_conversions)
    page(router, "GET /conversions/{conversion_id}", trace)
    page(router, "POST /deliveries/{delivery_id}/retry", resend)
    return router
