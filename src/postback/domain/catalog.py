"""Every partner template, by name: the trackers (both ways) and the sales platforms."""

from __future__ import annotations

from typing import Final

from postback.domain.platforms import eduzz, hotmart, kiwify, monetizze
from postback.domain.templates import IncomingTemplate, OutgoingTemplate
from postback.domain.trackers import INCOMING_TRACKERS, OUTGOING
from postback.errors import InvalidInput

PLATFORMS: Final[tuple[IncomingTemplate, ...]] = (
    hotmart.TEMPLATE,
    kiwify.TEMPLATE,
    monetizze.TEMPLATE,
    eduzz.TEMPLATE,
)
INCOMING: Final[tuple[IncomingTemplate, ...]] = INCOMING_TRACKERS + PLATFORMS

__all__ = [
    "INCOMING",
    "OUTGOING",
    "PLATFORMS",
    "incoming_template",
    "known_incoming",
    "outgoing_template",
]


def incoming_template(name: str) -> IncomingTemplate:
    for template in INCOMING:
        if template.name == name:
            return template
    known = ", ".join(t.name for t in INCOMING)
    raise InvalidInput("template", f"no incoming template {name!r}; known: {known}")


def outgoing_template(name: str) -> OutgoingTemplate:
    for template in OUTGOING:
        if template.name == name:
            return template
    known = ", ".join(t.name for t in OUTGOING)
    raise InvalidInput("template", f"no outgoing template {name!r}; known: {known}")


_INCOMING_BY_NAME: Final = {template.name: template for template in INCOMING}


def known_incoming(name: str | None) -> IncomingTemplate | None:
    """The incoming template of this name, or None (no name, or one no longer known)."""
    return _INCOMING_BY_NAME.get(name) if name is not None else None
