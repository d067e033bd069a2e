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


def test_failed_and_succeeded_say_when_the_pause_changed(clock: Clock) -> None:
    guard = breaker(clock)
    assert [guard.failed("a") for _ in range(4)] == [False, False, True, False]
    assert guard.pause_of("a") == pytest.approx((10.0, 10.0))
    assert guard.failed("a", retry_after=20.0) is True  # later than the pause
    assert guard.failed("a", retry_after=5.0) is False
    assert guard.paused_endpoints() == ["a"]
    clock.now += 20
    assert guard.wait_for("a") is None
    assert guard.probing("a")
    assert guard.failed("a") is True  # the probe failed: a pause twice as long
    assert guard.pause_of("a") == pytest.approx((20.0, 20.0))
    assert guard.succeeded("a") is True
    assert guard.pause_of("a") is None
    # A success that ends no pause changes nothing to share.
    guard.failed("a")
    assert guard.succeeded("a") is False
    assert guard.succeeded("b") is False


def test_a_pause_from_elsewhere_holds_this_breaker_too(clock: Clock) -> None:
    guard = breaker(clock)
    guard.paused_elsewhere("a", 10.0, 10.0)
    assert guard.paused("a")
    assert guard.wait_for("a") == pytest.approx(10.0)
    # A shorter one does not shorten it; its length is kept for the next doubling.
    guard.paused_elsewhere("a", 4.0, 10.0)
    assert guard.wait_for("a") == pytest.approx(10.0)
    clock.now += 10
    assert guard.wait_for("a") is None  # the probe, if this worker gets the right
    assert guard.failed("a") is True
    assert guard.wait_for("a") == pytest.approx(20.0)
    # Another worker's success ends it here too.
    guard.resumed_elsewhere("a")
    assert guard.wait_for("a") is None and not guard.probing("a")


def test_a_pause_over_elsewhere_makes_the_next_send_a_probe(clock: Clock) -> None:
    guard = breaker(clock)
    guard.failed("a")  # one failure here: below the threshold
    guard.paused_elsewhere("a", -30.0, 10.0)
    assert not guard.paused("a")
    assert guard.wait_for("a") is None
    assert guard.probing("a")
    # Another worker holds the probe right: hold the endpoint meanwhile.
    guard.probe_refused("a", 12.0)
    assert not guard.probing("a")
    assert guard.wait_for("a") == pytest.approx(12.0)
    # A probe under way here is kept when another worker's pause is read meanwhile.
    clock.now += 12
    assert guard.wait_for("a") is None
    guard.paused_elsewhere("a", 0.0, 10.0)
    assert guard.wait_for("a") == PROBE_WAIT_SECONDS


def test_resumed_elsewhere_keeps_a_count_below_the_threshold(clock: Clock) -> None:
    guard = breaker(clock)
    guard.failed("a")
    guard.failed("a")
    guard.resumed_elsewhere("a")  # nothing paused here: nothing to end
    guard.failed("a")
    assert guard.paused("a")
