"""Macro templates: `{name}` placeholders expanded once, encoded for where they stand.

A placeholder is `{` + an identifier (letters, digits, `_ . -`) + `}`; any other
brace is literal, so JSON bodies need no escaping. Expansion is a single pass: a value
that itself looks like `{click_id}` is inserted as text and never expanded again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Final
from urllib.parse import quote, quote_plus

PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")

SUB_MACROS: Final = ("sub1", "sub2", "sub3", "sub4", "sub5")

# Where and on what the visitor clicked, and what the click cost (empty when unknown).
VISITOR_MACROS: Final = ("country", "region", "city", "device", "os", "browser", "cost")

CLICK_MACROS: Final = frozenset({"click_id", "offer_id", "aff_id", *SUB_MACROS, *VISITOR_MACROS})

POSTBACK_MACROS: Final = frozenset(
    {
        "click_id",
        "conversion_id",
        "txid",
        "offer_id",
        "offer_name",
        "aff_id",
        "affiliate_id",
        *SUB_MACROS,
        "event",
        "status",
        "payout",
        "sale_amount",
        "currency",
        "ip",
        "user_agent",
        *VISITOR_MACROS,
        "click_time",
        "conversion_time",
        "timestamp",
        "ctit",
    }
)

NETWORK_ONLY_MACROS: Final = frozenset({"revenue", "profit"})

# `{attr.<name>}`: a conversion attribute (domain/attributes.py), empty when the
# conversion has none of that name or the config may not receive personal data.
ATTRIBUTE_MACRO: Final = re.compile(r"attr\.[a-z][a-z0-9_]{0,39}")
NETWORK_MACROS: Final = POSTBACK_MACROS | NETWORK_ONLY_MACROS


class Encoding(Enum):
    URL = "url"
    JSON = "json"
    FORM = "form"


def macro_names(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def unknown_macros(template: str, known: Iterable[str], *, attributes: bool = False) -> list[str]:
    """Names in the template that are neither in `known` nor, with `attributes`,
    `attr.<name>` macros."""
    allowed = frozenset(known)
    seen: list[str] = []
    for name in macro_names(template):
        if attributes and ATTRIBUTE_MACRO.fullmatch(name):
            continue
        if name not in allowed and name not in seen:
            seen.append(name)
    return seen


def _encode(value: str, encoding: Encoding) -> str:
    if encoding is Encoding.URL:
        return quote(value, safe="")
    if encoding is Encoding.FORM:
        return quote_plus(value, safe="")
    # The JSON escaping of a string, without its surrounding quotes.
    return json.dumps(value, ensure_ascii=False)[1:-1]


def expand(template: str, values: Mapping[str, str], encoding: Encoding) -> str:
    """Replace every known placeholder; unknown names expand to an empty string.

    Configs are validated on save, so an unknown name here only happens for macros
    that the context does not provide (e.g. `{click_id}` in a fallback URL).
    """

    def replace(match: re.Match[str]) -> str:
        return _encode(values.get(match.group(1), ""), encoding)

    return PLACEHOLDER.sub(replace, template)
