"""Group commit: callers share flushes, each learns its own outcome, nothing queued is
dropped at stop, and with concurrency > 1 several flushes are in flight at once."""

from __future__ import annotations

import asyncio

from postback.batching import Batcher, GroupCommitter


async def test_callers_that_arrive_together_share_one_flush_and_get_their_own_answers() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[int | BaseException]:
        flushed.append(items)
        await asyncio.sleep(0.01)
        return [ValueError(n) if n == 3 else n * 10 for n in items]

    batcher: Batcher[int, int] = Batcher(flush, max_batch=100)
    answers = await asyncio.gather(*(batcher.submit(n) for n in range(6)), return_exceptions=True)
    await batcher.stop()
    assert answers[:3] == [0, 10, 20] and answers[4:] == [40, 50]
    assert isinstance(answers[3], ValueError)
    assert sorted(n for batch in flushed for n in batch) == list(range(6))
    assert len(flushed) < 6  # shared, not one flush per caller


async def test_a_failed_flush_fails_each_of_its_callers() -> None:
    async def write(items: list[str]) -> None:
        raise RuntimeError("disk full")

    committer: GroupCommitter[str] = GroupCommitter(write)
    answers = await asyncio.gather(
        committer.submit("a"), committer.submit("b"), return_exceptions=True
    )
    await committer.stop()
    assert all(isinstance(answer, RuntimeError) for answer in answers)


async def test_with_concurrency_two_flushes_overlap_and_stop_commits_what_is_queued() -> None:
    in_flight = 0
    most = 0
    written: list[int] = []

    async def write(items: list[int]) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        written.extend(items)
        in_flight -= 1

    single: GroupCommitter[int] = GroupCommitter(write, max_batch=1)
    await asyncio.gather(*(single.submit(n) for n in range(4)))
    await single.stop()
    assert most == 1

    most = 0
    written.clear()
    double: GroupCommitter[int] = GroupCommitter(write, max_batch=1, concurrency=2)
    pending = [asyncio.ensure_future(double.submit(n)) for n in range(6)]
    await asyncio.sleep(0)
    await double.stop()  # waits for everything queued
    assert all(future.done() for future in pending)
    assert most == 2
    assert sorted(written) == list(range(6))
