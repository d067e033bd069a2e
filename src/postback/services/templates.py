"""Partner templates: ready postback URLs, field maps and status maps for common systems.

Any key may read them. An incoming one fills the maps of a new advertiser (`template` on
POST /advertisers); the maps given with it win.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from pydantic import BaseModel, Field

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
from postback.services.schemas import record_fields, record_view

# What an incoming template fills in on an advertiser.
INCOMING_MAPS = ("status_map", "field_map", "event_map")


# Not the bare `query`: `url` shows it on the advertiser's URL.
@record_view(
    IncomingTemplate,
    include=(
        "name",
        "title",
        "transport",
        "url",
        "field_map",
        "status_map",
        "event_map",
        "example_query",
        "example_body",
    ),
    extra={"url": str},
    info={
        "transport": Field(description="query: a GET with these parameters; json: a webhook"),
        "url": Field(description="where the partner sends postbacks, placeholders in braces"),
    },
)
class IncomingTemplateOut(BaseModel):
    @classmethod
    def of(cls, template: IncomingTemplate, url: str) -> IncomingTemplateOut:
        return cls.model_validate(record_fields(template, url=url))


@record_view(
    OutgoingTemplate,
    include=("name", "title", "path", "method", "statuses"),
    info={"path": Field(description="appended to the tracker's base URL (`tracker_url`)")},
)
class OutgoingTemplateOut(BaseModel):
    @classmethod
    def of(cls, template: OutgoingTemplate) -> OutgoingTemplateOut:
        return cls.model_validate(record_fields(template))


class TemplateList(BaseModel):
    incoming: list[IncomingTemplateOut]
    outgoing: list[OutgoingTemplateOut]


def _url(template: IncomingTemplate, base: str, advertiser_id: int | None) -> str:
    """Where the partner sends postbacks: the advertiser's id filled in, or a placeholder."""
    shown = ADVERTISER if advertiser_id is None else advertiser_id
    return incoming_url(template, base, shown, TOKEN)


def list_templates(base: str, advertiser_id: int | None) -> TemplateList:
    """Every template; `advertiser_id` fills that advertiser's id into the URLs."""
    return TemplateList(
        incoming=[IncomingTemplateOut.of(t, _url(t, base, advertiser_id)) for t in INCOMING],
        outgoing=[OutgoingTemplateOut.of(t) for t in OUTGOING],
    )


def get_template(name: str, base: str, advertiser_id: int | None) -> IncomingTemplateOut:
    """One incoming template by name; NotFound when there is none."""
    try:
        template = incoming_template(name)
    except InvalidInput:
        raise NotFound(f"no template {name}") from None
    return IncomingTemplateOut.of(template, _url(template, base, advertiser_id))


def with_incoming(name: str, fields: dict[str, Any], given: Set[str]) -> dict[str, Any]:
    """An advertiser's fields with the maps of incoming template `name` where none was
    given; InvalidInput (on `template`) when there is no such template."""
    template = incoming_template(name)
    filled = {m: dict(getattr(template, m)) for m in INCOMING_MAPS if m not in given}
    return fields | filled
