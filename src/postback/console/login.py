"""Log in with the admin key or an affiliate's key; log out.

Failed logins count against the same per-address limit as failed API keys and postback
tokens (services/ratelimit.py): past it, the address gets 429 before its key is looked at.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.web import Visit, local_path, page, redirect
from postback.domain.client_address import client_address
from postback.domain.ids import hash_key
from postback.errors import TooManyRequests, Unauthorized
from postback.services.caller import caller_for_key


async def login_form(visit: Visit) -> Response:
    if visit.caller is not None:
        return redirect(local_path(visit.query("next")))
    return await _form(visit, 200, None)


async def _form(visit: Visit, status: int, problem: str | None) -> Response:
    sessions = visit.console.sessions
    token, fresh_nonce = await sessions.login_token(visit.request)
    visit.csrf_token = token
    response = visit.render(
        "login.html", status, problem=problem, next=local_path(visit.query("next") or None)
    )
    if fresh_nonce is not None:
        sessions.remember_login_nonce(response, fresh_nonce)
    return response


async def log_in(visit: Visit) -> Response:
    ctx = visit.ctx
    request = visit.request
    ip = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        ctx.settings.trusted_proxy_networks,
    )
    wait = ctx.auth_failures.retry_after(ip)
    if wait is not None:
        raise TooManyRequests(f"too many failed logins from {ip}; retry in {wait} s", wait)
    key = visit.field("key")
    try:
        await caller_for_key(ctx, key)
    except Unauthorized as exc:
        await ctx.auth_failures.failed(ip)
        return await _form(visit, 401, exc.message)
    response = redirect(local_path(visit.field("next")))
    await visit.console.sessions.issue(response, hash_key(key.strip()))
    return response


async def log_out(visit: Visit) -> Response:
    response = redirect("/login")
    visit.console.sessions.end(response)
    return response


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /login", login_form, public=True)
    page(router, "POST /login", log_in, public=True)
    page(router, "POST /logout", log_out)
    return router
