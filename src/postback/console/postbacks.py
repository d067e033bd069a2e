"""Outgoing postback configs: list, form with the macro list, live preview, Test button.

Saving calls the use cases in services/postbacks.py (same validation, same ownership as
the API); the preview renders the form's values with the same code that renders
deliveries (services/trial.py) for a sample conversion or a real one; the Test button is
the same trial send as the API's.
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
    id_param,
    page,
    path_id,
    redirect,
    shown,
    submitted,
    validated,
)
from postback.domain.macros import NETWORK_ONLY_MACROS, POSTBACK_MACROS
from postback.errors import InvalidInput
from postback.services import postbacks, trial
from postback.services.postbacks import PostbackCreate, PostbackOut, PostbackPatch

LIST_LIMIT = 500
TESTS_SHOWN = 10
STATUSES = ("pending", "approved", "rejected", "refunded", "chargeback")

# What each macro holds, shown as its tooltip; a test checks every known name has one.
MACRO_HELP: dict[str, str] = {
    "click_id": "our click id, from the tracking link",
    "conversion_id": "our conversion id",
    "txid": "the advertiser's transaction id (empty when it sent none)",
    "offer_id": "the offer's id",
    "offer_name": "the offer's name",
    "aff_id": "the affiliate's id",
    "affiliate_id": "the affiliate's id (same as aff_id)",
    "sub1": "sub1 of the click (often the affiliate's own click id)",
    "sub2": "sub2 of the click",
    "sub3": "sub3 of the click",
    "sub4": "sub4 of the click",
    "sub5": "sub5 of the click",
    "event": "the event name: conversion, lead, sale, install...",
    "status": "pending, approved, rejected, refunded or chargeback",
    "payout": "what the affiliate earns for this conversion",
    "sale_amount": "the order's total as the sales platform reported it (empty if not)",
    "currency": "the currency of payout and revenue (ISO 4217)",
    "ip": "the visitor's IP address at the click",
    "user_agent": "the visitor's browser at the click",
    "country": "the visitor's country at the click (two letters)",
    "region": "the visitor's region at the click (when the geo database has it)",
    "city": "the visitor's city at the click (when the geo database has it)",
    "device": "desktop, mobile, tablet, tv, console, bot or other",
    "os": "the visitor's operating system (Windows, iOS, Android...)",
    "browser": "the visitor's browser (Chrome, Safari...)",
    "cost": "what the click cost, in the offer's currency (empty if not given)",
    "click_time": "when the click happened (ISO 8601, UTC)",
    "conversion_time": "when the conversion was recorded (ISO 8601, UTC)",
    "timestamp": "when this postback is sent (Unix seconds)",
    "ctit": "seconds from click to conversion",
    "revenue": "what the advertiser pays (network-level configs only)",
    "profit": "revenue minus payout (network-level configs only)",
}


def macro_list(network: bool) -> list[tuple[str, str]]:
    names = sorted(POSTBACK_MACROS | (NETWORK_ONLY_MACROS if network else frozenset()))
    return [(name, MACRO_HELP.get(name, "")) for name in names]


def _fields(visit: Visit) -> dict[str, Any]:
    """The form as the API's request model reads it."""
    fields: dict[str, Any] = {
        "offer_id": as_id(visit.field("offer_id")),
        "url": visit.field("url"),
        "method": visit.field("method") or "GET",
        "body": blank_to_none(visit.field("body")),
        "content_type": visit.field("content_type") or "application/json",
        "events": [e.strip() for e in visit.field("events").split(",") if e.strip()] or ["*"],
        "statuses": visit.fields("statuses") or ["approved"],
        "active": visit.checked("active"),
    }
    if visit.is_admin and "affiliate_id" in visit.form:
        fields["affiliate_id"] = as_id(visit.field("affiliate_id"))
    return fields


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    """The request fields back as the form shows them."""
    return {**fields, "events": ", ".join(fields.get("events") or ["*"])}


async def _choices(visit: Visit) -> dict[str, Any]:
    offers, affiliates = await postbacks.choices(visit.ctx, visit.user, LIST_LIMIT)
    return {"offers": offers, "affiliates": affiliates, "statuses": STATUSES}


async def _form(
    visit: Visit,
    config: dict[str, Any] | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    **extra: Any,
) -> Response:
    network = values.get("affiliate_id") is None and visit.is_admin
    context: dict[str, Any] = {
        "config": config,
        "values": values,
        "errors": errors,
        "macros": macro_list(network or bool(config and config["affiliate_id"] is None)),
        "tests": [],
        "preview": None,
        "trial": None,
        "problem": None,
        **await _choices(visit),
        **extra,
    }
    if config is not None:
        found = await trial.list_tests(visit.ctx, visit.user, config["id"], TESTS_SHOWN, None)
        context["tests"] = shown([trial.TrialOut.of(t) for t in found.items])
    return visit.render("postbacks/form.html", status, **context)


