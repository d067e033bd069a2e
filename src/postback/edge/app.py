"""The outermost ASGI application: the hot paths by hand, everything else to the API."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from postback.edge.errors import error_headers, status_and_body
from postback.edge.http import Receive, Scope, Send, buffered, reply, reply_error, reply_json
from postback.errors import TooLarge
from postback.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class EdgeApp:
    """Routes /click, /postback, /healthz and /metrics; hands other paths to `fallback`."""

    def __init__(
        self,
        *,
        click: Handler,
        postback: Handler,
        is_ready: Callable[[], Awaitable[bool]],
        metrics: Callable[[], bytes],
        fallback: Handler,
        startup: Callable[[], Awaitable[None]],
        shutdown: Callable[[], Awaitable[None]],
        max_api_body: int = 1_048_576,
    ) -> None:
        self.click = click
        self.postback = postback
        self.is_ready = is_ready
        self.metrics = metrics
        self.fallback = fallback
        self.startup = startup
        self.shutdown = shutdown
        self.max_api_body = max_api_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await self.fallback(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/click":
            await self._guarded(self.click, ("GET",), scope, receive, send)
        elif path == "/postback":
            await self._guarded(self.postback, ("GET", "POST"), scope, receive, send)
        elif path == "/healthz":
            if await self.is_ready():
                await reply_json(send, 200, {"status": "ok"})
            else:
                await reply_error(
                    send, 503, "unavailable", "database not reachable or not migrated"
                )
        elif path == "/metrics" and method == "GET":
            await reply(send, 200, self.metrics(), ((b"content-type", CONTENT_TYPE.encode()),))
        else:
            await self._to_api(scope, receive, send)

    async def _to_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The API gets its body read and bounded here: FastAPI would read any size."""
        try:
            whole = await buffered(scope, receive, self.max_api_body)
        except TooLarge as exc:
            await reply_error(send, 413, exc.code, exc.message)
            return
        await self.fallback(scope, whole, send)

    async def _guarded(
        self, handler: Handler, methods: tuple[str, ...], scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["method"] not in methods:
            await reply_error(send, 405, "method_not_allowed", f"use {' or '.join(methods)}")
            return
        try:
            await handler(scope, receive, send)
        except Exception as exc:
            status, body = status_and_body(exc)
            await reply_json(send, status, body, error_headers(exc))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed", extra={"action": "startup_failed"})
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
