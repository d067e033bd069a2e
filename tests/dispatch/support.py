"""What the dispatch tests share: real HTTP receivers on loopback, a clock the test moves,
and waiting for a condition instead of sleeping."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request as a receiver got it."""

    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    at: float  # on the receiver's clock
    # The exchange is over: the handler answered, or the client gave up on it.
    ended: bool = False


async def answer_ok(_request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


@dataclass
class Receiver:
    """A real HTTP server on a loopback address (127.0.0.1 unless told) that records
    every request it gets, then answers with `handler`. A handler may wait on `release`,
    which is set when the receiver stops."""

    handler: Handler = answer_ok
    host: str = "127.0.0.1"
    port: int = 0
    clock: Callable[[], float] = time.monotonic
    requests: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen = Seen(request.method, request.path_qs, dict(request.headers), body, self.clock())
        self.requests.append(seen)
        try:
            return await self.handler(request)
        finally:
            seen.ended = True

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [seen.path_qs for seen in self.requests]


class MakeReceiver(Protocol):
    """The `receivers` fixture: starts a receiver, stopped when the test ends."""

    async def __call__(
        self,
        handler: Handler = ...,
        *,
        host: str = ...,
        port: int = ...,
        clock: Callable[[], float] = ...,
    ) -> Receiver: ...


class ManualClock:
    """A wall clock and a monotonic clock that move only when the test moves them."""

    def __init__(self, start: datetime | None = None) -> None:
        self._wall = start or datetime.now(UTC)
        self._ticks = 1000.0

    def now(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._ticks

    def advance(self, seconds: float) -> None:
        self._wall += timedelta(seconds=seconds)
        self._ticks += seconds


async def until(
    condition: Callable[[], bool] | Callable[[], Awaitable[bool]],
    what: str = "condition",
    timeout: float = 20.0,
) -> None:
    """Return once `condition` holds. The timeout only keeps a broken test from hanging;
    nothing is asserted about how long it took."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"{what}: not met within {timeout:g}s"
        await asyncio.sleep(0.01)
