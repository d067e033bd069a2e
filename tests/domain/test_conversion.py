"""Conversion identity and what an incoming status does to an existing conversion."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain.conversion import Outcome, click_expired, decide, identity_key
from postback.errors import Conflict, InvalidTransition

VOCABULARY = ("pending", "approved", "rejected", "refunded", "chargeback")
ALLOWED = {
    ("pending", "approved"),
    ("pending", "rejected"),
    ("approved", "rejected"),
    ("approved", "refunded"),
    ("approved", "chargeback"),
    ("rejected", "approved"),
}


def test_identity_with_txid_ignores_the_click() -> None:
    a = identity_key(7, "click-a", "sale", "T-1")
    b = identity_key(7, "click-b", "sale", "T-1")
    assert a == b


def test_identity_with_txid_depends_on_offer_event_and_txid() -> None:
    base = identity_key(7, "c", "sale", "T-1")
    assert identity_key(8, "c", "sale", "T-1") != base
    assert identity_key(7, "c", "lead", "T-1") != base
    assert identity_key(7, "c", "sale", "T-2") != base


def test_identity_without_txid_is_per_click_and_event() -> None:
    base = identity_key(7, "click-a", "sale", None)
    assert identity_key(7, "click-b", "sale", None) != base
    assert identity_key(7, "click-a", "lead", None) != base
    # The click already names its offer: one conversion per (click, event).
    assert identity_key(8, "click-a", "sale", None) == base


def test_distinct_txids_on_one_click_are_distinct() -> None:
    keys = {identity_key(1, "c", "conversion", f"tx{i}") for i in range(100)}
    assert len(keys) == 100
    assert identity_key(1, "c", "conversion", None) not in keys


def test_txid_and_no_txid_never_collide() -> None:
    # A txid that happens to equal the click id is still another identity.
    assert identity_key(1, "abc", "conversion", "abc") != identity_key(1, "abc", "conversion", None)


EVENTS = st.text(alphabet="abcXYZ019_.:-", min_size=1, max_size=8)
CLICKS = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=8)
TXIDS = st.none() | st.text(min_size=1, max_size=10)
IDENTITIES = st.tuples(st.integers(1, 10**6), CLICKS, EVENTS, TXIDS)


@given(IDENTITIES, IDENTITIES)
def test_identity_key_is_injective(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    def normal(ident: tuple) -> tuple:  # type: ignore[type-arg]
        offer, click, event, txid = ident
        return ("t", offer, event, txid) if txid is not None else ("c", click, event)

    same_identity = normal(a) == normal(b)
    assert (identity_key(*a) == identity_key(*b)) is same_identity


@pytest.mark.parametrize("status", VOCABULARY)
def test_decide_created(status: str) -> None:
    assert decide(None, status) is Outcome.CREATED


@pytest.mark.parametrize("status", VOCABULARY)
def test_decide_duplicate(status: str) -> None:
    assert decide(status, status) is Outcome.DUPLICATE


@pytest.mark.parametrize(("current", "new"), sorted(ALLOWED))
def test_decide_updated(current: str, new: str) -> None:
    assert decide(current, new) is Outcome.UPDATED


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (c, n)
        for c, n in itertools.product(VOCABULARY, VOCABULARY)
        if c != n and (c, n) not in ALLOWED
    ],
)
def test_decide_refused(current: str, new: str) -> None:
    with pytest.raises(InvalidTransition) as info:
        decide(current, new)
    error = info.value
    assert isinstance(error, Conflict)
    assert error.code == "invalid_transition"
    assert error.current == current
    assert error.requested == new
    assert error.details["status"] == current
    assert current in error.message and new in error.message


def test_outcome_values_are_the_reply_words() -> None:
    assert {o.value for o in Outcome} == {"created", "updated", "duplicate"}


NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "days", "expired"),
    [
        (timedelta(0), 1, False),
        (timedelta(days=30), 30, False),  # exactly the window: still counts
        (timedelta(days=30, microseconds=1), 30, True),
        (timedelta(days=1, microseconds=1), 1, True),
        (timedelta(days=3649), 3650, False),
        (timedelta(days=-1), 1, False),  # a click after the postback (clock skew)
    ],
)
def test_click_expired_at_the_window(age: timedelta, days: int, expired: bool) -> None:
    assert click_expired(NOW - age, NOW, days) is expired
