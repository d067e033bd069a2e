"""One attempt against real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook

from postback.dispatch.sender import EXCERPT_BYTES, USER_AGENT, Sender
from postback.domain.ids import new_message_id, new_webhook_secret
from postback.domain.records import ClaimedDelivery, Delivery
from postback.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    at: float


async def answer_ok(_request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it gets."""

    handler: Handler = answer_ok
    requests: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Seen(request.method, request.path_qs, dict(request.headers), body, time.monotonic())
        )
        return await self.handler(request)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    started: list[Receiver] = []

    async def make(handler: Handler = answer_ok) -> Receiver:
        receiver = await Receiver(handler).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def receiver(receivers: Callable[..., Awaitable[Receiver]]) -> Receiver:
    return await receivers()


def claim_for(
    url: str, method: str = "GET", body: str | None = None, content_type: str | None = None
) -> ClaimedDelivery:
    now = datetime.now(UTC)
    delivery = Delivery(
        id=1,
        message_id=new_message_id(),
        conversion_id=1,
        postback_id=1,
        event="sale",
        status="approved",
        method=method,
        url=url,
        body=body,
        content_type=content_type,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        last_error=None,
        created_at=now,
        updated_at=now,
    )
    return ClaimedDelivery(delivery=delivery, claim_token="t", secret=new_webhook_secret())


def settings(**changes: object) -> Settings:
    values: dict[str, object] = {"allow_private_targets": True, "delivery_timeout": 5.0}
    values.update(changes)
    return Settings(database_url="sqlite:///:memory:", **values)  # type: ignore[arg-type]


