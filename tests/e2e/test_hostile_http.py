"""Hostile HTTP at the real server's socket: oversized request lines, headers and bodies,
bytes no client library would send. Never a 5xx, never a hang, and the server stays
healthy. (Per-value fuzzing runs in-process: tests/edge/test_hostile_input.py.)"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.e2e.harness import ADMIN_KEY, ServerProcess
from tests.reliability_report import record

pytestmark = pytest.mark.e2e

HUGE = 100 * 1024 * 1024


async def exchange(
    server: ServerProcess, head: bytes, body_chunks: int = 0, chunk: bytes = b""
) -> int | None:
    """Send a raw request; the answer's status, or None when the server hung up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head)
        for _ in range(body_chunks):
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            if reader._buffer:  # type: ignore[attr-defined]
                break  # the server answered before the body was over
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
    except ConnectionError:
        return None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if not line:
        return None
    return int(line.split()[1])


def request(method: str, target: bytes, *headers: bytes) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def test_oversized_and_malformed_requests(server: ServerProcess) -> None:
    auth = f"Authorization: Bearer {ADMIN_KEY}".encode()
    chunked = b"Transfer-Encoding: chunked"
    as_json = b"Content-Type: application/json"
    many = [b"X-H%d: v" % n for n in range(10_000)]
    cases: dict[str, tuple[bytes, int, bytes]] = {
        "1 MB query": (request("GET", b"/click?sub1=" + b"a" * 1_000_000), 0, b""),
        "1 MB header": (request("GET", b"/healthz", b"X-Big: " + b"b" * 1_000_000), 0, b""),
        "10k headers": (request("GET", b"/healthz", *many), 0, b""),
        "invalid UTF-8 path": (request("GET", b"/api/v1/offers/\xff\xfe", auth), 0, b""),
        "escaped invalid UTF-8": (request("GET", b"/api/v1/offers/%ff%fe", auth), 0, b""),
        "NUL in path": (request("GET", b"/click%00?offer_id=1", auth), 0, b""),
        "NUL in query": (request("GET", b"/click?offer_id=1%00&aff_id=1"), 0, b""),
        "100 MB postback": (request("POST", b"/postback", chunked), HUGE // 65_536, b"p" * 65_536),
        "100 MB API body": (
            request("POST", b"/api/v1/advertisers", auth, chunked, as_json),
            HUGE // 65_536,
            b"[" * 65_536,
        ),
        "declared terabyte": (
            request("POST", b"/api/v1/offers", auth, b"Content-Length: 1000000000000"),
            0,
            b"",
        ),
        "bogus method": (request("BREW", b"/click?offer_id=1&aff_id=1"), 0, b""),
        "HTTP/1.0 without host": (b"GET /healthz HTTP/1.0\r\n\r\n", 0, b""),
    }
    seen: dict[str, int | None] = {}
    for name, (head, chunks, chunk) in cases.items():
        seen[name] = await exchange(server, head, chunks, chunk)
    for name, status in seen.items():
        assert status is None or status < 500, (name, status)
    # The body limits answer before the body is over, in the error shape's status.
    assert seen["100 MB postback"] == 413
    assert seen["100 MB API body"] == 413
    assert seen["declared terabyte"] == 413
    assert seen["NUL in query"] == 400
    async with server.client() as client:
        assert (await client.get("/healthz")).status_code == 200
    record("fuzz", raw_http=len(cases))
