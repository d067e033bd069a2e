"""Logs: incoming postbacks (admin) and outgoing deliveries, filtered by result, partner,
offer and time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.web import (
    Visit,
    choice_param,
    id_param,
    page,
    pattern_param,
    shown,
)
from postback.services import advertisers, deliveries, incoming
from postback.services.paging import PageParams, period

PAGE_SIZE = 100
ADVERTISERS_SHOWN = 500
CURSOR = r"[0-9]{1,19}"
RESULT = r"[a-z_]{1,32}"
INCOMING_RESULTS = (
    "created",
    "updated",
    "duplicate",
    "invalid_param",
    "bad_token",
    "ip_not_allowed",
    "unknown_click",
    "invalid_transition",
    "click_expired",
)
DELIVERY_STATES = ("pending", "delivered", "failed")


async def incoming_log(visit: Visit) -> Response:
    caller = await visit.admin_only()
    asked: dict[str, Any] = {
        "result": pattern_param(visit.query("result"), "result", RESULT),
        "advertiser_id": id_param(visit.query("advertiser_id"), "advertiser_id"),
        "click_id": pattern_param(visit.query("click_id"), "click_id", r"[A-Za-z0-9_-]{1,64}"),
        "from": visit.query("from"),
        "to": visit.query("to"),
    }
    cursor = pattern_param(visit.query("cursor"), "cursor", CURSOR)
    found = await incoming.list_incoming(
        visit.ctx,
        caller,
        PageParams(PAGE_SIZE, cursor),
        period(asked["from"], asked["to"]),
        result=asked["result"],
        advertiser_id=asked["advertiser_id"],
        click_id=asked["click_id"],
    )
    listed = await advertisers.list_advertisers(visit.ctx, caller, ADVERTISERS_SHOWN, None)
    return visit.render(
        "logs/incoming.html",
        rows=shown(found.items),
        next_cursor=found.next_cursor,
        filters=asked,
        results=INCOMING_RESULTS,
        advertisers=listed.items,
    )


async def outgoing_log(visit: Visit) -> Response:
    asked: dict[str, Any] = {
        "state": choice_param(visit.query("state"), "state", DELIVERY_STATES),
        "affiliate_id": id_param(visit.query("affiliate_id"), "affiliate_id"),
        "offer_id": id_param(visit.query("offer_id"), "offer_id"),
        "postback_id": id_param(visit.query("postback_id"), "postback_id"),
        "from": visit.query("from"),
        "to": visit.query("to"),
    }
    cursor = pattern_param(visit.query("cursor"), "cursor", CURSOR)
    found = await deliveries.list_deliveries(
        visit.ctx,
        visit.user,
        PageParams(PAGE_SIZE, cursor),
        period(asked["from"], asked["to"]),
        postback_id=asked["postback_id"],
        offer_id=asked["offer_id"],
        affiliate_id=asked["affiliate_id"],
        state=asked["state"],
    )
    return visit.render(
        "logs/outgoing.html",
        rows=shown(found.items),
        next_cursor=found.next_cursor,
        filters=asked,
        states=DELIVERY_STATES,
    )


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /logs/incoming", incoming_log)
    page(router, "GET /logs/outgoing", outgoing_log)
    return router
