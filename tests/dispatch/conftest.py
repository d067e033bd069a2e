"""Fixtures of the dispatch tests: the one way they start real HTTP receivers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest

from .support import Handler, MakeReceiver, Receiver, answer_ok


@pytest.fixture
async def receivers() -> AsyncIterator[MakeReceiver]:
    """Starts real HTTP receivers (127.0.0.1 and a free port unless told); all are
    stopped, and whatever still waits on their `release` let go, when the test ends."""
    started: list[Receiver] = []

    async def make(
        handler: Handler = answer_ok,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> Receiver:
        receiver = await Receiver(handler, host=host, port=port, clock=clock).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def receiver(receivers: MakeReceiver) -> Receiver:
    """One receiver answering 200 "ok" to everything."""
    return await receivers()
