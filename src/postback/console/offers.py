"""Offers: the list, create and edit forms (admin), and copy-ready tracking links.

An affiliate sees the active offers with its own tracking link, as in the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.api import links
from postback.api import offers as api
from postback.api.paging import PageParams
from postback.console.web import (
    FormErrors,
    Visit,
    api_json,
    as_id,
    blank_to_none,
    choice_param,
    id_param,
    page,
    path_id,
    redirect,
    validated,
)

STATUSES = ("active", "paused", "archived")
LIST_LIMIT = 500


async def list_offers(visit: Visit) -> Response:
    status = choice_param(visit.query("status"), "status", STATUSES)
    found = await api_json(
        api.list_offers(
            visit.ctx,
            visit.user,
            visit.request,
            PageParams(LIST_LIMIT, None),
            status,  # type: ignore[arg-type]
        )
    )
    return visit.render("offers/list.html", offers=found["items"], status=status)


async def _choices(visit: Visit) -> dict[str, Any]:
    found = await visit.ctx.store.list_advertisers(limit=LIST_LIMIT)
    return {"advertisers": found.items}


def _fields(visit: Visit) -> dict[str, Any]:
    return {
        "advertiser_id": as_id(visit.field("advertiser_id")),
        "name": visit.field("name"),
        "destination_url": visit.field("destination_url"),
        "fallback_url": blank_to_none(visit.field("fallback_url")),
        "revenue": visit.field("revenue"),
        "payout": visit.field("payout"),
        "currency": visit.field("currency") or "USD",
        "status": visit.field("status") or "active",
    }


async def new_offer(visit: Visit) -> Response:
    await visit.admin_only()
    values = {"currency": "USD", "status": "active"}
    choices = await _choices(visit)
    return visit.render("offers/form.html", offer=None, values=values, errors={}, **choices)


async def create_offer(visit: Visit) -> Response:
    caller = await visit.admin_only()
    values = _fields(visit)
    try:
        body = validated(api.OfferCreate, values)
        created = await api_json(api.create_offer(body, visit.ctx, caller))
    except FormErrors as exc:
        return visit.render(
            "offers/form.html",
            400,
            offer=None,
            values=values,
            errors=exc.errors,
            **await _choices(visit),
        )
    return redirect(f"/offers/{created['id']}?saved=1")


async def show_offer(visit: Visit) -> Response:
    offer_id = path_id(visit, "offer_id")
    offer = await api_json(api.get_offer(offer_id, visit.ctx, visit.user, visit.request))
    context: dict[str, Any] = {"offer": offer, "values": offer, "errors": {}}
    if visit.is_admin:
        context.update(await _choices(visit))
        context["affiliates"] = (await visit.ctx.store.list_affiliates(limit=LIST_LIMIT)).items
        aff_id = id_param(visit.query("aff_id"), "aff_id")
        if aff_id is not None:
            context["link"] = await api_json(
                links.tracking_link(visit.ctx, visit.user, visit.request, offer_id, aff_id)
            )
    else:
        context["link"] = await api_json(
            links.tracking_link(visit.ctx, visit.user, visit.request, offer_id, None)
        )
    return visit.render("offers/form.html", **context)


async def update_offer(visit: Visit) -> Response:
    caller = await visit.admin_only()
    offer_id = path_id(visit, "offer_id")
    offer = await api_json(api.get_offer(offer_id, visit.ctx, caller, visit.request))
    values = _fields(visit)
    try:
        body = validated(api.OfferPatch, values)
        await api_json(api.update_offer(offer_id, body, visit.ctx, caller))
    except FormErrors as exc:
        return visit.render(
            "offers/form.html",
            400,
            offer=offer,
            values=values,
            errors=exc.errors,
            affiliates=[],
            **await _choices(visit),
        )
    return redirect(f"/offers/{offer_id}?saved=1")


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /offers", list_offers)
    page(router, "GET /offers/new", new_offer)
    page(router, "POST /offers/new", create_offer)
    page(router, "GET /offers/{offer_id}", show_offer)
    page(router, "POST /offers/{offer_id}", update_offer)
    return router