class FixedResolver(AbstractResolver):
    """A DNS server under test: every name resolves to the same address."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=self.address,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


async def test_get_sends_exact_url_without_body(receiver: Receiver) -> None:
    url = receiver.url("/pb?click_id=abc%20d&payout=1.50&sub1=%7Bx%7D")
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim_for(url))
    assert outcome.success and outcome.kind == "success"
    assert outcome.status_code == 200
    assert outcome.response_excerpt == "ok"
    assert outcome.error is None
    assert outcome.duration_ms >= 0
    [seen] = receiver.requests
    assert seen.method == "GET"
    assert seen.path_qs == "/pb?click_id=abc%20d&payout=1.50&sub1=%7Bx%7D"
    assert seen.body == b""
    assert seen.headers["User-Agent"] == USER_AGENT
    assert "webhook-signature" not in {k.lower() for k in seen.headers}


async def test_post_is_signed_over_the_exact_body(receiver: Receiver) -> None:
    body = '{"click_id":"abc","payout":1.5,"note":"naïve ☕"}'
    claim = claim_for(receiver.url("/hook"), "POST", body, "application/json")
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim)
    assert outcome.success
    [seen] = receiver.requests
    assert seen.method == "POST"
    assert seen.body == body.encode("utf-8")
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["webhook-id"] == claim.delivery.message_id
    payload = Webhook(claim.secret).verify(seen.body, seen.headers)
    assert payload["note"] == "naïve ☕"


async def test_form_post_carries_its_content_type(receiver: Receiver) -> None:
    claim = claim_for(
        receiver.url("/f"), "POST", "a=1&b=%C3%A9", "application/x-www-form-urlencoded"
    )
    async with Sender(settings()) as sender:
        assert (await sender.send(claim)).success
    [seen] = receiver.requests
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.body == b"a=1&b=%C3%A9"
    Webhook(claim.secret).verify(seen.body, seen.headers, json_parse=False)


async def test_redirect_is_not_followed(receivers: Callable[..., Awaitable[Receiver]]) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        if request.path == "/moved":
            return web.Response(text="followed")
        raise web.HTTPFound("/moved")

    receiver = await receivers(redirect)
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim_for(receiver.url("/start")))
    assert not outcome.success
    assert outcome.kind == "redirect"
    assert outcome.status_code == 302
    assert outcome.error == "redirect 302 not followed"
    assert [seen.path_qs for seen in receiver.requests] == ["/start"]


async def test_error_status_reads_retry_after_and_excerpt(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    async def busy(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="try later", headers={"Retry-After": "7"})

    receiver = await receivers(busy)
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim_for(receiver.url()))
    assert not outcome.success
    assert outcome.kind == "http_status"
    assert outcome.status_code == 503
    assert outcome.error == "HTTP 503 Service Unavailable"
    assert outcome.retry_after == 7.0
    assert outcome.response_excerpt == "try later"


async def test_invalid_utf8_answer_is_replaced(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    async def binary(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"ok \xff\xfe end", content_type="application/octet-stream")

    receiver = await receivers(binary)
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim_for(receiver.url()))
    assert outcome.success
    assert outcome.response_excerpt == "ok \ufffd\ufffd end"


async def test_huge_answer_reads_only_an_excerpt(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    total = 50 * 1024 * 1024
    chunk = b"x" * 65_536
    written = 0
    finished = asyncio.Event()

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Length": str(total)})
        await response.prepare(request)
        try:
            while written < total:
                await response.write(chunk)
                written += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            finished.set()
        return response

    receiver = await receivers(huge)
    async with Sender(settings()) as sender:
        started = time.monotonic()
        outcome = await sender.send(claim_for(receiver.url()))
        elapsed = time.monotonic() - started
    assert outcome.success
    assert outcome.response_excerpt == "x" * EXCERPT_BYTES
    assert elapsed < 2.0
    await asyncio.wait_for(finished.wait(), 5)
    # The client hung up: only what socket buffers held ever left the server.
    assert written < total // 2


async def test_timeout_is_a_failure(receivers: Callable[..., Awaitable[Receiver]]) -> None:
    receiver: Receiver

    async def hang(_request: web.Request) -> web.StreamResponse:
        await receiver.release.wait()
        return web.Response(text="late")

    receiver = await receivers(hang)
    async with Sender(settings(delivery_timeout=0.5)) as sender:
        started = time.monotonic()
        outcome = await sender.send(claim_for(receiver.url()))
        elapsed = time.monotonic() - started
    assert not outcome.success
    assert outcome.kind == "timeout"
    assert outcome.error == "timeout after 0.5s"
    assert outcome.status_code is None
    assert 0.4 < elapsed < 2.0


async def test_refused_connection_is_a_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim_for(f"http://127.0.0.1:{port}/"))
    assert not outcome.success
    assert outcome.kind == "connection"
    assert outcome.error is not None
    assert f"cannot connect to 127.0.0.1:{port}" in outcome.error


@pytest.mark.parametrize(
    ("reset", "words"), [(False, "closed the connection"), (True, "reset the connection")]
)
async def test_server_hanging_up_is_a_failure(reset: bool, words: str) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Sender(settings()) as sender:
            outcome = await sender.send(claim_for(f"http://127.0.0.1:{port}/"))
    finally:
        server.close()
        await server.wait_closed()
    assert not outcome.success
    assert outcome.kind == "connection"
    assert outcome.error is not None
    assert words in outcome.error


async def test_unusable_secret_is_a_failure(receiver: Receiver) -> None:
    claim = claim_for(receiver.url(), "POST", "{}", "application/json")
    claim = ClaimedDelivery(delivery=claim.delivery, claim_token="t", secret="whsec_")
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim)
    assert not outcome.success
    assert outcome.kind == "error"
    assert outcome.error is not None
    assert outcome.error.startswith("cannot sign the request")
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "http:///nohost", "not a url at all"],
)
async def test_unusable_urls_are_failures(url: str) -> None:
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim_for(url))
    assert not outcome.success
    assert outcome.kind == "invalid_url"
    assert outcome.error is not None
    assert outcome.error.startswith("invalid URL")


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "[::1]", "[::ffff:127.0.0.1]"],
)
async def test_private_targets_are_refused(receiver: Receiver, host: str) -> None:
    async with Sender(settings(allow_private_targets=False)) as sender:
        outcome = await sender.send(claim_for(receiver.url("/pb", host=host)))
    assert not outcome.success
    assert outcome.kind == "blocked"
    assert outcome.error is not None
    assert outcome.error.startswith("target refused")
    assert "loopback" in outcome.error
    assert "POSTBACK_ALLOW_PRIVATE_TARGETS" in outcome.error
    assert receiver.requests == []


async def test_names_resolving_to_private_addresses_are_refused(receiver: Receiver) -> None:
    sender = Sender(settings(allow_private_targets=False), resolver=FixedResolver("127.0.0.1"))
    async with sender:
        outcome = await sender.send(claim_for(receiver.url("/pb", host="partner.example")))
    assert outcome.kind == "blocked"
    assert outcome.error is not None
    assert "partner.example resolves to 127.0.0.1 (loopback address)" in outcome.error
    assert receiver.requests == []


async def test_connects_to_the_address_the_resolver_checked(receiver: Receiver) -> None:
    sender = Sender(settings(allow_private_targets=True), resolver=FixedResolver("127.0.0.1"))
    async with sender:
        outcome = await sender.send(claim_for(receiver.url("/pb", host="partner.example")))
    assert outcome.success
    [seen] = receiver.requests
    assert seen.headers["Host"] == f"partner.example:{receiver.port}"
