"""What every console page shares: who is visiting, CSRF on every POST, rendering, and
refusals as HTML pages.

Pages call the use cases in postback/services with the visitor's `Caller` and show the
same views the API answers with, so validation, ownership and the affiliate's view (no
revenue, other affiliates' things do not exist) are the services' rules, not a second
copy of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter
from jinja2 import Environment
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from postback.console.session import Session, Sessions
from postback.domain.money import format_amount
from postback.errors import (
    InvalidInput,
    NotFound,
    PostbackError,
    StoreUnavailable,
    TooManyRequests,
)
from postback.http_status import status_of
from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.services.links import public_base
from postback.services.schemas import MAX_ID, param_name

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")
Handler = Callable[["Visit"], Awaitable[Response]]

# Scripts and styles come from our own /static only; nothing inline runs.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
MAX_FORM_FIELDS = 200


@dataclass
class Console:
    """The console of one application: the API's context, sessions, templates, assets."""

    ctx: AppContext
    sessions: Sessions
    templates: Environment
    asset_url: Callable[[str], str]


@dataclass
class Visit:
    """One request to a console page, from a visitor who is logged in (or a public page)."""

    request: Request
    console: Console
    caller: Caller | None
    session: Session | None
    csrf_token: str | None
    form: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ctx(self) -> AppContext:
        return self.console.ctx

    @property
    def user(self) -> Caller:
        if self.caller is None:  # pages that are not public never see a visitor without one
            raise NotFound("no such page")
        return self.caller

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    async def admin_only(self) -> Caller:
        """The API's rule: to an affiliate, the admin's pages do not exist (404)."""
        return admin_only(self.user)

    @property
    def base_url(self) -> str:
        """Where links point: POSTBACK_BASE_URL, else the address this page came in on."""
        return public_base(self.ctx, str(self.request.base_url))

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def query(self, name: str) -> str | None:
        """A query parameter, None when absent or empty."""
        value = self.request.query_params.get(name)
        return value.strip() if value and value.strip() else None

    def queries(self, name: str) -> list[str]:
        return [v.strip() for v in self.request.query_params.getlist(name) if v.strip()]

    def field(self, name: str) -> str:
        values = self.form.get(name)
        return values[-1].strip() if values else ""

    def fields(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name, []) if v.strip()]

    def checked(self, name: str) -> bool:
        return self.field(name) in {"on", "true", "1", "yes"}

    def render(self, template: str, http_status: int = 200, /, **context: Any) -> HTMLResponse:
        page = self.console.templates.get_template(template).render(
            user=self.caller,
            csrf_token=self.csrf_token,
            asset=self.console.asset_url,
            path=self.request.url.path,
            query=self.request.query_params,
            **context,
        )
        return HTMLResponse(page, status_code=http_status)


class FormErrors(Exception):
    """Messages to show next to the fields they are about (`form` when about no field)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def validated(model: type[Model], data: Mapping[str, Any]) -> Model:
    """The API's request model built from form data; FormErrors with its messages if not."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = param_name(error.get("loc", ())).split("[")[0].split(".")[0]
            message = str(error.get("msg", "invalid value"))
            errors.setdefault(name, message.removeprefix("Value error, "))
        raise FormErrors(errors) from None


async def submitted(answer: Awaitable[T]) -> T:
    """What a use case returned for a form; InvalidInput becomes FormErrors for the field
    it names, shown next to that field."""
    try:
        return await answer
    except InvalidInput as exc:
        raise FormErrors({exc.param: exc.message}) from None


def shown(content: Any) -> Any:
    """A view (models, also inside dicts and lists) as the plain data a template reads,
    as the API's JSON says it: amounts exact in their shortest form, times as text."""
    if isinstance(content, BaseModel):
        return shown(content.model_dump())
    if isinstance(content, dict):
        return {key: shown(value) for key, value in content.items()}
    if isinstance(content, list | tuple):
        return [shown(value) for value in content]
    if isinstance(content, Decimal):
        return Decimal(format_amount(content))
    if isinstance(content, datetime):
        return content.isoformat()
    return content


