"""Conversion statuses and the state machine between them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

STATUSES: Final = ("pending", "approved", "rejected", "refunded", "chargeback")

ALLOWED_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "pending": frozenset({"approved", "rejected"}),
    "approved": frozenset({"rejected", "refunded", "chargeback"}),
    "rejected": frozenset({"approved"}),
    "refunded": frozenset(),
    "chargeback": frozenset(),
}


def can_transition(current: str, new: str) -> bool:
    return new in ALLOWED_TRANSITIONS.get(current, frozenset())


def map_status(raw: str, status_map: Mapping[str, str]) -> str | None:
    """The advertiser's own value mapped onto the vocabulary, or None when unknown.

    The advertiser's map wins; otherwise a vocabulary word is taken as it is (any case).
    """
    if raw in status_map:
        return status_map[raw]
    lowered = raw.strip().lower()
    if lowered in status_map:
        return status_map[lowered]
    return lowered if lowered in STATUSES else None
