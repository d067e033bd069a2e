"""Alert rules: when each kind is breached, and one incident per change of state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from postback.domain.alerts import (
    FIRED,
    FIRING,
    OK,
    RECOVERED,
    Measurement,
    breached,
    next_notify_delay,
    notification,
    transition,
    window_start,
)
from postback.domain.records import Alert, Incident

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
RULE = Alert(
    id=4,
    name="quiet offer",
    kind="no_conversions",
    offer_id=3,
    postback_id=None,
    threshold=100,
    percent=50,
    window_seconds=7200,
    webhook_url="https://hooks.example/a",
    secret="whsec_x",
    active=True,
    state=OK,
    state_since=None,
    checked_at=None,
    created_at=NOW,
    updated_at=NOW,
)


def test_no_conversions_needs_enough_clicks_and_no_approval() -> None:
    assert breached(RULE, Measurement(clicks=100, approved=0))
    assert not breached(RULE, Measurement(clicks=99, approved=0))
    assert not breached(RULE, Measurement(clicks=1000, approved=1))


def test_delivery_failures_above_the_rate_over_enough_attempts() -> None:
    rule = replace(RULE, kind="delivery_failures", threshold=10, percent=20)
    assert breached(rule, Measurement(attempts=10, failures=3))
    assert not breached(rule, Measurement(attempts=10, failures=2))  # exactly 20 %: not above
    assert not breached(rule, Measurement(attempts=9, failures=9))  # too few to judge


def test_bad_tokens_more_than_allowed() -> None:
    rule = replace(RULE, kind="bad_tokens", threshold=5)
    assert breached(rule, Measurement(refusals=6))
    assert not breached(rule, Measurement(refusals=5))


def test_unknown_kind_is_a_bug() -> None:
    with pytest.raises(ValueError):
        breached(replace(RULE, kind="weather"), Measurement())


def test_one_incident_per_change_of_state() -> None:
    assert transition(OK, True) == (FIRING, FIRED)
    assert transition(FIRING, True) == (FIRING, None)
    assert transition(FIRING, False) == (OK, RECOVERED)
    assert transition(OK, False) == (OK, None)


def test_window_and_notification() -> None:
    assert window_start(RULE, NOW) == NOW - timedelta(hours=2)
    incident = Incident(
        9, 4, FIRED, {"clicks": 120, "approved": 0}, NOW, "pending", 0, None, None, None
    )
    body = notification(RULE, incident)
    assert body["type"] == "alert.fired" and body["state"] == FIRING
    assert body["measured"] == {"clicks": 120, "approved": 0}
    assert body["at"] == "2026-05-01T12:00:00Z"


def test_notify_retries_then_gives_up() -> None:
    assert next_notify_delay(1) == 5.0
    assert next_notify_delay(4) == 600.0
    assert next_notify_delay(5) is None
