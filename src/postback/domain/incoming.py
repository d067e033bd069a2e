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
from postback.errors import InvalidInput, UnknownEvent

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


def read_event(params: Mapping[str, Sequence[str]]) -> str:
    """The event as sent (or the default), validated."""
    event = pick(params, "event") or DEFAULT_EVENT
    if not EVENT_PATTERN.fullmatch(event):
        raise InvalidInput("event", "event must be 1-64 characters of [A-Za-z0-9_.:-]")
    return event


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

    event = read_event(params)

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


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One entry of a field map, read: `their.path|other.path` -> `ours,attr.x*0.01`.

    The partner's value is the first of `sources` present and not empty; it lands under
    each of `targets`, multiplied by `scale` when there is one (amounts in cents)."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    scale: Decimal | None = None


MAX_RULE_SOURCES: Final = 8
TARGET_PATTERN: Final = re.compile(
    r"click_id|txid|event|status|revenue|currency|token|attr\.[a-z][a-z0-9_]{0,39}"
)
SOURCE_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\[\]-]{1,128}")
SCALE_PATTERN: Final = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")


def field_rule(theirs: str, ours: str) -> FieldRule:
    """A field map entry read; ValueError says what is wrong with it."""
    sources = tuple(theirs.split("|"))
    if len(sources) > MAX_RULE_SOURCES or not all(SOURCE_PATTERN.fullmatch(s) for s in sources):
        raise ValueError(
            f"{theirs[:64]!r}: up to {MAX_RULE_SOURCES} field names of [A-Za-z0-9_.[]-], "
            "joined by |"
        )
    named, star, factor = ours.partition("*")
    targets = tuple(named.split(","))
    if not all(TARGET_PATTERN.fullmatch(t) for t in targets) or len(set(targets)) < len(targets):
        raise ValueError(
            f"{ours[:64]!r}: fields of ours (click_id, txid, event, status, revenue, "
            "currency, token, attr.<name>), joined by commas"
        )
    scale = None
    if star:
        if not SCALE_PATTERN.fullmatch(factor) or Decimal(factor) == 0:
            raise ValueError(f"{ours[:64]!r}: *<scale> is a positive decimal, e.g. *0.01")
        scale = Decimal(factor)
    return FieldRule(sources, targets, scale)


def _scaled(value: str, scale: Decimal, param: str) -> str:
    try:
        number = Decimal(value.strip())
    except ArithmeticError:
        raise InvalidInput(param, f"{param} must be a number") from None
    if not number.is_finite() or abs(number) >= money.MAX_AMOUNT:
        raise InvalidInput(param, f"{param} must be a number")
    return format((number * scale).normalize(), "f")


def apply_field_map(
    params: Mapping[str, Sequence[str]], field_map: Mapping[str, str]
) -> dict[str, list[str]]:
    """The params with each of the partner's fields also under our names (fields of ours
    or `attr.<name>`); a value under both names must agree, as with aliases.

    A map that says where one of our fields is makes that field's other aliases plain
    data: a platform's own `type=invoice` is not our event."""
    mapped = {name: list(values) for name, values in params.items()}
    rules = [field_rule(theirs, ours) for theirs, ours in field_map.items()]
    for rule in rules:
        for target in rule.targets:
            for alias in FIELD_ALIASES.get(target, ())[1:]:
                if alias not in rule.sources:
                    mapped.pop(alias, None)
    for rule in rules:
        found = next(
            ((source, params[source]) for source in rule.sources if any(params.get(source, ()))),
            None,
        )
        if found is None:
            continue
        source, values = found
        if rule.scale is not None:
            values = [_scaled(value, rule.scale, source) for value in values]
        for target in rule.targets:
            if target != source or rule.scale is not None:
                mapped.setdefault(target, []).extend(values)
    return mapped


# An event map value: the event is acknowledged (200 `ignored`) and nothing is recorded.
IGNORE: Final = "ignore"


def map_event(event: str, event_map: Mapping[str, str]) -> str:
    """The advertiser's own event name mapped onto ours, or IGNORE. With no map, every
    event stays as it is; with one, an event outside it is refused: a partner's new or
    unforeseen event must never be counted as a sale."""
    if not event_map:
        return event
    mapped = event_map.get(event)
    if mapped is None:
        raise UnknownEvent(
            f"event {event!r} is not in the advertiser's event map; map it to one of ours "
            f"or to {IGNORE!r}"
        )
    return mapped
