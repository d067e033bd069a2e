"""Partner templates: ready postback URLs, field maps and status maps for common systems.

Incoming ones are applied with `template` on POST /advertisers, outgoing ones with
`template` and `tracker_url` on POST /postbacks. Any key may read them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.domain.templates import (
    ADVERTISER,
    INCOMING,
    OUTGOING,
    TOKEN,
    IncomingTemplate,
    OutgoingTemplate,
    incoming_template,
    incoming_url,
)
from postback.errors import InvalidInput, NotFound
from postback.services.links import public_base
from postback.services.schemas import MAX_ID


class IncomingTemplateOut(BaseModel):
    name: str
    title: str
    transport: str = Field(description="query: a GET with these parameters; json: a webhook")
    url: str = Field(description="where the partner sends postbacks, placeholders in braces")
    field_map: dict[str, str]
    status_map: dict[str, str]
    event_map: dict[str, str]
    example_query: dict[str, str]
    example_body: dict[str, Any] | None

    @classmethod
    def of(cls, template: IncomingTemplate, url: str) -> IncomingTemplateOut:
        return cls(
            name=template.name,
            title=template.title,
            transport=template.transport,
            url=url,
            field_map=dict(template.field_map),
            status_map=dict(template.status_map),
            event_map=dict(template.event_map),
            example_query=dict(template.example_query),
            example_body=None if template.example_body is None else dict(template.example_body),
        )


class OutgoingTemplateOut(BaseModel):
    name: str
    title: str
    path: str = Field(description="appended to the tracker's base URL (`tracker_url`)")
    method: str
    statuses: list[str]

    @classmethod
    def of(cls, template: OutgoingTemplate) -> OutgoingTemplateOut:
        return cls(
            name=template.name,
            title=template.title,
            path=template.path,
            method=template.method,
            statuses=list(template.statuses),
        )


class TemplateList(BaseModel):
    incoming: list[IncomingTemplateOut]
    outgoing: list[OutgoingTemplateOut]


TemplateName = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,32}$")]


def _url(template: IncomingTemplate, base: str, advertiser_id: int | None) -> str:
    shown = ADVERTISER if advertiser_id is None else advertiser_id
    return incoming_url(template, base, shown, TOKEN)


async def list_templates(
    ctx: ContextDep,
    _: CallerDep,
    request: Request,
    advertiser_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ApiResponse:
    """Every template; `advertiser_id` fills that advertiser's id into the URLs."""
    base = public_base(ctx, str(request.base_url))
    return reply(
        TemplateList(
            incoming=[IncomingTemplateOut.of(t, _url(t, base, advertiser_id)) for t in INCOMING],
            outgoing=[OutgoingTemplateOut.of(t) for t in OUTGOING],
        )
    )


async def get_template(
    name: TemplateName,
    ctx: ContextDep,
    _: CallerDep,
    request: Request,
    advertiser_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ApiResponse:
    """One incoming template by name."""
    try:
        template = incoming_template(name)
    except InvalidInput:
        raise NotFound(f"no template {name}") from None
    return reply(
        IncomingTemplateOut.of(
            template, _url(template, public_base(ctx, str(request.base_url)), advertiser_id)
        )
    )


def build_router() -> APIRouter:
    router = new_router("templates")
    route(router, "GET /templates", list_templates, TemplateList, "Partner templates")
    route(
        router, "GET /templates/{name}", get_template, IncomingTemplateOut, "One incoming template"
    )
    return router
