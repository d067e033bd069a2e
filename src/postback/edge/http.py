"""Small ASGI helpers for the edge: query parsing, client address, bodies, replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote

import orjson

from postback.domain.client_address import Network, client_address, is_trusted_proxy
from postback.errors import InvalidInput, TooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Params = dict[str, list[str]]

MAX_FIELDS = 200
# Characters a URL may carry as they are; anything else (non-ASCII, spaces) is escaped.
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def parse_params(raw: bytes | str) -> Params:
    """Query-string or form parameters; invalid UTF-8 or too many fields is bad input."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    try:
        return parse_qs(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise InvalidInput("query", "parameters are not valid UTF-8") from None
    except ValueError:
        raise InvalidInput("query", f"more than {MAX_FIELDS} parameters") from None


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_ip(scope: Scope, trusted_proxies: Sequence[Network]) -> str | None:
    """The caller's address (domain/client_address.py) from an ASGI scope."""
    client = scope.get("client")
    peer: str | None = str(client[0]) if client else None
    return client_address(peer, header(scope, b"x-forwarded-for"), trusted_proxies)


def trusted_header(scope: Scope, name: bytes, trusted_proxies: Sequence[Network]) -> str | None:
    """A header set by a trusted proxy (e.g. CF-IPCountry); None from anyone else."""
    client = scope.get("client")
    peer: str | None = str(client[0]) if client else None
    return header(scope, name) if is_trusted_proxy(peer, trusted_proxies) else None


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def buffered(scope: Scope, receive: Receive, limit: int) -> Receive:
    """Read a request body of at most `limit` bytes now (TooLarge beyond, refused at once
    when Content-Length says so) and hand it on as if it were arriving."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is larger than {limit} bytes")
    body = await read_body(receive, limit)
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def reply(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


JSON_HEADERS = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))


async def reply_json(
    send: Send, status: int, data: object, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await reply(send, status, orjson.dumps(data), (*JSON_HEADERS, *headers))


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **details}}


async def reply_error(send: Send, status: int, code: str, message: str, **details: object) -> None:
    await reply_json(send, status, error_body(code, message, **details))


async def redirect(send: Send, location: str) -> None:
    await reply(
        send,
        302,
        b"",
        ((b"location", quote(location, safe=URL_SAFE).encode()), (b"cache-control", b"no-store")),
    )
