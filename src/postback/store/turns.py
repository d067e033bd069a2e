"""Whose turn it is to write a SQLite database, across processes.

SQLite lets one connection write at a time. A writer that finds the database locked by
another process polls: SQLite's busy handler sleeps 1, 2, 5, 10 ... up to 100 ms between
tries, and the holder, writing again at once, often wins the next race too. Under steady
writes from a server and a worker process that made a write wait seconds. Here each
writer first takes an exclusive `flock` on a file beside the database (`<db>-turn`); a
process waiting for it is woken by the kernel the moment the holder lets go. SQLite's own
locks stay as they are (on Linux, flock and the POSIX locks SQLite uses are independent),
so a process that does not take the turn is still safe, only slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from postback.errors import StoreLocked


class _Wait:
    """One wait for the turn: taken by the waiting thread, or abandoned by its caller."""

    __slots__ = ("abandoned", "taken")

    def __init__(self) -> None:
        self.taken = False
        self.abandoned = False


class FileTurn:
    """The write turn of the database at `path` (None or ':memory:': no turn to take)."""

    def __init__(self, path: str | None) -> None:
        self._fd: int | None = None
        if path and path != ":memory:" and not path.startswith("file:"):
            self._fd = os.open(f"{path}-turn", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # A blocking flock waits in this thread, not in the event loop.
        self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-turn")
        self._guard = threading.Lock()

    async def acquire(self, wait_seconds: float) -> None:
        """Take the turn; StoreLocked after `wait_seconds` without it."""
        fd = self._fd
        if fd is None:
            return
        with contextlib.suppress(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        wait = _Wait()
        taken = asyncio.get_running_loop().run_in_executor(self._waiter, self._take, fd, wait)
        try:
            await asyncio.wait_for(asyncio.shield(taken), wait_seconds)
        except BaseException as exc:  # timed out or cancelled: give the turn up
            with self._guard:
                if wait.taken:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                wait.abandoned = True
            if isinstance(exc, TimeoutError):
                raise StoreLocked(
                    f"no turn to write within {wait_seconds:g}s (another process holds it)"
                ) from None
            raise

    def _take(self, fd: int, wait: _Wait) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._guard:
            if wait.abandoned:
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                wait.taken = True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._waiter.shutdown(wait=False, cancel_futures=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def only_one(path: str | None, task: str) -> Iterator[bool]:
    """Whether this process holds `task`'s lock of the database at `path` (a flock on
    `<db>-<task>`, gone with the process); False at once when another one holds it."""
    if not path or path == ":memory:" or path.startswith("file:"):
        yield True
        return
    fd = os.open(f"{path}-{task}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # and the lock with it
