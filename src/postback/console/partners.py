"""Advertisers (with the postback URL to hand them) and affiliates (with the key shown
once at creation): lists and forms, for the admin only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.web import (
    FormErrors,
    Visit,
    choice_param,
    page,
    path_id,
    redirect,
    shown,
    submitted,
    validated,
)
from postback.domain.catalog import INCOMING, PLATFORMS, known_incoming
from postback.services import advertisers, affiliates, links
from postback.services.advertisers import AdvertiserCreate, AdvertiserPatch
from postback.services.affiliates import AffiliateCreate, AffiliatePatch
from postback.services.caller import Caller
from postback.services.links import SYNTAX

LIST_LIMIT = 500
SYNTAXES = tuple(SYNTAX)


def _ips(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def _status_map(text: str) -> dict[str, str] | str:
    """`their=ours` per line; a line without '=' is returned as text for the model to
    refuse with its own message."""
    mapping: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        theirs, sep, ours = line.partition("=")
        if not sep:
            return line
        mapping[theirs.strip()] = ours.strip()
    return mapping


def _advertiser_fields(visit: Visit, creating: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": visit.field("name"),
        "allowed_ips": _ips(visit.field("allowed_ips")),
        "status_map": _status_map(visit.field("status_map")),
        "require_token": visit.checked("require_token"),
    }
    # Empty: no platform (creating), or the stored secret kept (editing).
    if creating and visit.field("template"):
        fields["template"] = visit.field("template")
        if "status_map" in fields and not fields["status_map"]:
            del fields["status_map"]  # the platform's own map, unless one is typed
    if visit.field("partner_secret"):
        fields["partner_secret"] = visit.field("partner_secret")
    return fields


# The templates a new advertiser may start from: (name, title), sales platforms first.
TEMPLATE_CHOICES = [(t.name, t.title) for t in PLATFORMS] + [
    (t.name, t.title) for t in INCOMING if t not in PLATFORMS
]


def _advertiser_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Form values back as the text the fields show."""
    status_map = fields.get("status_map") or {}
    return {
        **fields,
        "partner_secret": "",  # write-only: never shown back, not even after an error
        "allowed_ips": "\n".join(fields.get("allowed_ips") or []),
        "status_map": status_map
        if isinstance(status_map, str)
        else "\n".join(f"{k}={v}" for k, v in status_map.items()),
    }


async def list_advertisers(visit: Visit) -> Response:
    caller = await visit.admin_only()
    found = await advertisers.list_advertisers(visit.ctx, caller, LIST_LIMIT, None)
    views = [advertisers.view(a) for a in found.items]
    return visit.render("advertisers/list.html", advertisers=shown(views))


async def new_advertiser(visit: Visit) -> Response:
    await visit.admin_only()
    values = {"name": "", "allowed_ips": "", "status_map": "", "require_token": True}
    return visit.render(
        "advertisers/form.html",
        advertiser=None,
        values=values,
        errors={},
        template_choices=TEMPLATE_CHOICES,
    )


async def create_advertiser(visit: Visit) -> Response:
    caller = await visit.admin_only()
    fields = _advertiser_fields(visit, creating=True)
    try:
        body = validated(AdvertiserCreate, fields)
        created = await submitted(advertisers.create_advertiser(visit.ctx, caller, body))
    except FormErrors as exc:
        values = _advertiser_values(fields)
        return visit.render(
            "advertisers/form.html",
            400,
            advertiser=None,
            values=values,
            errors=exc.errors,
            template_choices=TEMPLATE_CHOICES,
        )
    return redirect(f"/advertisers/{created.id}?saved=1")


