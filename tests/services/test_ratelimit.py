"""The failed-authentication limit, on a clock the test moves."""

from __future__ import annotations

from postback.services.ratelimit import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_the_limit_within_a_minute_then_lets_go() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, clock=clock)
    for _ in range(2):
        limiter.failed("198.51.100.1")
        clock.now += 10
    assert limiter.retry_after("198.51.100.1") is None
    limiter.failed("198.51.100.1")
    # The oldest of the three failures was 20 s ago: 40 s to wait.
    assert limiter.retry_after("198.51.100.1") == 40
    assert limiter.retry_after("198.51.100.2") is None
    clock.now += 39.5
    assert limiter.retry_after("198.51.100.1") == 1
    clock.now += 0.5
    assert limiter.retry_after("198.51.100.1") is None
    # One more failure: the window now holds the two later ones and this one.
    limiter.failed("198.51.100.1")
    assert limiter.retry_after("198.51.100.1") == 10


def test_failures_older_than_a_minute_are_forgotten() -> None:
    clock = Clock()
    limiter = FailureLimiter(2, clock=clock)
    limiter.failed("a")
    clock.now += 61
    limiter.failed("a")
    assert limiter.retry_after("a") is None


def test_zero_turns_it_off_and_memory_is_bounded() -> None:
    off = FailureLimiter(0)
    for _ in range(100):
        off.failed("a")
    assert off.retry_after("a") is None

    clock = Clock()
    limiter = FailureLimiter(1, max_clients=3, clock=clock)
    for client in ("a", "b", "c", "d"):
        limiter.failed(client)
    assert limiter.retry_after("a") is None  # the least recently failing was forgotten
    assert all(limiter.retry_after(c) == 60 for c in ("b", "c", "d"))
    # An address we cannot tell is one client, not a free pass.
    limiter.failed(None)
    assert limiter.retry_after(None) == 60
