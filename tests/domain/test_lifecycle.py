"""The sale lifecycle: statuses each event sets, stages, what affiliates receive."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from postback.domain.conversion import Outcome
from postback.domain.lifecycle import (
    LIFECYCLE_EVENTS,
    affiliate_events,
    affiliates_receive,
    decide_stage,
    declared_events,
    is_lifecycle,
    next_status,
    status_for,
)
from postback.domain.records import Offer
from postback.errors import InvalidTransition

NOW = datetime(2026, 5, 1, tzinfo=UTC)
OFFER = Offer(
    1,
    1,
    "Course",
    "https://x.example/",
    None,
    Decimal(10),
    Decimal(5),
    "USD",
    "active",
    NOW,
    NOW,
    lifecycle_events=LIFECYCLE_EVENTS,
)


def test_each_event_sets_the_expected_status() -> None:
    assert [status_for(e) for e in LIFECYCLE_EVENTS] == [
        "pending",
        "pending",
        "approved",
        "approved",
        "rejected",
        "refunded",
        "chargeback",
        None,
        None,
    ]


def test_only_declared_lifecycle_events_count() -> None:
    assert is_lifecycle("refunded", ("approved", "refunded"))
    assert not is_lifecycle("refunded", ("approved",))
    assert not is_lifecycle("sale", LIFECYCLE_EVENTS)


def test_a_sale_walks_through_its_stages() -> None:
    assert decide_stage(None, None, "pending", "checkout_abandoned", False) is Outcome.CREATED
    # Same status, new stage: an update that owes deliveries.
    assert decide_stage("pending", "checkout_abandoned", "pending", "awaiting_payment", False) is (
        Outcome.UPDATED
    )
    assert decide_stage("pending", "awaiting_payment", "approved", "approved", False) is (
        Outcome.UPDATED
    )
    assert decide_stage("approved", "approved", "approved", "approved", False) is (
        Outcome.DUPLICATE
    )
    # A second shipping update with a new tracking code is news.
    assert decide_stage("approved", "shipping_update", "approved", "shipping_update", True) is (
        Outcome.UPDATED
    )
    assert decide_stage("approved", "approved", "refunded", "refunded", False) is Outcome.UPDATED


def test_the_state_machine_still_rules() -> None:
    with pytest.raises(InvalidTransition) as refused:
        decide_stage("refunded", "refunded", "approved", "approved", False)
    assert refused.value.current == "refunded"
    with pytest.raises(InvalidTransition):
        decide_stage("approved", "approved", "pending", "checkout_abandoned", False)


def test_affiliates_get_neither_abandoned_checkouts_nor_shipping_by_default() -> None:
    assert affiliate_events(LIFECYCLE_EVENTS, None) == (
        "awaiting_payment",
        "approved",
        "completed",
        "canceled",
        "refunded",
        "chargeback",
        "disputed",
    )
    assert not affiliates_receive(OFFER, "checkout_abandoned")
    assert not affiliates_receive(OFFER, "shipping_update")
    assert affiliates_receive(OFFER, "refunded")
    # Plain events are not the lifecycle's business.
    assert affiliates_receive(OFFER, "lead")


def test_an_offer_chooses_what_affiliates_receive() -> None:
    chosen = replace(OFFER, affiliate_events=("checkout_abandoned", "approved", "nonsense"))
    assert affiliate_events(chosen.lifecycle_events, chosen.affiliate_events) == (
        "checkout_abandoned",
        "approved",
    )
    assert affiliates_receive(chosen, "checkout_abandoned")
    assert not affiliates_receive(chosen, "refunded")
    undeclared = replace(OFFER, lifecycle_events=("approved",))
    # An event the offer does not declare is a plain event: the lifecycle rules stay out.
    assert affiliates_receive(undeclared, "checkout_abandoned")


def test_a_platform_advertiser_gives_an_undeclared_offer_its_lifecycle() -> None:
    platform_map = {"PURCHASE_APPROVED": "approved", "PURCHASE_REFUNDED": "refunded", "X": "ignore"}
    undeclared = replace(OFFER, lifecycle_events=())
    assert declared_events(undeclared, platform_map) == ("approved", "refunded")
    assert declared_events(undeclared, {"purchase": "sale"}) == ()
    declared = replace(OFFER, lifecycle_events=("approved",))
    assert declared_events(declared, platform_map) == ("approved",)


def test_a_reversal_after_a_reversal_keeps_the_first() -> None:
    assert next_status("refunded", "chargeback") == "refunded"
    assert next_status("chargeback", "refunded") == "chargeback"
    assert next_status("approved", "chargeback") == "chargeback"
    assert next_status(None, "refunded") == "refunded"
    # Anything else is the state machine's to judge.
    assert next_status("refunded", "approved") == "approved"
    assert status_for("disputed") is None
