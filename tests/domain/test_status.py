"""The conversion status vocabulary and its state machine."""

from __future__ import annotations

import itertools

import pytest

from postback.domain.status import ALLOWED_TRANSITIONS, STATUSES, can_transition, map_status

# The contract's table, written out independently of the module under test.
ALLOWED = {
    ("pending", "approved"),
    ("pending", "rejected"),
    ("approved", "rejected"),
    ("approved", "refunded"),
    ("approved", "chargeback"),
    ("rejected", "approved"),
}
VOCABULARY = ("pending", "approved", "rejected", "refunded", "chargeback")
ALL_PAIRS = list(itertools.product(VOCABULARY, VOCABULARY))


def test_vocabulary() -> None:
    assert set(STATUSES) == set(VOCABULARY)
    assert set(ALLOWED_TRANSITIONS) == set(VOCABULARY)


@pytest.mark.parametrize(("current", "new"), sorted(ALLOWED))
def test_allowed_transition(current: str, new: str) -> None:
    assert can_transition(current, new)


@pytest.mark.parametrize(("current", "new"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_refused_transition(current: str, new: str) -> None:
    assert not can_transition(current, new)


@pytest.mark.parametrize("final", ["refunded", "chargeback"])
def test_nothing_leaves_final_states(final: str) -> None:
    assert not any(can_transition(final, other) for other in VOCABULARY)


@pytest.mark.parametrize(
    ("current", "new"),
    [("unknown", "approved"), ("approved", "unknown"), ("", "approved"), ("Pending", "approved")],
)
def test_unknown_statuses_never_transition(current: str, new: str) -> None:
    assert not can_transition(current, new)


@pytest.mark.parametrize("status", VOCABULARY)
@pytest.mark.parametrize("spelling", [str.lower, str.upper, str.title])
def test_vocabulary_is_case_insensitive(status: str, spelling: object) -> None:
    assert callable(spelling)
    assert map_status(spelling(status), {}) == status


@pytest.mark.parametrize(
    ("raw", "expected"), [(" approved ", "approved"), ("\tPENDING", "pending")]
)
def test_vocabulary_ignores_surrounding_space(raw: str, expected: str) -> None:
    assert map_status(raw, {}) == expected


ADVERTISER_MAP = {
    "1": "approved",
    "0": "pending",
    "sale": "approved",
    "declined": "rejected",
    "-1": "rejected",
    "approved": "pending",  # an advertiser whose "approved" means "on hold"
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", "approved"),
        ("0", "pending"),
        ("-1", "rejected"),
        ("sale", "approved"),
        ("SALE", "approved"),
        (" Sale ", "approved"),
        ("declined", "rejected"),
        ("approved", "pending"),  # the advertiser's map wins over the vocabulary
        ("rejected", "rejected"),  # not in the map: the vocabulary applies
        ("ChargeBack", "chargeback"),
    ],
)
def test_map_status_with_advertiser_map(raw: str, expected: str) -> None:
    assert map_status(raw, ADVERTISER_MAP) == expected


@pytest.mark.parametrize(
    "raw", ["", "2", "paid", "approve", "approved!", "sale1", "pending approved"]
)
def test_map_status_unknown_is_none(raw: str) -> None:
    assert map_status(raw, ADVERTISER_MAP) is None


def test_map_status_without_map_refuses_advertiser_words() -> None:
    assert map_status("1", {}) is None
    assert map_status("sale", {}) is None