async def list_postbacks(visit: Visit) -> Response:
    found = await postbacks.list_postbacks(visit.ctx, visit.user, LIST_LIMIT, None)
    configs = [PostbackOut.of(c) for c in found.items]
    return visit.render("postbacks/list.html", configs=shown(configs))


async def new_postback(visit: Visit) -> Response:
    values = {
        "affiliate_id": as_id(visit.query("affiliate_id") or ""),
        "offer_id": None,
        "url": "",
        "method": "GET",
        "body": None,
        "content_type": "application/json",
        "events": "*",
        "statuses": ["approved"],
        "active": True,
    }
    return await _form(visit, None, values, {})


async def create_postback(visit: Visit) -> Response:
    fields = _fields(visit)
    try:
        body = validated(PostbackCreate, fields)
        created = await submitted(postbacks.create_postback(visit.ctx, visit.user, body))
    except FormErrors as exc:
        return await _form(visit, None, _values(fields), exc.errors, 400)
    return redirect(f"/postbacks/{created.id}?saved=1")


async def _shown_config(visit: Visit, postback_id: int) -> dict[str, Any]:
    """A config the visitor owns, as the form shows it."""
    config = await postbacks.owned_postback(visit.ctx, visit.user, postback_id)
    found: dict[str, Any] = shown(PostbackOut.of(config))
    return found


async def _owned(visit: Visit) -> dict[str, Any]:
    return await _shown_config(visit, path_id(visit, "postback_id"))


async def show_postback(visit: Visit) -> Response:
    config = await _owned(visit)
    return await _form(visit, config, _values(config), {})


async def update_postback(visit: Visit) -> Response:
    config = await _owned(visit)
    fields = _fields(visit)
    fields.pop("affiliate_id", None)  # fixed at creation
    try:
        body = validated(PostbackPatch, fields)
        await submitted(postbacks.update_postback(visit.ctx, visit.user, config["id"], body))
    except FormErrors as exc:
        values = {**_values(fields), "affiliate_id": config["affiliate_id"]}
        return await _form(visit, config, values, exc.errors, 400)
    return redirect(f"/postbacks/{config['id']}?saved=1")


async def delete_postback(visit: Visit) -> Response:
    config = await _owned(visit)
    await postbacks.delete_postback(visit.ctx, visit.user, config["id"])
    return redirect("/postbacks?deleted=1")


async def render_preview(visit: Visit, config: dict[str, Any] | None) -> dict[str, Any]:
    """The request the form's values would send, or the messages that stop it."""
    fields = _fields(visit)
    if config is not None:
        fields["affiliate_id"] = config["affiliate_id"]
    elif not visit.is_admin:
        fields["affiliate_id"] = visit.user.affiliate_id
    try:
        checked = validated(PostbackCreate, fields)
        draft = trial.draft(visit.ctx, visit.user, checked)
        conversion_id = id_param(visit.field("conversion_id"), "conversion_id")
        rendered = await trial.preview(visit.ctx, draft, conversion_id)
    except FormErrors as exc:
        return {"errors": exc.errors}
    except InvalidInput as exc:
        return {"errors": {exc.param: exc.message}}
    return {"request": rendered, "sample": conversion_id is None, "errors": {}}


async def preview(visit: Visit) -> Response:
    config = None
    if visit.field("postback_id"):
        postback_id = id_param(visit.field("postback_id"), "postback_id")
        assert postback_id is not None
        config = await _shown_config(visit, postback_id)
    found = await render_preview(visit, config)
    if visit.is_htmx:
        return visit.render("postbacks/_preview.html", preview=found)
    fields = _fields(visit)
    if config is not None:
        fields["affiliate_id"] = config["affiliate_id"]
    values = _values(fields)
    if config is None and not visit.is_admin:
        values["affiliate_id"] = visit.user.affiliate_id
    return await _form(visit, config, values, found["errors"], preview=found)


async def test_send(visit: Visit) -> Response:
    config = await _owned(visit)
    conversion_id = id_param(visit.field("conversion_id"), "conversion_id")
    try:
        done = await submitted(
            trial.test_postback(visit.ctx, visit.user, config["id"], conversion_id)
        )
        sent, problem = shown(trial.TrialOut.of(done)), None
    except FormErrors as exc:
        sent, problem = None, "; ".join(exc.errors.values())
    if visit.is_htmx:
        return visit.render("postbacks/_test.html", trial=sent, problem=problem)
    return await _form(visit, config, _values(config), {}, trial=sent, problem=problem)


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /postbacks", list_postbacks)
    page(router, "GET /postbacks/new", new_postback)
    page(router, "POST /postbacks/new", create_postback)
    page(router, "POST /postbacks/preview", preview)
    page(router, "GET /postbacks/{postback_id}", show_postback)
    page(router, "POST /postbacks/{postback_id}", update_postback)
    page(router, "POST /postbacks/{postback_id}/delete", delete_postback)
    page(router, "POST /postbacks/{postback_id}/test", test_send)
    return router
