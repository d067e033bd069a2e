"""/postback: read the request, record the postback (services/recording.py), answer as the
contract says."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from postback.batching import GroupCommitter
from postback.domain.incoming import FIELD_ALIASES
from postback.edge.errors import status_and_body
from postback.edge.http import (
    Params,
    Receive,
    Scope,
    Send,
    header,
    parse_params,
    read_body,
    reply_json,
)
from postback.errors import InvalidInput, UnsupportedMediaType
from postback.metrics import Metrics
from postback.services.ratelimit import FailureLimiter
from postback.services.recording import Ignored, LogDraft, Proof, record_postback
from postback.store.base import IncomingEntry
from postback.store.sql import Store

log = logging.getLogger(__name__)

MAX_LOGGED = 8192


def _loggable(text: str) -> str:
    # PostgreSQL text cannot hold NUL; the log keeps a visible marker instead.
    return text[:MAX_LOGGED].replace("\x00", "\\x00")


def _json_params(body: bytes) -> Params:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("body", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("body", "JSON body must be an object")
    params: Params = {}
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            # Webhooks of checkout platforms nest their fields: `data.buyer.email`,
            # `data.commissions.0.value`.
            _flatten(params, name, value, 1)
            continue
        text = _scalar(value)
        if text is None:
            if name in OUR_NAMES:
                raise InvalidInput(name, f"{name} must be a string or a number")
            continue  # a platform's flag (true/false) names nothing of ours
        params[name] = [text]
    return params


MAX_JSON_DEPTH = 6
MAX_JSON_FIELDS = 1000
# Names a postback field of ours may come under: a value we cannot read there is refused.
OUR_NAMES = frozenset(alias for aliases in FIELD_ALIASES.values() for alias in aliases)


def _scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return None


def _flatten(
    params: Params, prefix: str, value: dict[str, object] | list[object], depth: int
) -> None:
    """Nested objects and lists as dotted names (list items by index); booleans and
    anything deeper are left out (no field of ours is one of them)."""
    if depth > MAX_JSON_DEPTH:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for name, inner in items:
        if len(params) >= MAX_JSON_FIELDS:
            raise InvalidInput("body", f"a JSON body holds at most {MAX_JSON_FIELDS} fields")
        dotted = f"{prefix}.{name}"
        if isinstance(inner, dict | list):
            _flatten(params, dotted, inner, depth + 1)
            continue
        text = _scalar(inner)
        if text is not None:
            params[dotted] = [text]


MAX_HEADERS = 100


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (the first of a repeated one)."""
    found: dict[str, str] = {}
    for key, value in scope["headers"][:MAX_HEADERS]:
        found.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return found


def _merge(first: Params, second: Params) -> Params:
    merged = {name: list(values) for name, values in first.items()}
    for name, values in second.items():
        merged.setdefault(name, []).extend(values)
    return merged


class PostbackHandler:
    def __init__(
        self,
        store: Store,
        log_writer: GroupCommitter[IncomingEntry],
        client_ip: Callable[[Scope], str | None],
        metrics: Metrics,
        max_body: int,
        on_enqueued: Callable[[], None],
        auth_failures: FailureLimiter,
    ) -> None:
        self.store = store
        self.log_writer = log_writer
        self.client_ip = client_ip
        self.metrics = metrics
        self.max_body = max_body
        self.on_enqueued = on_enqueued
        self.auth_failures = auth_failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        received_at = datetime.now(UTC)
        query = scope.get("query_string", b"")
        draft = LogDraft(
            IncomingEntry(
                received_at=received_at,
                method=scope["method"],
                ip=self.client_ip(scope),
                query=_loggable(query.decode("latin-1")),
                body=None,
                http_status=0,
                result="",
            )
        )
        try:
            answer = await self._handle(scope, receive, query, draft)
        except Exception as exc:
            await self._refuse(draft.entry, exc)
            raise
        self.metrics.postbacks.labels(answer["result"]).inc()
        await reply_json(send, 200, answer)

    async def _refuse(self, entry: IncomingEntry, exc: Exception) -> None:
        status, body = status_and_body(exc)
        error = body["error"]
        assert isinstance(error, dict)
        self.metrics.postbacks.labels(str(error["code"])).inc()
        if status >= 500:
            return  # the database is what failed; there is nowhere to log it
        refused = replace(
            entry, http_status=status, result=str(error["code"]), message=str(error["message"])
        )
        await self.log_writer.submit(refused)

    async def _handle(
        self, scope: Scope, receive: Receive, query: bytes, draft: LogDraft
    ) -> dict[str, Any]:
        in_query = parse_params(query)
        params = in_query
        body = b""
        if scope["method"] == "POST":
            body = await read_body(receive, self.max_body)
            draft.note(body=_loggable(body.decode("utf-8", "replace")))
            params = _merge(params, self._body_params(scope, body))
        proof = Proof(
            ip=draft.entry.ip,
            header_token=header(scope, b"x-postback-token"),
            header_signature=header(scope, b"x-postback-signature"),
            query_params=in_query,
            raw_query=query,
            body=body,
            failures=self.auth_failures,
            headers=_headers(scope),
        )
        result = await record_postback(self.store, params, draft, proof, draft.entry.received_at)
        if isinstance(result, Ignored):
            await self.log_writer.submit(
                replace(
                    draft.entry,
                    http_status=200,
                    result="ignored",
                    message=result.reason,
                )
            )
            return {"result": "ignored"}
        if result.deliveries:
            self.on_enqueued()
        answer: dict[str, Any] = {
            "result": result.outcome.value,
            "conversion_id": result.conversion.id,
        }
        if result.outcome.value == "updated":
            answer["status"] = result.conversion.status
        if result.conversion.stage is not None:
            answer["stage"] = result.conversion.stage
        return answer

    @staticmethod
    def _body_params(scope: Scope, body: bytes) -> Params:
        if not body:
            return {}
        content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type == "application/json" or content_type.endswith("+json"):
            return _json_params(body)
        if content_type in {"application/x-www-form-urlencoded", ""}:
            return parse_params(body)
        raise UnsupportedMediaType(f"cannot read {content_type!r}; send form-encoded or JSON")
