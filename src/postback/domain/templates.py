"""Partner templates: how common trackers and platforms name postback fields.

Incoming templates describe a system that sends us conversions in its own parameter
names: the URL to give it, the field map that turns its names into ours (applied to
postbacks that carry `adv_id`), its status values and event names. Outgoing templates
are URL templates in the parameter names of the tracker an affiliate runs; the
affiliate's click id is expected in `sub1` of the tracking link.

Pure data and pure functions: the API serves them and applies them to new records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from postback.errors import InvalidInput

# In `url` and the examples: filled with the advertiser's values.
CLICK = "{click_id}"
TOKEN = "{token}"  # noqa: S105 (a placeholder, not a secret)
ADVERTISER = "{adv_id}"


@dataclass(frozen=True, slots=True)
class IncomingTemplate:
    name: str
    title: str
    # The query the partner calls: their parameter names, our values as placeholders.
    query: str
    field_map: Mapping[str, str] = field(default_factory=dict)
    status_map: Mapping[str, str] = field(default_factory=dict)
    event_map: Mapping[str, str] = field(default_factory=dict)
    # "query": a GET with the query; "json": a POST of a JSON webhook to the URL.
    transport: str = "query"
    example_query: Mapping[str, str] = field(default_factory=dict)
    example_body: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class OutgoingTemplate:
    name: str
    title: str
    # Appended to the affiliate's tracker URL (which may carry a query of its own).
    path: str
    statuses: tuple[str, ...] = ("approved",)
    method: str = "GET"


def _query(**params: str) -> dict[str, str]:
    return {"adv_id": ADVERTISER, "token": TOKEN, **params}


HOTMART_EXAMPLE: Final[Mapping[str, Any]] = {
    "id": "5b3c9f6e-0000-4000-8000-000000000001",
    "event": "PURCHASE_APPROVED",
    "version": "2.0.0",
    "data": {
        "product": {"id": 1234, "name": "Course"},
        "buyer": {"email": "buyer@example.com", "name": "Ana Buyer", "checkout_phone": "5511"},
        "purchase": {
            "transaction": "HP0000000001",
            "status": "APPROVED",
            "price": {"value": 97.5, "currency_value": "BRL"},
            "origin": {"sck": CLICK},
        },
        "commissions": [{"value": 10, "source": "MARKETPLACE"}],
    },
}

INCOMING: Final[tuple[IncomingTemplate, ...]] = (
    IncomingTemplate(
        name="keitaro",
        title="Keitaro",
        query="subid={click_id}&tid={txid}&status={status}&payout={revenue}",
        status_map={"lead": "pending", "sale": "approved", "rejected": "rejected"},
        example_query=_query(subid=CLICK, tid="K-1", status="sale", payout="12.5"),
    ),
    IncomingTemplate(
        name="voluum",
        title="Voluum",
        query="cid={click_id}&txid={txid}&payout={revenue}&et={event}",
        example_query=_query(cid=CLICK, txid="V-1", payout="3.2", et="purchase"),
    ),
    IncomingTemplate(
        name="binom",
        title="Binom",
        query="cnv_id={click_id}&txid={txid}&payout={revenue}&cnv_status={status}",
        field_map={"cnv_id": "click_id"},
        status_map={"approved": "approved", "pending": "pending", "rejected": "rejected"},
        example_query=_query(cnv_id=CLICK, txid="B-1", payout="4", cnv_status="approved"),
    ),
    IncomingTemplate(
        name="redtrack",
        title="RedTrack",
        query="clickid={click_id}&sum={revenue}&type={event}&status={status}",
        status_map={"approved": "approved", "pending": "pending", "declined": "rejected"},
        example_query=_query(clickid=CLICK, sum="9.99", type="Purchase", status="approved"),
    ),
    IncomingTemplate(
        name="everflow",
        title="Everflow",
        query="transaction_id={click_id}&order_id={txid}&amount={revenue}&adv_event_id={event}",
        field_map={"transaction_id": "click_id", "adv_event_id": "event"},
        example_query=_query(transaction_id=CLICK, order_id="E-1", amount="20", adv_event_id="2"),
    ),
    IncomingTemplate(
        name="tune",
        title="HasOffers / TUNE",
        query="transaction_id={click_id}&adv_sub={txid}&amount={revenue}&goal_id={event}",
        field_map={"transaction_id": "click_id", "adv_sub": "txid", "goal_id": "event"},
        status_map={"approved": "approved", "pending": "pending", "rejected": "rejected"},
        example_query=_query(transaction_id=CLICK, adv_sub="T-1", amount="15", goal_id="7"),
    ),
    IncomingTemplate(
        name="affise",
        title="Affise",
        query="clickid={click_id}&action_id={txid}&sum={revenue}&goal={event}&status={status}",
        status_map={"1": "approved", "2": "pending", "3": "rejected", "5": "pending"},
        example_query=_query(clickid=CLICK, action_id="A-1", sum="5", goal="1", status="2"),
    ),
    IncomingTemplate(
        name="cake",
        title="CAKE",
        query="r={click_id}&t={txid}&p={revenue}&e={event}",
        field_map={"r": "click_id", "t": "txid", "p": "revenue", "e": "event"},
        example_query=_query(r=CLICK, t="C-1", p="30", e="12"),
    ),
    IncomingTemplate(
        name="hotmart",
        title="Hotmart-style JSON webhook",
        query="",
        transport="json",
        field_map={
            "data.purchase.origin.sck": "click_id",
            "data.purchase.transaction": "txid",
            "data.purchase.price.value": "revenue",
            "data.purchase.price.currency_value": "currency",
            "data.buyer.email": "attr.email",
            "data.buyer.name": "attr.customer_name",
            "data.buyer.checkout_phone": "attr.phone",
            "data.product.name": "attr.product",
        },
        event_map={
            "PURCHASE_OUT_OF_SHOPPING_CART": "checkout_abandoned",
            "PURCHASE_BILLET_PRINTED": "awaiting_payment",
            "PURCHASE_DELAYED": "awaiting_payment",
            "PURCHASE_APPROVED": "approved",
            "PURCHASE_COMPLETE": "completed",
            "PURCHASE_CANCELED": "canceled",
            "PURCHASE_EXPIRED": "canceled",
            "PURCHASE_REFUNDED": "refunded",
            "PURCHASE_CHARGEBACK": "chargeback",
        },
        example_query={"adv_id": ADVERTISER, "token": TOKEN},
        example_body=HOTMART_EXAMPLE,
    ),
)

OUTGOING: Final[tuple[OutgoingTemplate, ...]] = (
    OutgoingTemplate(
        "keitaro",
        "Keitaro",
        "/postback?subid={sub1}&status={status}&payout={payout}&tid={txid}"
        "&lead_status=pending&sale_status=approved&rejected_status=rejected",
        ("pending", "approved", "rejected"),
    ),
    OutgoingTemplate("voluum", "Voluum", "/postback?cid={sub1}&payout={payout}&txid={txid}"),
    OutgoingTemplate(
        "binom",
        "Binom",
        "/click.php?cnv_id={sub1}&payout={payout}&txid={txid}&cnv_status={status}",
        ("pending", "approved", "rejected"),
    ),
    OutgoingTemplate("redtrack", "RedTrack", "/postback?clickid={sub1}&sum={payout}&type={event}"),
    OutgoingTemplate(
        "everflow", "Everflow", "/?transaction_id={sub1}&amount={payout}&order_id={txid}"
    ),
    OutgoingTemplate(
        "tune", "HasOffers / TUNE", "/aff_lsr?transaction_id={sub1}&amount={payout}&adv_sub={txid}"
    ),
    OutgoingTemplate(
        "affise", "Affise", "/postback?clickid={sub1}&action_id={txid}&sum={payout}&goal={event}"
    ),
    OutgoingTemplate("cake", "CAKE", "/p.ashx?r={sub1}&t={txid}&p={payout}"),
)


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
    query = f"adv_id={advertiser_id}&token={token}"
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
    template: IncomingTemplate, click_id: str, token: str, advertiser_id: int
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The template's example postback for a real click: its query and JSON body."""
    values = {CLICK: click_id, TOKEN: token, ADVERTISER: str(advertiser_id)}
    query = {name: _fill(value, values) for name, value in template.example_query.items()}
    body = None if template.example_body is None else _fill(dict(template.example_body), values)
    return query, body