def blank_to_none(value: str) -> str | None:
    return value if value else None


def as_id(value: str) -> int | str | None:
    """A form's id field for a request model: an int when it reads as one, else the text
    (which the model then refuses with its own message); empty means none."""
    if not value:
        return None
    return int(value) if value.isdigit() and len(value) <= 19 else value


def id_param(value: str | None, name: str) -> int | None:
    """An optional id from a query or form; InvalidInput (a 400 page) when malformed."""
    if value is None or value == "":
        return None
    if not re.fullmatch(r"[0-9]{1,19}", value) or not 1 <= int(value) <= MAX_ID:
        raise InvalidInput(name, "must be a positive integer id")
    return int(value)


def path_id(visit: Visit, name: str) -> int:
    """An id in the page's path; anything else is a page that does not exist."""
    value = str(visit.request.path_params.get(name, ""))
    if not re.fullmatch(r"[0-9]{1,19}", value) or not 1 <= int(value) <= MAX_ID:
        raise NotFound("no such page")
    return int(value)


def choice_param(value: str | None, name: str, allowed: Sequence[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(name, f"must be one of {', '.join(allowed)}")
    return value


def pattern_param(value: str | None, name: str, pattern: str) -> str | None:
    if value is None or value == "":
        return None
    if not re.fullmatch(pattern, value):
        raise InvalidInput(name, "malformed value")
    return value


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def local_path(target: str | None) -> str:
    """Where to go after login: a path on this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def with_query(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def error_page(console: Console, request: Request, status: int, message: str) -> HTMLResponse:
    page = console.templates.get_template("error.html").render(
        user=None, csrf_token=None, asset=console.asset_url, status=status, message=message
    )
    return HTMLResponse(page, status_code=status)


async def _read_form(request: Request) -> dict[str, list[str]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput("body", "forms are sent as application/x-www-form-urlencoded")
    try:
        text = (await request.body()).decode("utf-8")
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("body", "malformed form data") from None


def page(router: APIRouter, spec: str, handler: Handler, *, public: bool = False) -> None:
    """Register a console page for "METHOD /path": login required unless public, CSRF
    checked on every POST, refusals answered as HTML pages."""
    method, path = spec.split(" ", 1)

    async def endpoint(request: Request) -> Response:
        console: Console = request.app.state.console
        try:
            response = await _visit(console, request, handler, public)
        except NotFound as exc:
            response = error_page(console, request, 404, exc.message)
        except InvalidInput as exc:
            response = error_page(console, request, 400, f"{exc.param}: {exc.message}")
        except TooManyRequests as exc:
            response = error_page(console, request, 429, exc.message)
            response.headers["retry-after"] = str(exc.retry_after)
        except StoreUnavailable:
            response = error_page(console, request, 503, "the database is unavailable; retry")
        except PostbackError as exc:
            response = error_page(console, request, status_of(exc), exc.message)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    endpoint.__name__ = f"console_{handler.__name__}"
    router.add_route(path, endpoint, methods=[method], include_in_schema=False)


async def _visit(console: Console, request: Request, handler: Handler, public: bool) -> Response:
    session = await console.sessions.read(request)
    caller = await console.sessions.caller(session)
    if caller is None:
        session = None
        if not public:
            if request.method == "GET":
                return redirect(with_query("/login", next=request.url.path))
            return error_page(console, request, 401, "your session has ended; log in again")
    form: dict[str, list[str]] = {}
    if request.method == "POST":
        form = await _read_form(request)
        sent = (form.get("csrf_token") or [""])[-1]
        if not await console.sessions.check_csrf(request, session, sent):
            log.info("csrf refused", extra={"action": "console_csrf_refused"})
            return error_page(
                console, request, 403, "this form has expired or did not come from this site"
            )
    token = None if session is None else await console.sessions.csrf_token(request, session)
    visit = Visit(request, console, caller, session, token, form)
    return await handler(visit)
