"""Partner templates: how common trackers and platforms name postback fields.

Incoming templates describe a system that sends us conversions in its own parameter
names: the URL to give it, the field map that turns its names into ours (applied to
postbacks that carry `adv_id`), its status values and event names, and for a sales
platform how it proves a postback is its own (`PartnerAuth`). Outgoing templates are URL
templates in the parameter names of the tracker an affiliate runs, with the tracker's
own words for our statuses; the affiliate's click id is expected in `sub1` of the
tracking link.

The templates themselves live in `trackers.py` (the trackers, both ways) and
`platforms/` (one module per sales platform); `catalog.py` lists them all.
Pure data and pure functions: the API serves them and applies them to new records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# In `url` and the examples: filled with the advertiser's values.
CLICK = "{click_id}"
TOKEN = "{token}"  # noqa: S105 (a placeholder, not a secret)
ADVERTISER = "{adv_id}"
# In examples of platforms that sign or carry their own secret: the advertiser's
# `partner_secret` (tests fill it in, then compute what the platform would send).
SECRET = "{partner_secret}"  # noqa: S105 (a placeholder, not a secret)


@dataclass(frozen=True, slots=True)
class PartnerAuth:
    """How a sales platform proves that a postback is its own, with the secret the
    advertiser copies from the platform into its `partner_secret`. Any one match is
    enough; values are compared in constant time."""

    # What the platform calls the secret, as its settings page shows it ("Hottok").
    label: str
    # Request headers (lower case) that carry the secret as it is.
    headers: tuple[str, ...] = ()
    # Body or query fields that carry the secret as it is (after flattening: dotted names
    # for JSON, names as sent for forms).
    fields: tuple[str, ...] = ()
    # A query parameter or header carrying the hex HMAC of the raw body, keyed with the
    # secret, and the hashlib name of its digest.
    hmac_query: str | None = None
    hmac_header: str | None = None
    digest: str = "sha256"


@dataclass(frozen=True, slots=True)
class IncomingTemplate:
    name: str
    title: str
    # The query the partner calls: their parameter names, our values as placeholders.
    query: str
    field_map: Mapping[str, str] = field(default_factory=dict)
    status_map: Mapping[str, str] = field(default_factory=dict)
    event_map: Mapping[str, str] = field(default_factory=dict)
    # "query": a GET with the query; "json": a POST of a JSON webhook to the URL;
    # "form": a form-encoded POST (names as sent, e.g. `venda[codigo]`).
    transport: str = "query"
    example_query: Mapping[str, str] = field(default_factory=dict)
    # The JSON object (json) or the form fields (form) of an example postback.
    example_body: Mapping[str, Any] | None = None
    # A sales platform's own proof; None: our token (or signature) as for anyone.
    auth: PartnerAuth | None = None
    # Where the partner's documentation and samples are: for the docs and the tests.
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingTemplate:
    name: str
    title: str
    # Appended to the affiliate's tracker URL (which may carry a query of its own).
    path: str
    statuses: tuple[str, ...] = ("approved",)
    method: str = "GET"
    # Our status -> the tracker's word for it, sent as `{status}`; a status not named
    # here is sent as it is.
    status_map: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()


def outgoing_url(template: OutgoingTemplate, tracker_url: str) -> str:
    """The tracker's base URL (with its own query, e.g. a network id) and the template."""
    base, _, own_query = tracker_url.partition("?")
    path, _, query = template.path.partition("?")
    joined = "&".join(part for part in (own_query, query) if part)
    return f"{base.rstrip('/')}{path}?{joined}"


def incoming_url(
    template: IncomingTemplate, base_url: str, advertiser_id: int | str, token: str
) -> str:
    """Where the partner sends its postbacks for this advertiser."""
    # A platform with its own proof needs no token of ours in the URL.
    query = f"adv_id={advertiser_id}" if template.auth else f"adv_id={advertiser_id}&token={token}"
    if template.query:
        query += "&" + template.query
    return f"{base_url.rstrip('/')}/postback?{query}"


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, text in values.items():
            value = value.replace(placeholder, text)
        return value
    if isinstance(value, dict):
        return {key: _fill(inner, values) for key, inner in value.items()}
    if isinstance(value, list):
        return [_fill(inner, values) for inner in value]
    return value


def example(
    template: IncomingTemplate,
    click_id: str,
    token: str,
    advertiser_id: int,
    partner_secret: str = "",
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The template's example postback for a real click: its query and body."""
    values = {
        CLICK: click_id,
        TOKEN: token,
        ADVERTISER: str(advertiser_id),
        SECRET: partner_secret,
    }
    query = {name: _fill(value, values) for name, value in template.example_query.items()}
    body = None if template.example_body is None else _fill(dict(template.example_body), values)
    return query, body
