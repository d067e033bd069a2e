"""Conversion identity, what an incoming status does to an existing conversion, and the
attribution window within which a click may still earn a new conversion."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from postback.domain.status import can_transition
from postback.errors import InvalidTransition

# An offer's attribution window in days: its default and bounds.
ATTRIBUTION_DAYS = 30
MIN_ATTRIBUTION_DAYS = 1
MAX_ATTRIBUTION_DAYS = 3650


class Outcome(Enum):
    CREATED = "created"
    UPDATED = "updated"
    DUPLICATE = "duplicate"


def identity_key(offer_id: int, click_id: str, event: str, txid: str | None) -> str:
    """With a txid, one conversion per (offer, event, txid); without, one per (click, event)."""
    if txid is not None:
        return f"t|{offer_id}|{event}|{txid}"
    return f"c|{click_id}|{event}"


def decide(current_status: str | None, new_status: str) -> Outcome:
    """CREATED for a new identity, DUPLICATE for the same status, UPDATED for an allowed change.

    Raises InvalidTransition for a change the state machine refuses.
    """
    if current_status is None:
        return Outcome.CREATED
    if current_status == new_status:
        return Outcome.DUPLICATE
    if not can_transition(current_status, new_status):
        raise InvalidTransition(current_status, new_status)
    return Outcome.UPDATED


def click_expired(clicked_at: datetime, received_at: datetime, attribution_days: int) -> bool:
    """Whether a click is too old to be credited with a new conversion received at
    `received_at`: made more than `attribution_days` days before it (a click exactly that
    old still counts). A status change of an existing conversion is never expired."""
    return clicked_at < received_at - timedelta(days=attribution_days)
