"""One attempt against real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook

from postback.dispatch.sender import EXCERPT_BYTES, USER_AGENT, Sender
from postback.domain.ids import new_message_id, new_webhook_secret
from postback.domain.records import ClaimedDelivery, Delivery
from postback.settings import Settings

from .support import MakeReceiver

# (tests of other packages import Receiver from here)
from .support import Receiver as Receiver


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


async def test_redirect_is_not_followed(receivers: MakeReceiver) -> None:
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
    receivers: MakeReceiver,
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
    receivers: MakeReceiver,
) -> None:
    async def binary(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"ok \xff\xfe end", content_type="application/octet-stream")

    receiver = await receivers(binary)
    async with Sender(settings()) as sender:
        outcome = await sender.send(claim_for(receiver.url()))
    assert outcome.success
    assert outcome.response_excerpt == "ok \ufffd\ufffd end"


async def test_huge_answer_reads_only_an_excerpt(
    receivers: MakeReceiver,
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
        outcome = await sender.send(claim_for(receiver.url()))
        # The answer came back long before the body could have been read to its end.
        written_when_answered = written
    assert outcome.success
    assert outcome.response_excerpt == "x" * EXCERPT_BYTES
    assert written_when_answered < total // 2
    await asyncio.wait_for(finished.wait(), 5)
    # The client hung up: only what socket buffers held ever left the server.
    assert written < total // 2


async def test_timeout_is_a_failure(receivers: MakeReceiver) -> None:
    receiver: Receiver

    async def hang(_request: web.Request) -> web.StreamResponse:
        await receiver.release.wait()
        return web.Response(text="late")

    receiver = await receivers(hang)
    async with Sender(settings(delivery_timeout=0.5)) as sender:
        started = time.monotonic()
        # The partner never answers: only the sender's own timeout ends the attempt
        # (waited for generously, so a loaded machine cannot fail this).
        outcome = await asyncio.wait_for(sender.send(claim_for(receiver.url())), 30)
        elapsed = time.monotonic() - started
    assert not outcome.success
    assert outcome.kind == "timeout"
    assert outcome.error == "timeout after 0.5s"
    assert outcome.status_code is None
    # Not given up early (a lower bound: a slow machine only makes it longer).
    assert elapsed > 0.4
    assert len(receiver.requests) == 1


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
