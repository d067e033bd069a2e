"""The sale lifecycle: the events an order goes through and what each does to its status.

An offer that declares lifecycle events keeps one conversion per order (event `sale`,
identified by the txid as usual). Each lifecycle event sets the order's `stage` and, for
most events, its status; the status still follows the contract's state machine, so an
order cannot go from refunded back to approved whatever event says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from postback.domain.conversion import Outcome
from postback.domain.records import Offer
from postback.domain.status import can_transition
from postback.errors import InvalidTransition

# The event a lifecycle order is recorded under (reports count it once, as a sale).
ORDER_EVENT: Final = "sale"

# Each lifecycle event and the status it sets; None keeps the current one.
LIFECYCLE_STATUS: Final[Mapping[str, str | None]] = {
    "checkout_abandoned": "pending",
    "awaiting_payment": "pending",
    "approved": "approved",
    "completed": "approved",
    "canceled": "rejected",
    "refunded": "refunded",
    "chargeback": "chargeback",
    "shipping_update": None,
    # The buyer disputes or asks for a refund: the money is not reversed until it is.
    "disputed": None,
}
LIFECYCLE_EVENTS: Final = tuple(LIFECYCLE_STATUS)

# Off for affiliates unless the offer enables them: an abandoned checkout is the buyer's
# contact data, a shipping update says nothing about the affiliate's commission.
AFFILIATE_OFF_BY_DEFAULT: Final = frozenset({"checkout_abandoned", "shipping_update"})

# A new order whose first event keeps "the current status" starts here.
FIRST_STATUS: Final = "pending"


# Statuses that reverse an order's money: once one is reached, another reversal (a
# chargeback after a refund) is recorded as a stage and keeps the first.
REVERSED: Final = frozenset({"refunded", "chargeback"})


def is_lifecycle(event: str, declared: Iterable[str]) -> bool:
    return event in LIFECYCLE_STATUS and event in declared


def declared_events(offer: Offer, event_map: Mapping[str, str]) -> tuple[str, ...]:
    """The lifecycle events an offer's orders go through: its own declaration, or, when
    it declares none and its advertiser's event map (a sales platform's) names lifecycle
    events, those: the platform's refunds must land on the order, not count as sales."""
    if offer.lifecycle_events:
        return offer.lifecycle_events
    return tuple(event for event in LIFECYCLE_EVENTS if event in event_map.values())


def next_status(current: str | None, requested: str) -> str:
    """The status a lifecycle event leads to: a reversal after a reversal keeps the first
    (nothing leaves refunded or chargeback, and the platform must not retry it)."""
    if current in REVERSED and requested in REVERSED:
        return current
    return requested


def status_for(event: str) -> str | None:
    return LIFECYCLE_STATUS[event]


def affiliate_events(declared: Iterable[str], chosen: Iterable[str] | None) -> tuple[str, ...]:
    """The lifecycle events an offer's affiliates receive: its own choice, or every
    declared event except those off by default."""
    declared = tuple(declared)
    if chosen is not None:
        allowed = set(chosen)
        return tuple(event for event in declared if event in allowed)
    return tuple(event for event in declared if event not in AFFILIATE_OFF_BY_DEFAULT)


def decide_stage(
    current_status: str | None,
    current_stage: str | None,
    new_status: str,
    new_stage: str,
    attributes_changed: bool,
) -> Outcome:
    """CREATED for a new order; UPDATED when its status, stage or attributes change;
    DUPLICATE when the same event arrives again with nothing new.

    Raises InvalidTransition for a status change the state machine refuses.
    """
    if current_status is None:
        return Outcome.CREATED
    if new_status != current_status:
        if not can_transition(current_status, new_status):
            raise InvalidTransition(current_status, new_status)
        return Outcome.UPDATED
    if new_stage != current_stage or attributes_changed:
        return Outcome.UPDATED
    return Outcome.DUPLICATE


def affiliates_receive(offer: Offer, event: str) -> bool:
    """Whether an affiliate config may fire for this event of this offer: plain events
    always; lifecycle events only those the offer lets affiliates have."""
    if not is_lifecycle(event, offer.lifecycle_events):
        return True
    return event in affiliate_events(offer.lifecycle_events, offer.affiliate_events)
