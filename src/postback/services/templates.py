"""Partner templates: ready postback URLs, field maps and status maps for common systems.

Any key may read them. An incoming one fills the maps of a new advertiser (`template` on
POST /advertisers); the maps given with it win.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field

from postback.domain.catalog import INCOMING, OUTGOING, PLATFORMS, incoming_template
from postback.domain.templates import (
    ADVERTISER,
    TOKEN,
    IncomingTemplate,
    OutgoingTemplate,
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
        "auth",
        "sources",
    ),
    extra={"url": str, "auth": dict[str, Any] | None},
    info={
        "transport": Field(
            description="query: a GET with these parameters; json: a JSON webhook; form: a "
            "form-encoded POST"
        ),
        "url": Field(description="where the partner sends postbacks, placeholders in braces"),
        "auth": Field(
            description="how a sales platform proves its postbacks with the advertiser's "
            "partner_secret: `label`, `headers` or `fields` carrying it, or an HMAC of the "
            "body (`hmac_query`/`hmac_header`, `digest`); null: our token"
        ),
        "sources": Field(description="where the partner publishes this format"),
    },
)
class IncomingTemplateOut(BaseModel):
    @classmethod
    def of(cls, template: IncomingTemplate, url: str) -> IncomingTemplateOut:
        auth = None if template.auth is None else asdict(template.auth)
        return cls.model_validate(record_fields(template, url=url, auth=auth))


@record_view(
    OutgoingTemplate,
    include=("name", "title", "path", "method", "statuses", "status_map", "sources"),
    info={
        "path": Field(description="appended to the tracker's base URL (`tracker_url`)"),
        "status_map": Field(description="our status -> the tracker's word, sent as {status}"),
    },
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


def check_partner_secret(template_name: str | None) -> None:
    """A partner secret is for a platform that proves its postbacks with one."""
    template = incoming_template(template_name) if template_name is not None else None
    if template is None or template.auth is None:
        platforms = ", ".join(t.name for t in PLATFORMS)
        raise InvalidInput(
            "partner_secret", f"partner_secret goes with a platform template ({platforms})"
        )


def with_incoming(name: str, fields: dict[str, Any], given: Set[str]) -> dict[str, Any]:
    """An advertiser's fields with the maps of incoming template `name` where none was
    given; InvalidInput (on `template`) when there is no such template."""
    template = incoming_template(name)
    filled = {m: dict(getattr(template, m)) for m in INCOMING_MAPS if m not in given}
    return fields | filled
