"""What an outgoing postback says: macro values and the rendered request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson

from postback.domain.macros import Encoding, expand
from postback.domain.money import format_amount
from postback.domain.records import Click, Conversion, Offer, PostbackConfig

JSON = "application/json"
# The attribute that carries an order's total as its platform reported it (`{sale_amount}`).
SALE_AMOUNT_ATTRIBUTE = "order_total"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    method: str
    url: str
    body: str | None
    content_type: str | None


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def visitor_fields(click: Click) -> dict[str, Any]:
    """Where and on what the click was made, and its cost; empty when unknown."""
    return {
        "country": click.country or "",
        "region": click.region or "",
        "city": click.city or "",
        "device": click.device or "",
        "os": click.os or "",
        "browser": click.browser or "",
        "cost": click.cost if click.cost is not None else "",
    }


def event_fields(
    conversion: Conversion,
    click: Click,
    offer: Offer,
    now: datetime,
    network: bool,
    personal_data: bool | None = None,
) -> dict[str, Any]:
    """The conversion event as typed fields; revenue and profit only for the network.

    Attributes (the buyer's personal data) go along when `personal_data` says so; by
    default only to the network. An affiliate gets them only if the offer allows it.
    """
    fields: dict[str, Any] = {
        "click_id": click.click_id,
        "conversion_id": conversion.id,
        "txid": conversion.txid or "",
        "offer_id": offer.id,
        "offer_name": offer.name,
        "aff_id": conversion.affiliate_id,
        "affiliate_id": conversion.affiliate_id,
    }
    for index, sub in enumerate(click.subs, start=1):
        fields[f"sub{index}"] = sub or ""
    fields.update(
        event=conversion.outgoing_event,
        status=conversion.status,
        payout=conversion.payout,
        currency=conversion.currency,
        ip=click.ip or "",
        user_agent=click.user_agent or "",
        **visitor_fields(click),
        click_time=iso(click.created_at),
        conversion_time=iso(conversion.created_at),
        timestamp=int(now.timestamp()),
        ctit=max(0, int((conversion.created_at - click.created_at).total_seconds())),
    )
    if conversion.attributes.get(SALE_AMOUNT_ATTRIBUTE):
        # The order's value as the sales platform reported it: what trackers that share
        # revenue (Everflow's `amount`) need; not the network's revenue.
        fields["sale_amount"] = conversion.attributes[SALE_AMOUNT_ATTRIBUTE]
    if network:
        fields["revenue"] = conversion.revenue
        fields["profit"] = conversion.revenue - conversion.payout
    if (network if personal_data is None else personal_data) and conversion.attributes:
        fields["attributes"] = dict(conversion.attributes)
    return fields


def macro_values(fields: dict[str, Any]) -> dict[str, str]:
    """Every field as text; the attributes as `attr.<name>`."""
    values: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, dict):
            values.update({f"attr.{key}": str(item) for key, item in value.items()})
        elif isinstance(value, Decimal):
            values[name] = format_amount(value)
        else:
            values[name] = str(value)
    return values


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        # Money goes out as a JSON number written from the exact decimal text.
        return orjson.Fragment(format_amount(value).encode())
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: object) -> bytes:
    return orjson.dumps(value, default=_json_default)


def without_empty_params(url: str) -> str:
    """The URL without the query parameters whose value is empty (`&tid=`)."""
    base, question, rest = url.partition("?")
    if not question:
        return url
    query, hash_, fragment = rest.partition("#")
    kept = [part for part in query.split("&") if part and not part.endswith("=")]
    return base + ("?" + "&".join(kept) if kept else "") + hash_ + fragment


def render(config: PostbackConfig, fields: dict[str, Any]) -> RenderedRequest:
    values = macro_values(fields)
    if config.status_map:
        # The receiver's word for the status (a tracker's `sale`, `Declined`...).
        values["status"] = config.status_map.get(values["status"], values["status"])
    url = expand(config.url, values, Encoding.URL)
    if config.omit_empty:
        url = without_empty_params(url)
    if config.method == "GET":
        return RenderedRequest("GET", url, None, None)
    if config.content_type == FORM:
        body = (
            expand(config.body, values, Encoding.FORM)
            if config.body is not None
            else urlencode(values)
        )
        return RenderedRequest("POST", url, body, FORM)
    body = (
        expand(config.body, values, Encoding.JSON)
        if config.body is not None
        else dumps(fields).decode()
    )
    return RenderedRequest("POST", url, body, JSON)