async def _advertiser_page(
    visit: Visit,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    caller = await visit.admin_only()
    advertiser_id = path_id(visit, "advertiser_id")
    found = await advertisers.get_advertiser(visit.ctx, caller, advertiser_id)
    advertiser = shown(advertisers.view(found))
    syntax = choice_param(visit.query("syntax"), "syntax", SYNTAXES) or "braces"
    url = await links.postback_url(visit.ctx, caller, visit.base_url, advertiser_id, syntax)
    platform = known_incoming(found.template)
    return visit.render(
        "advertisers/form.html",
        status,
        advertiser=advertiser,
        values=values or _advertiser_values(advertiser),
        errors=errors or {},
        postback_url=shown(url),
        platform=platform,
        syntaxes=SYNTAXES,
        syntax=syntax,
    )


async def show_advertiser(visit: Visit) -> Response:
    return await _advertiser_page(visit)


async def update_advertiser(visit: Visit) -> Response:
    caller = await visit.admin_only()
    advertiser_id = path_id(visit, "advertiser_id")
    fields = _advertiser_fields(visit, creating=False)
    if visit.checked("rotate_token"):
        fields["rotate_token"] = True
    try:
        body = validated(AdvertiserPatch, fields)
        await submitted(advertisers.update_advertiser(visit.ctx, caller, advertiser_id, body))
    except FormErrors as exc:
        return await _advertiser_page(visit, 400, _advertiser_values(fields), exc.errors)
    return redirect(f"/advertisers/{advertiser_id}?saved=1")


async def list_affiliates(visit: Visit) -> Response:
    caller = await visit.admin_only()
    status = choice_param(visit.query("status"), "status", ("active", "paused", "archived"))
    found = await affiliates.list_affiliates(visit.ctx, caller, LIST_LIMIT, None, status)
    views = [affiliates.view(a) for a in found.items]
    return visit.render("affiliates/list.html", affiliates=shown(views), status=status)


async def new_affiliate(visit: Visit) -> Response:
    await visit.admin_only()
    return visit.render("affiliates/form.html", affiliate=None, values={"name": ""}, errors={})


async def create_affiliate(visit: Visit) -> Response:
    caller = await visit.admin_only()
    fields = {"name": visit.field("name")}
    try:
        body = validated(AffiliateCreate, fields)
        created = await submitted(affiliates.create_affiliate(visit.ctx, caller, body))
    except FormErrors as exc:
        return visit.render(
            "affiliates/form.html", 400, affiliate=None, values=fields, errors=exc.errors
        )
    # The key is shown this once: it is kept hashed.
    return visit.render("affiliates/created.html", 201, affiliate=shown(created))


async def _affiliate(visit: Visit, caller: Caller) -> dict[str, Any]:
    affiliate_id = path_id(visit, "affiliate_id")
    found = await affiliates.visible_affiliate(visit.ctx, caller, affiliate_id)
    view: dict[str, Any] = shown(affiliates.view(found))
    return view


async def show_affiliate(visit: Visit) -> Response:
    affiliate = await _affiliate(visit, await visit.admin_only())
    return visit.render("affiliates/form.html", affiliate=affiliate, values=affiliate, errors={})


async def update_affiliate(visit: Visit) -> Response:
    caller = await visit.admin_only()
    affiliate = await _affiliate(visit, caller)
    fields = {"name": visit.field("name"), "status": visit.field("status")}
    try:
        body = validated(AffiliatePatch, fields)
        await submitted(affiliates.update_affiliate(visit.ctx, caller, affiliate["id"], body))
    except FormErrors as exc:
        return visit.render(
            "affiliates/form.html", 400, affiliate=affiliate, values=fields, errors=exc.errors
        )
    return redirect(f"/affiliates/{affiliate['id']}?saved=1")


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /advertisers", list_advertisers)
    page(router, "GET /advertisers/new", new_advertiser)
    page(router, "POST /advertisers/new", create_advertiser)
    page(router, "GET /advertisers/{advertiser_id}", show_advertiser)
    page(router, "POST /advertisers/{advertiser_id}", update_advertiser)
    page(router, "GET /affiliates", list_affiliates)
    page(router, "GET /affiliates/new", new_affiliate)
    page(router, "POST /affiliates/new", create_affiliate)
    page(router, "GET /affiliates/{affiliate_id}", show_affiliate)
    page(router, "POST /affiliates/{affiliate_id}", update_affiliate)
    return router
