"""The write turn of a SQLite database across processes: one holder at a time, a waiter
woken when the holder lets go, a bounded wait, and a given-up wait that holds nothing.

Two FileTurn objects stand for two processes: each opens the file on its own, and flock
locks of separate opens exclude each other as those of separate processes do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postback.errors import StoreLocked
from postback.store.turns import FileTurn


@pytest.fixture
def turns(tmp_path: Path) -> Iterator[tuple[FileTurn, FileTurn]]:
    path = str(tmp_path / "postback.db")
    first, second = FileTurn(path), FileTurn(path)
    yield first, second
    first.close()
    second.close()


async def test_a_waiter_gets_the_turn_as_soon_as_the_holder_lets_go(
    turns: tuple[FileTurn, FileTurn],
) -> None:
    first, second = turns
    await first.acquire(1)
    waiting = asyncio.ensure_future(second.acquire(5))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    let_go = time.monotonic()
    first.release()
    await waiting
    assert time.monotonic() - let_go < 0.1
    second.release()


async def test_a_wait_is_bounded_and_a_given_up_wait_keeps_nothing(
    turns: tuple[FileTurn, FileTurn],
) -> None:
    first, second = turns
    await first.acquire(1)
    with pytest.raises(StoreLocked):
        await second.acquire(0.2)
    cancelled = asyncio.ensure_future(second.acquire(5))
    await asyncio.sleep(0.1)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    first.release()
    await asyncio.sleep(0.1)  # the abandoned waits take the turn and let it go at once
    await first.acquire(1)
    first.release()


def test_an_in_memory_database_has_no_turn_to_take() -> None:
    turn = FileTurn(":memory:")
    asyncio.run(turn.acquire(0.1))
    turn.release()
    turn.close()
