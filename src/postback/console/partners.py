"""Advertisers (with the postback URL to hand them) and affiliates (with the key shown
once at creation): lists and forms, for the admin only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.api import advertisers as advertiser_api
from postback.api import affiliates as affiliate_api
from postback.api import links
from postback.console.web import (
    FormErrors,
    Visit,
    api_json,
    choice_param,
    page,
    path_id,
    redirect,
    validated,
)
from postback.services.links import SYNTAX
from postback.services.paging import PageParams

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


def _advertiser_fields(visit: Visit) -> dict[str, Any]:
    return {
        "name": visit.field("name"),
        "allowed_ips": _ips(visit.field("allowed_ips")),
        "status_map": _status_map(visit.field("status_map")),
        "require_token": visit.checked("require_token"),
    }


def _advertiser_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Form values back as the text the fields show."""
    status_map = fields.get("status_map") or {}
    return {
        **fields,
        "allowed_ips": "\n".join(fields.get("allowed_ips") or []),
        "status_map": status_map
        if isinstance(status_map, str)
        else "\n".join(f"{k}={v}" for k, v in status_map.items()),
    }


async def list_advertisers(visit: Visit) -> Response:
    caller = await visit.admin_only()
    found = await api_json(
        advertiser_api.list_advertisers(visit.ctx, caller, PageParams(LIST_LIMIT, None))
    )
    return visit.render("advertisers/list.html", advertisers=found["items"])


async def new_advertiser(visit: Visit) -> Response:
    await visit.admin_only()
    values = {"name": "", "allowed_ips": "", "status_map": "", "require_token": True}
    return visit.render("advertisers/form.html", advertiser=None, values=values, errors={})


async def create_advertiser(visit: Visit) -> Response:
    caller = await visit.admin_only()
    fields = _advertiser_fields(visit)
    try:
        body = validated(advertiser_api.AdvertiserCreate, fields)
        created = await api_json(advertiser_api.create_advertiser(body, visit.ctx, caller))
    except FormErrors as exc:
        values = _advertiser_values(fields)
        return visit.render(
            "advertisers/form.html", 400, advertiser=None, values=values, errors=exc.errors
        )
    return redirect(f"/advertisers/{created['id']}?saved=1")


async def _advertiser_page(
    visit: Visit,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    caller = await visit.admin_only()
    advertiser_id = path_id(visit, "advertiser_id")
    advertiser = await api_json(advertiser_api.get_advertiser(advertiser_id, visit.ctx, caller))
    syntax = choice_param(visit.query("syntax"), "syntax", SYNTAXES) or "braces"
    url = await api_json(
        links.postback_url(advertiser_id, visit.ctx, caller, visit.request, syntax)  # type: ignore[arg-type]
    )
    return visit.render(
        "advertisers/form.html",
        status,
        advertiser=advertiser,
        values=values or _advertiser_values(advertiser),
        errors=errors or {},
        postback_url=url,
        syntaxes=SYNTAXES,
        syntax=syntax,
    )


async def show_advertiser(visit: Visit) -> Response:
    return await _advertiser_page(visit)


async def update_advertiser(visit: Visit) -> Response:
    caller = await visit.admin_only()
    advertiser_id = path_id(visit, "advertiser_id")
    fields = _advertiser_fields(visit)
    if visit.checked("rotate_token"):
        fields["rotate_token"] = True
    try:
        body = validated(advertiser_api.AdvertiserPatch, fields)
        await api_json(advertiser_api.update_advertiser(advertiser_id, body, visit.ctx, caller))
    except FormErrors as exc:
        return await _advertiser_page(visit, 400, _advertiser_values(fields), exc.errors)
    return redirect(f"/advertisers/{advertiser_id}?saved=1")


async def list_affiliates(visit: Visit) -> Response:
    caller = await visit.admin_only()
    status = choice_param(visit.query("status"), "status", ("active", "paused", "archived"))
    found = await api_json(
        affiliate_api.list_affiliates(visit.ctx, caller, PageParams(LIST_LIMIT, None), status)  # type: ignore[arg-type]
    )
    return visit.render("affiliates/list.html", affiliates=found["items"], status=status)


async def new_affiliate(visit: Visit) -> Response:
    await visit.admin_only()
    return visit.render("affiliates/form.html", affiliate=None, values={"name": ""}, errors={})


async def create_affiliate(visit: Visit) -> Response:
    caller = await visit.admin_only()
    fields = {"name": visit.field("name")}
    try:
        body = validated(affiliate_api.AffiliateCreate, fields)
        created = await api_json(affiliate_api.create_affiliate(body, visit.ctx, caller))
    except FormErrors as exc:
        return visit.render(
            "affiliates/form.html", 400, affiliate=None, values=fields, errors=exc.errors
        )
    # The key is shown this once: it is kept hashed.
    return visit.render("affiliates/created.html", 201, affiliate=created)


async def show_affiliate(visit: Visit) -> Response:
    caller = await visit.admin_only()
    affiliate_id = path_id(visit, "affiliate_id")
    affiliate = await api_json(affiliate_api.get_affiliate(affiliate_id, visit.ctx, caller))
    return visit.render("affiliates/form.html", affiliate=affiliate, values=affiliate, errors={})


async def update_affiliate(visit: Visit) -> Response:
    caller = await visit.admin_only()
    affiliate_id = path_id(visit, "affiliate_id")
    affiliate = await api_json(affiliate_api.get_affiliate(affiliate_id, visit.ctx, caller))
    fields = {"name": visit.field("name"), "status": visit.field("status")}
    try:
        body = validated(affiliate_api.AffiliatePatch, fields)
        await api_json(affiliate_api.update_affiliate(affiliate_id, body, visit.ctx, caller))
    except FormErrors as exc:
        return visit.render(
            "affiliates/form.html", 400, affiliate=affiliate, values=fields, errors=exc.errors
        )
    return redirect(f"/affiliates/{affiliate_id}?saved=1")


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
