"""Offers: the list, create and edit forms (admin), and copy-ready tracking links.

An affiliate sees the active offers with its own tracking link, as in the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.web import (
    FormErrors,
    Visit,
    as_id,
    blank_to_none,
    choice_param,
    id_param,
    page,
    path_id,
    redirect,
    shown,
    submitted,
    validated,
)
from postback.domain.conversion import ATTRIBUTION_DAYS
from postback.services import advertisers, affiliates, links, offers
from postback.services.offers import OfferCreate, OfferPatch

STATUSES = ("active", "paused", "archived")
LIST_LIMIT = 500


async def list_offers(visit: Visit) -> Response:
    status = choice_param(visit.query("status"), "status", STATUSES)
    found = await offers.list_offers(visit.ctx, visit.user, status, LIST_LIMIT, None)
    views = [offers.view(o, visit.user, visit.base_url) for o in found.items]
    return visit.render("offers/list.html", offers=shown(views), status=status)


async def _choices(visit: Visit) -> dict[str, Any]:
    found = await advertisers.list_advertisers(visit.ctx, visit.user, LIST_LIMIT, None)
    return {"advertisers": found.items}


def _fields(visit: Visit) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "advertiser_id": as_id(visit.field("advertiser_id")),
        "name": visit.field("name"),
        "destination_url": visit.field("destination_url"),
        "fallback_url": blank_to_none(visit.field("fallback_url")),
        "bot_url": blank_to_none(visit.field("bot_url")),
        "revenue": visit.field("revenue"),
        "payout": visit.field("payout"),
        "currency": visit.field("currency") or "USD",
        "status": visit.field("status") or "active",
    }
    days = as_id(visit.field("attribution_days"))
    if days is not None:  # left blank: the default when created, unchanged when edited
        fields["attribution_days"] = days
    return fields


async def new_offer(visit: Visit) -> Response:
    await visit.admin_only()
    values = {"currency": "USD", "status": "active", "attribution_days": ATTRIBUTION_DAYS}
    choices = await _choices(visit)
    return visit.render("offers/form.html", offer=None, values=values, errors={}, **choices)


async def create_offer(visit: Visit) -> Response:
    caller = await visit.admin_only()
    values = _fields(visit)
    try:
        body = validated(OfferCreate, values)
        created = await submitted(offers.create_offer(visit.ctx, caller, body))
    except FormErrors as exc:
        return visit.render(
            "offers/form.html",
            400,
            offer=None,
            values=values,
            errors=exc.errors,
            **await _choices(visit),
        )
    return redirect(f"/offers/{created.id}?saved=1")


async def show_offer(visit: Visit) -> Response:
    offer_id = path_id(visit, "offer_id")
    found = await offers.visible_offer(visit.ctx, visit.user, offer_id)
    offer = shown(offers.view(found, visit.user, visit.base_url))
    context: dict[str, Any] = {"offer": offer, "values": offer, "errors": {}}
    if visit.is_admin:
        context.update(await _choices(visit))
        listed = await affiliates.list_affiliates(visit.ctx, visit.user, LIST_LIMIT, None)
        context["affiliates"] = listed.items
        aff_id = id_param(visit.query("aff_id"), "aff_id")
        if aff_id is not None:
            link = await links.tracking_link(
                visit.ctx, visit.user, visit.base_url, offer_id, aff_id
            )
            context["link"] = shown(link)
    else:
        link = await links.tracking_link(visit.ctx, visit.user, visit.base_url, offer_id, None)
        context["link"] = shown(link)
    return visit.render("offers/form.html", **context)


async def update_offer(visit: Visit) -> Response:
    caller = await visit.admin_only()
    offer_id = path_id(visit, "offer_id")
    offer = await offers.visible_offer(visit.ctx, caller, offer_id)
    values = _fields(visit)
    try:
        body = validated(OfferPatch, values)
        await submitted(offers.update_offer(visit.ctx, caller, offer_id, body))
    except FormErrors as exc:
        return visit.render(
            "offers/form.html",
            400,
            offer=shown(offers.view(offer, caller, visit.base_url)),
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
