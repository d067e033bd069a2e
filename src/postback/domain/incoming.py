"""Reading an incoming postback: field aliases, validation, status mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from postback.domain import money
from postback.domain.ids import is_click_id
from postback.domain.status import STATUSES, map_status
from postback.errors import InvalidInput

FIELD_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "click_id": ("click_id", "clickid", "cid", "subid"),
    "txid": ("txid", "tid", "order_id", "action_id"),
    "event": ("event", "goal", "et", "type"),
    "status": ("status", "cnv_status"),
    "revenue": ("revenue", "payout", "amount", "sum"),
    "currency": ("currency", "cnv_currency"),
    "token": ("token", "key", "secure"),
}

# Names the advertiser, so that its field map applies (partner templates).
ADVERTISER_PARAM: Final = "adv_id"
# What a field map may map a partner's field onto.
MAPPABLE_FIELDS: Final = frozenset(FIELD_ALIASES)

EVENT_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
CURRENCY_PATTERN: Final = re.compile(r"[A-Za-z]{3}")
MAX_TXID_LENGTH: Final = 255
DEFAULT_EVENT: Final = "conversion"
DEFAULT_STATUS: Final = "approved"


@dataclass(frozen=True, slots=True)
class PostbackFields:
    """The recognised fields of an incoming postback, as sent (status not yet mapped)."""

    click_id: str
    txid: str | None
    event: str
    raw_status: str | None
    revenue: Decimal | None
    currency: str | None
    token: str | None


def single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """A parameter's value; repeating it is fine only with the same value."""
    values = params.get(name)
    if not values:
        return None
    if any(value != values[0] for value in values[1:]):
        raise InvalidInput(name, f"{name} is given more than once with different values")
    return values[0]


def pick(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The value of a field under its name or any alias; conflicting values are refused."""
    found: list[str] = []
    for alias in FIELD_ALIASES[name]:
        found.extend(params.get(alias, ()))
    if not found:
        return None
    if any(value != found[0] for value in found[1:]):
        raise InvalidInput(name, f"{name} is given more than once with different values")
    return found[0]


def _text(value: str, param: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidInput(param, f"{param} is longer than {limit} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidInput(param, f"{param} contains control characters")
    return value


def read_fields(params: Mapping[str, Sequence[str]]) -> PostbackFields:
    """Validate what does not depend on the advertiser; InvalidInput names the field."""
    click_id = pick(params, "click_id")
    if not click_id:
        raise InvalidInput("click_id", "click_id is required")
    if not is_click_id(click_id):
        raise InvalidInput("click_id", "click_id must be 1-64 characters of [A-Za-z0-9_-]")

    txid = pick(params, "txid") or None
    if txid is not None:
        txid = _text(txid, "txid", MAX_TXID_LENGTH)

    event = pick(params, "event") or DEFAULT_EVENT
    if not EVENT_PATTERN.fullmatch(event):
        raise InvalidInput("event", "event must be 1-64 characters of [A-Za-z0-9_.:-]")

    raw_status = pick(params, "status") or None
    if raw_status is not None:
        raw_status = _text(raw_status, "status", 64)

    revenue_text = pick(params, "revenue")
    revenue = None
    if revenue_text:
        try:
            revenue = money.parse_amount(revenue_text)
        except ValueError as exc:
            raise InvalidInput("revenue", f"revenue {exc}") from None

    currency = pick(params, "currency") or None
    if currency is not None:
        if not CURRENCY_PATTERN.fullmatch(currency):
            raise InvalidInput("currency", "currency must be a 3-letter ISO 4217 code")
        currency = currency.upper()

    token = pick(params, "token") or None
    return PostbackFields(click_id, txid, event, raw_status, revenue, currency, token)


def resolve_status(raw_status: str | None, status_map: Mapping[str, str]) -> str:
    if raw_status is None:
        return DEFAULT_STATUS
    status = map_status(raw_status, status_map)
    if status is None:
        raise InvalidInput(
            "status", f"unknown status {raw_status!r}; expected one of {', '.join(STATUSES)}"
        )
    return status


def apply_field_map(
    params: Mapping[str, Sequence[str]], field_map: Mapping[str, str]
) -> dict[str, list[str]]:
    """The params with each of the partner's fields also under our name (a field of ours
    or `attr.<name>`); a value under both names must agree, as with aliases."""
    mapped = {name: list(values) for name, values in params.items()}
    for theirs, ours in field_map.items():
        values = params.get(theirs)
        if values and theirs != ours:
            mapped.setdefault(ours, []).extend(values)
    return mapped


def map_event(event: str, event_map: Mapping[str, str]) -> str:
    """The advertiser's own event name mapped onto ours (unmapped names stay)."""
    return event_map.get(event, event)
