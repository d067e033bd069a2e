"""Calling the whole application in-process with raw ASGI messages: exact bytes in the
query string, headers and body (no HTTP client tidies them up first)."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select

from postback.edge.app import EdgeApp
from postback.store import schema
from postback.store.sql import Store

COUNTED = (
    "clicks",
    "conversions",
    "conversion_history",
    "deliveries",
    "advertisers",
    "offers",
    "affiliates",
    "postback_configs",
)


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def is_error_shape(self) -> bool:
        try:
            data = self.json()
        except orjson.JSONDecodeError:
            return False
        error = data.get("error") if isinstance(data, dict) else None
        return (
            isinstance(error, dict)
            and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)
        )


async def call(
    app: EdgeApp,
    method: str,
    path: str,
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes | Sequence[bytes] = b"",
    client: tuple[str, int] = ("198.51.100.9", 40000),
) -> Answer:
    chunks = [body] if isinstance(body, bytes) else list(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in headers],
        "client": client,
        "server": ("testserver", 80),
        "state": {},
    }
    pending = list(chunks) or [b""]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], dict(start.get("headers", [])), payload)


async def counts(store: Store) -> dict[str, int]:
    """Rows per table: what a refused request must leave unchanged."""
    found: dict[str, int] = {}
    async with store.engine.connect() as conn:
        for name in COUNTED:
            table = schema.metadata.tables[name]
            found[name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    return found
