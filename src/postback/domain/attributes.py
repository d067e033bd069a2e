"""Conversion attributes: the extra fields a platform sends (customer, product, tracking).

Read from `attr.<name>` fields (or a JSON `attributes` object) and from a few well-known
top-level names. Bounded in count, name and length; anything else is a 400 naming the
field. Attributes are personal data: affiliates receive them only where the offer allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from postback.errors import InvalidInput

MAX_ATTRIBUTES: Final = 32
MAX_VALUE_LENGTH: Final = 512
NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
PREFIXES: Final = ("attr.", "attributes.")

# Top-level fields taken as attributes without a prefix, as checkout platforms name them.
WELL_KNOWN: Final = frozenset(
    {
        "customer_name",
        "customer_email",
        "customer_phone",
        "email",
        "phone",
        "product",
        "product_id",
        "product_name",
        "order_total",
        "tracking_code",
        "carrier",
        "coupon",
    }
)


def _name_of(field: str) -> str | None:
    for prefix in PREFIXES:
        if field.startswith(prefix):
            return field[len(prefix) :]
    return field if field in WELL_KNOWN else None


def _check_value(param: str, value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput(param, f"{param} is longer than {MAX_VALUE_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidInput(param, f"{param} contains control characters")
    return value


def read_attributes(params: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The attributes among the fields of a postback; an empty value removes nothing."""
    found: dict[str, str] = {}
    for field, values in params.items():
        name = _name_of(field)
        if name is None or not values:
            continue
        param = field[:64]
        if not NAME_PATTERN.fullmatch(name):
            raise InvalidInput(
                param, "attribute names are 1-40 characters of [a-z0-9_], starting with a letter"
            )
        value = values[0]
        if any(other != value for other in values[1:]):
            raise InvalidInput(param, f"{param} is given more than once with different values")
        if name in found and found[name] != value:
            raise InvalidInput(param, f"attribute {name} is given twice with different values")
        if value == "":
            continue
        found[name] = _check_value(param, value)
    if len(found) > MAX_ATTRIBUTES:
        raise InvalidInput("attributes", f"at most {MAX_ATTRIBUTES} attributes per conversion")
    return found


def merge(current: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """What a conversion holds after a later postback: new values win."""
    merged = {**current, **new}
    if len(merged) > MAX_ATTRIBUTES:
        raise InvalidInput("attributes", f"at most {MAX_ATTRIBUTES} attributes per conversion")
    return merged
