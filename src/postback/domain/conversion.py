"""Conversion identity and what an incoming status does to an existing conversion."""

from __future__ import annotations

from enum import Enum

from postback.domain.status import can_transition
from postback.errors import InvalidTransition


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
