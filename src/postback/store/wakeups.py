"""Telling delivery workers in other processes that deliveries were just written, so they
claim them at once instead of at their next poll (the poll stays, as the fallback).

PostgreSQL: the writing transaction runs NOTIFY once per batch, so the signal fires at
commit and never for a rolled-back batch; workers LISTEN on a connection of their own
and listen again after losing it. SQLite: after the commit the writer sends an empty
datagram to a local socket named after the database file (Linux's abstract namespace,
so nothing is left on disk); the worker that bound it wakes. Where neither works (the
socket is taken, another system), the poll alone carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text

log = logging.getLogger(__name__)

CHANNEL = "postback_deliveries"
NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")
# After a lost listening connection, how long before trying again.
RELISTEN_SECONDS = 1.0


def wrote_deliveries(results: Sequence[object]) -> bool:
    """Whether any of a batch's results owes deliveries."""
    return any(getattr(result, "deliveries", None) for result in results)


async def _until(stop: asyncio.Event, other: asyncio.Event) -> None:
    """Until either event is set."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def listen_postgres(dsn: str, wake: Callable[[], None], stop: asyncio.Event) -> None:
    """LISTEN until `stop`; `wake()` on every notification and after each (re)connect, for
    what was announced while nobody listened."""
    import asyncpg

    while not stop.is_set():
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot listen for deliveries: %s", exc, extra={"action": "listen_failed"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RELISTEN_SECONDS)
            continue
        try:
            await _listen_on(conn, wake, stop)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning(
                "listening for deliveries stopped: %s", exc, extra={"action": "listen_lost"}
            )
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)


async def _listen_on(conn: Any, wake: Callable[[], None], stop: asyncio.Event) -> None:
    """On one connection: until `stop`, or until the connection is lost."""
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())
    await conn.add_listener(CHANNEL, lambda *_args: wake())
    wake()
    await _until(stop, lost)


class LocalWakeup:
    """The SQLite signal: a datagram socket in Linux's abstract namespace, named after the
    database file, bound by the worker that sends deliveries."""

    def __init__(self, database: str | None) -> None:
        self.address: str | None = None
        if sys.platform.startswith("linux") and database and database != ":memory:":
            digest = hashlib.sha256(os.path.abspath(database).encode()).hexdigest()[:32]
            self.address = f"\0postback-deliveries-{digest}"
        self._sender: socket.socket | None = None

    def announce(self) -> None:
        """Wake the listening worker, if there is one; never blocks, never raises."""
        if self.address is None:
            return
        try:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            self._sender.sendto(b"", self.address)
        except OSError:
            # Nobody listens (a worker inside this process, or none yet), or its queue is
            # full and it is awake anyway.
            pass

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        if self.address is None:
            await stop.wait()
            return
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.setblocking(False)
        try:
            listener.bind(self.address)
        except OSError as exc:
            listener.close()
            log.info(
                "another worker listens for this database's deliveries (%s); polling",
                exc,
                extra={"action": "listen_taken"},
            )
            await stop.wait()
            return
        loop = asyncio.get_running_loop()

        def drain() -> None:
            with contextlib.suppress(OSError):
                while True:
                    listener.recv(1)
            wake()

        loop.add_reader(listener.fileno(), drain)
        wake()  # for what was announced before the socket was bound
        try:
            await stop.wait()
        finally:
            loop.remove_reader(listener.fileno())
            listener.close()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None
