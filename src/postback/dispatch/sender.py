"""One outgoing HTTP attempt: answered with an outcome, never with an exception."""

from __future__ import annotations

import asyncio
import errno
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import aiohttp
from yarl import URL

from postback import __version__
from postback.dispatch.signing import signed_url, webhook_headers
from postback.dispatch.ssrf import GuardedResolver
from postback.domain.records import ClaimedDelivery
from postback.domain.retry import parse_retry_after
from postback.domain.targets import ALLOWED_SCHEMES, BlockedTarget, TargetPolicy, check_host
from postback.settings import Settings

USER_AGENT = f"postback/{__version__}"
EXCERPT_BYTES = 2048
READ_BUFFER_BYTES = 16_384
DNS_CACHE_SECONDS = 30
# Printable ASCII without spaces: a URL that can go out exactly as it was rendered.
PLAIN_ASCII = re.compile(r"[\x21-\x7e]*")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt produced.

    kind: success | http_status | redirect | timeout | blocked | connection | invalid_url
    | error.
    """

    success: bool
    kind: str
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    response_excerpt: str | None = None
    error: str | None = None
    retry_after: float | None = None


class Sender:
    """Sends rendered deliveries through one shared aiohttp session.

    Redirects are never followed, only the first 2 KiB of an answer is read, and every
    target is checked against the SSRF rules (see ``postback.dispatch.ssrf``).
    Use as ``async with Sender(settings) as sender: ...`` or call ``close()``.
    ``now`` (when an attempt starts, what an HTTP-date Retry-After means) is the real
    clock unless given.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        limit: int | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._settings = settings
        self._now = now
        self._policy = settings.target_policy
        self._timeout = settings.delivery_timeout
        self._inner_resolver = resolver
        self._limit = limit if limit is not None else settings.worker_concurrency
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    async def __aenter__(self) -> Sender:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._resolver = GuardedResolver(self._policy, self._inner_resolver)
            connector = aiohttp.TCPConnector(
                resolver=self._resolver,
                limit=self._limit,
                limit_per_host=0,
                ttl_dns_cache=DNS_CACHE_SECONDS,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                read_bufsize=READ_BUFFER_BYTES,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            # A connector closes only the resolvers it made itself.
            await self._resolver.close()
            self._resolver = None

    async def send(self, claim: ClaimedDelivery) -> AttemptOutcome:
        """Send a claimed delivery exactly as it was rendered when it was enqueued."""
        delivery = claim.delivery
        return await self.send_request(
            method=delivery.method,
            url=delivery.url,
            body=delivery.body,
            content_type=delivery.content_type,
            message_id=delivery.message_id,
            secret=claim.secret,
            extra_headers=claim.extra_headers,
            previous_secret=claim.previous_secret,
            sign_get=claim.sign_get,
        )

    async def send_request(
        self,
        *,
        method: str,
        url: str,
        body: str | None,
        content_type: str | None,
        message_id: str,
        secret: str,
        extra_headers: Mapping[str, str] | None = None,
        previous_secret: str | None = None,
        sign_get: bool = False,
    ) -> AttemptOutcome:
        """One attempt; a body-carrying request gets the Standard Webhooks headers, a GET
        one (with `sign_get`) a `signature` parameter. A `previous_secret` still in its
        grace period signs as well."""
        started_at = self._now()
        clock = time.perf_counter()

        def finish(kind: str, error: str | None, answer: _Answer | None = None) -> AttemptOutcome:
            return AttemptOutcome(
                success=kind == "success",
                kind=kind,
                started_at=started_at,
                duration_ms=int((time.perf_counter() - clock) * 1000),
                status_code=answer.status if answer else None,
                response_excerpt=answer.excerpt if answer else None,
                error=error,
                retry_after=answer.retry_after if answer else None,
            )

        keys = (secret,) if previous_secret is None else (secret, previous_secret)
        headers = dict(extra_headers or {})
        data: bytes | None = None
        try:
            if method.upper() != "GET":
                text = body or ""
                data = text.encode("utf-8")
                headers["Content-Type"] = content_type or "application/octet-stream"
                headers.update(webhook_headers(keys, message_id, text, started_at))
            elif sign_get:
                url = signed_url(url, keys)
        except Exception as exc:
            return finish("error", f"cannot sign the request (webhook secret?): {exc}")

        try:
            target = parse_target(url)
        except (ValueError, TypeError) as exc:
            return finish("invalid_url", f"invalid URL: {exc}")
        refusal = _precheck(target, self._policy)
        if refusal is not None:
            return finish(*refusal)

        try:
            answer = await self._exchange(method.upper(), target, data, headers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return finish(*describe_error(exc, target, self._timeout))

        status = answer.status
        if 200 <= status < 300:
            return finish("success", None, answer)
        if 300 <= status < 400:
            return finish("redirect", f"redirect {status} not followed", answer)
        return finish("http_status", f"HTTP {status} {answer.reason}".rstrip(), answer)

    async def _exchange(
        self, method: str, target: URL, data: bytes | None, headers: dict[str, str]
    ) -> _Answer:
        session = self._open()
        async with session.request(
            method, target, data=data, headers=headers, allow_redirects=False
        ) as response:
            excerpt = await _read_excerpt(response)
            if not response.content.at_eof():
                # Drop the connection rather than drain a large answer.
                response.close()
            status = response.status
            retry_after = None
            if not 200 <= status < 300:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._now())
            return _Answer(
                status=status,
                reason=response.reason or "",
                excerpt=excerpt.decode("utf-8", errors="replace"),
                retry_after=retry_after,
            )


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    reason: str
    excerpt: str
    retry_after: float | None


def parse_target(url: str) -> URL:
    """The URL exactly as rendered when it is already plain ASCII (no re-quoting, so
    %2F stays %2F for partners that sign their query strings); otherwise encoded."""
    if PLAIN_ASCII.fullmatch(url):
        return URL(url, encoded=True)
    return URL(url)


def _precheck(target: URL, policy: TargetPolicy) -> tuple[str, str] | None:
    """Scheme and host checks aiohttp's resolver cannot make (IP literals skip it)."""
    if target.scheme not in ALLOWED_SCHEMES:
        return "invalid_url", "invalid URL: scheme must be http or https"
    host = target.raw_host
    if not host:
        return "invalid_url", "invalid URL: no host"
    refusal = check_host(host, policy)
    return None if refusal is None else ("blocked", refusal)


async def _read_excerpt(response: aiohttp.ClientResponse) -> bytes:
    """At most EXCERPT_BYTES of the answer; whatever arrived if reading it fails."""
    excerpt = bytearray()
    try:
        while len(excerpt) < EXCERPT_BYTES:
            chunk = await response.content.read(EXCERPT_BYTES - len(excerpt))
            if not chunk:
                break
            excerpt += chunk
    except (TimeoutError, aiohttp.ClientError):
        # The status already arrived: it decides the outcome, the excerpt is a courtesy.
        pass
    return bytes(excerpt)


def find_blocked(exc: BaseException) -> BlockedTarget | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BlockedTarget):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_error(exc: BaseException, target: URL, timeout: float) -> tuple[str, str]:
    """(kind, message) for an attempt that got no HTTP answer."""
    blocked = find_blocked(exc)
    if blocked is not None:
        return "blocked", str(blocked)
    where = f"{target.host}:{target.port}"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout", f"timeout after {timeout:g}s"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "connection", f"DNS lookup failed for {target.host}: {_os_text(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "connection", f"TLS certificate of {where} refused: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection", f"cannot connect to {where}: {_os_text(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection", f"{where} closed the connection without an answer"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid_url", f"invalid URL: {exc}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "connection", f"malformed answer from {where}: {exc.message}"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "connection", f"{where} reset the connection"
    if isinstance(exc, OSError):
        return "connection", f"connection error with {where}: {_os_text(exc)}"
    if isinstance(exc, aiohttp.ClientError):
        return "connection", f"connection error with {where}: {type(exc).__name__} {exc}"
    return "error", f"{type(exc).__name__}: {exc}"


def _os_text(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__
