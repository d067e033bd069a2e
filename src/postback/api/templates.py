"""Partner templates over HTTP: the rules are in services/templates.py.

Incoming ones are applied with `template` on POST /advertisers, outgoing ones with
`template` and `tracker_url` on POST /postbacks. Any key may read them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import templates
from postback.services.links import public_base
from postback.services.schemas import MAX_ID
from postback.services.templates import IncomingTemplateOut, TemplateList

TemplateName = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,32}$")]
AdvertiserQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


async def list_templates(
    ctx: ContextDep,
    _: CallerDep,
    request: Request,
    advertiser_id: AdvertiserQuery = None,
) -> ApiResponse:
    """Every template; `advertiser_id` fills that advertiser's id into the URLs."""
    base = public_base(ctx, str(request.base_url))
    return reply(templates.list_templates(base, advertiser_id))


async def get_template(
    name: TemplateName,
    ctx: ContextDep,
    _: CallerDep,
    request: Request,
    advertiser_id: AdvertiserQuery = None,
) -> ApiResponse:
    """One incoming template by name."""
    base = public_base(ctx, str(request.base_url))
    return reply(templates.get_template(name, base, advertiser_id))


def build_router() -> APIRouter:
    router = new_router("templates")
    route(router, "GET /templates", list_templates, TemplateList, "Partner templates")
    route(
        router, "GET /templates/{name}", get_template, IncomingTemplateOut, "One incoming template"
    )
    return router
