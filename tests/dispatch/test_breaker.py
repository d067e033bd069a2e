"""The per-endpoint circuit breaker, on a clock the test moves."""

from __future__ import annotations

import pytest

from postback.dispatch.breaker import PROBE_WAIT_SECONDS, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker(clock: Clock, threshold: int = 3) -> CircuitBreaker:
    return CircuitBreaker(threshold=threshold, pause=10.0, max_pause=35.0, clock=clock)


def test_closed_until_the_threshold(clock: Clock) -> None:
    guard = breaker(clock)
    guard.failed("a")
    guard.failed("a")
    assert guard.wait_for("a") is None
    assert not guard.paused("a")
    guard.failed("a")
    assert guard.paused("a")
    assert guard.wait_for("a") == pytest.approx(10.0)
    # Other endpoints are not concerned.
    assert guard.wait_for("b") is None


def test_a_success_resets_the_count(clock: Clock) -> None:
    guard = breaker(clock)
    guard.failed("a")
    guard.failed("a")
    guard.succeeded("a")
    guard.failed("a")
    guard.failed("a")
    assert guard.wait_for("a") is None


def test_one_probe_after_the_pause_and_longer_pauses_while_it_fails(clock: Clock) -> None:
    guard = breaker(clock)
    for _ in range(3):
        guard.failed("a")
    clock.now += 4
    assert guard.wait_for("a") == pytest.approx(6.0)
    clock.now += 6
    assert guard.wait_for("a") is None  # the probe
    assert guard.wait_for("a") == PROBE_WAIT_SECONDS  # the others wait for its answer
    guard.failed("a")
    assert guard.wait_for("a") == pytest.approx(20.0)
    clock.now += 20
    assert guard.wait_for("a") is None
    guard.failed("a")
    assert guard.wait_for("a") == pytest.approx(35.0)  # capped
    clock.now += 35
    assert guard.wait_for("a") is None
    guard.succeeded("a")
    assert guard.wait_for("a") is None
    assert guard.wait_for("a") is None
    assert not guard.paused("a")


def test_failures_of_attempts_already_in_flight_do_not_extend_a_pause(clock: Clock) -> None:
    guard = breaker(clock)
    for _ in range(5):
        guard.failed("a")
    assert guard.wait_for("a") == pytest.approx(10.0)


def test_retry_after_pauses_at_once_for_as_long_as_asked(clock: Clock) -> None:
    guard = breaker(clock, threshold=100)
    guard.failed("a", retry_after=60.0)
    assert guard.wait_for("a") == pytest.approx(60.0)
    clock.now += 60
    assert guard.wait_for("a") is None
    guard.succeeded("a")
    assert not guard.paused("a")
