"""Group commit: many concurrent callers share one transaction.

Each caller awaits until the batch holding its item is committed, so nothing is
acknowledged before it is durable; while one batch commits, the next one gathers.
The flush function answers every item on its own (a result or an exception), so one
refused item does not fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from postback.logthrottle import Throttled

log = logging.getLogger(__name__)
batch_failed = Throttled(log)

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        max_batch: int = 2000,
        concurrency: int = 1,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        # `concurrency` batches in flight at once: while one commits, the next gathers
        # and is written too (worth it where transactions share no row).
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name="group-commit")
                for _ in range(self._concurrency)
            ]

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if not self._tasks:
            return
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def submit(self, item: T) -> R:
        """Return once the item is committed; raise what was raised for it."""
        self.start()
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, done))
        return await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await self._flush([item for item, _ in batch])
            except Exception as exc:  # the whole batch failed: every waiter learns why
                batch_failed.warning("batch_failed", "group commit failed: %s", exc)
                outcomes = [exc] * len(batch)
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if done.done():
                    continue
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)
            for _ in batch:
                self._queue.task_done()


class GroupCommitter(Batcher[T, None]):
    """A batcher for plain inserts: the flush writes the whole list or raises."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        max_batch: int = 2000,
        concurrency: int = 1,
    ) -> None:
        async def flush(items: list[T]) -> list[None]:
            await write(items)
            return [None] * len(items)

        super().__init__(flush, max_batch, concurrency)
