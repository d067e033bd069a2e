"""The delivery workers: claim due deliveries, send them, record every attempt.

One ``Dispatcher`` per process. It leases due deliveries from the store (row locks on
PostgreSQL make any number of worker processes safe), sends each as its own task, and
records the attempt with the delivery's next state. Two limits keep one slow partner
from holding up the others: a global cap on attempts in flight and a per-endpoint cap
(scheme, host and port). A delivery claimed for an endpoint already at its cap is handed
back, due again shortly, instead of waiting in this process; so is one for an endpoint
the circuit breaker has paused (see breaker.py).

A config whose partner answers 410 Gone, or that has failed without a success for
POSTBACK_DISABLE_FAILING_AFTER, is switched off with the reason; its deliveries stay
pending until it is switched on again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from postback.dispatch.breaker import CircuitBreaker
from postback.dispatch.sender import AttemptOutcome, Sender
from postback.domain import retry
from postback.domain.records import ClaimedDelivery
from postback.errors import StoreError
from postback.metrics import Metrics
from postback.settings import Settings
from postback.store.base import AttemptResult, Store

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 10.0
DRAIN_GRACE_SECONDS = 1.0
MAX_STORE_BACKOFF_SECONDS = 30.0
FINISH_RETRIES = 3
PERMANENT_FAILURES = frozenset({"invalid_url"})
# Outcomes that say the endpoint itself is unwell (they feed the circuit breaker).
UNREACHABLE = frozenset({"timeout", "connection"})
GONE = 410


def endpoint_key(url: str) -> str:
    """scheme://host:port, the unit of the per-endpoint cap."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if port is None:
        port = 443 if scheme == "https" else 80
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Sends due deliveries until ``run``'s stop event is set.

    ``wake()`` tells it that deliveries were just enqueued, so they go out at once
    instead of at the next poll.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        metrics: Metrics | None = None,
        worker_id: str | None = None,
        *,
        sender: Sender | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self.worker_id = worker_id or default_worker_id()
        self._sender = sender
        # An attempt ends within the timeout; the margin covers recording it. A crashed
        # worker's deliveries are taken over once this runs out.
        self._lease_seconds = settings.delivery_timeout + LEASE_MARGIN_SECONDS
        # Handing back a claim for a busy endpoint: soon, but not in a tight loop.
        self._postpone_seconds = min(max(1.0, settings.delivery_timeout / 2), 30.0)
        self._wakeup = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[asyncio.Task[None], ClaimedDelivery] = {}
        self._per_endpoint: Counter[str] = Counter()
        self.breaker = CircuitBreaker(
            settings.breaker_threshold, settings.breaker_pause, settings.breaker_max_pause
        )

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        """Poll now. Safe to call from the event loop thread or any other thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wakeup.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wakeup.set()
        else:
            loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and send until `stop` is set; then let attempts in flight finish."""
        self._loop = asyncio.get_running_loop()
        own_sender = self._sender is None
        sender = self._sender or Sender(self._settings)
        log.info(
            "delivery worker started",
            extra={"action": "worker_started", "worker_id": self.worker_id},
        )
        try:
            await self._poll_loop(sender, stop)
        finally:
            await self._drain()
            if own_sender:
                await sender.close()
            log.info(
                "delivery worker stopped",
                extra={"action": "worker_stopped", "worker_id": self.worker_id},
            )

    # ---- the loop ---------------------------------------------------------------------

    async def _poll_loop(self, sender: Sender, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._slot_free.clear()
            free = self._settings.worker_concurrency - len(self._tasks)
            if free <= 0:
                await _wait_any((stop, self._slot_free), None)
                continue
            self._wakeup.clear()
            try:
                claims = await self._store.claim_deliveries(
                    limit=free, lease_seconds=self._lease_seconds, now=_now()
                )
            except Exception as exc:
                failures += 1
                delay = self._backoff(failures)
                log.log(
                    logging.WARNING if isinstance(exc, StoreError) else logging.ERROR,
                    "claiming deliveries failed; retrying in %.1fs: %s",
                    delay,
                    exc,
                    exc_info=not isinstance(exc, StoreError),
                    extra={"action": "claim_failed", "worker_id": self.worker_id},
                )
                await _wait_any((stop,), delay)
                continue
            failures = 0
            busy, paused = self._start(sender, claims)
            if busy:
                await self._hand_back(busy, self._postpone_seconds)
            for seconds, held in paused.items():
                await self._hand_back(held, seconds)
            held_back = len(busy) + sum(len(held) for held in paused.values())
            if len(claims) < free or held_back == len(claims):
                # Nothing more is due now (or everything due waits on busy endpoints).
                await _wait_any((stop, self._wakeup), self._settings.worker_poll_interval)

    def _backoff(self, failures: int) -> float:
        base = self._settings.worker_poll_interval
        return float(min(base * 2 ** min(failures - 1, 16), MAX_STORE_BACKOFF_SECONDS))

    def _start(
        self, sender: Sender, claims: list[ClaimedDelivery]
    ) -> tuple[list[ClaimedDelivery], dict[float, list[ClaimedDelivery]]]:
        """Start a task per claim; return the claims whose endpoint is at its cap, and
        those whose endpoint is paused, by how long to hold them."""
        busy: list[ClaimedDelivery] = []
        paused: dict[float, list[ClaimedDelivery]] = {}
        cap = self._settings.worker_per_endpoint
        for claim in claims:
            endpoint = endpoint_key(claim.delivery.url)
            if self._per_endpoint[endpoint] >= cap:
                busy.append(claim)
                continue
            wait = self.breaker.wait_for(endpoint)
            if wait is not None:
                paused.setdefault(round(wait, 1), []).append(claim)
                continue
            self._per_endpoint[endpoint] += 1
            task = asyncio.create_task(
                self._deliver(sender, claim), name=f"delivery-{claim.delivery.id}"
            )
            self._tasks[task] = claim
            task.add_done_callback(functools.partial(self._task_done, endpoint=endpoint))
        return busy, paused

    def _task_done(self, task: asyncio.Task[None], endpoint: str) -> None:
        self._tasks.pop(task, None)
        self._per_endpoint[endpoint] -= 1
        if self._per_endpoint[endpoint] <= 0:
            del self._per_endpoint[endpoint]
        self._slot_free.set()

    async def _hand_back(self, claims: list[ClaimedDelivery], seconds: float) -> None:
        until = _now() + timedelta(seconds=seconds)
        try:
            await self._store.postpone_claims(claims, until)
        except StoreError as exc:
            # The leases run out on their own; the deliveries are only late.
            log.warning(
                "handing back %d deliveries failed: %s",
                len(claims),
                exc,
                extra={"action": "postpone_failed", "count": len(claims)},
            )
        log.debug(
            "endpoint busy or paused; %d deliveries postponed by %.1fs",
            len(claims),
            seconds,
            extra={"action": "deliveries_postponed", "count": len(claims)},
        )

    async def _drain(self) -> None:
        """Give attempts in flight the time of one attempt, then cancel the rest."""
        if not self._tasks:
            return
        tasks = list(self._tasks)
        grace = self._settings.delivery_timeout + DRAIN_GRACE_SECONDS
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning(
                "%d deliveries still in flight at shutdown; their leases will expire",
                len(pending),
                extra={"action": "worker_drain_timeout", "count": len(pending)},
            )

    # ---- one delivery -------------------------------------------------------------------

    async def _deliver(self, sender: Sender, claim: ClaimedDelivery) -> None:
        delivery = claim.delivery
        try:
            outcome = await sender.send(claim)
            self._track_endpoint(endpoint_key(delivery.url), outcome)
            result = self._result(claim, outcome)
            recorded = await self._finish(claim, result)
        except asyncio.CancelledError:
            raise
        except StoreError as exc:
            log.warning(
                "attempt of delivery %s not recorded (%s); it is sent again when its lease expires",
                delivery.id,
                exc,
                extra={"action": "delivery_unrecorded", "delivery_id": delivery.id},
            )
            return
        except Exception:
            log.exception(
                "delivery %s crashed; it is retried when its lease expires",
                delivery.id,
                extra={"action": "delivery_crashed", "delivery_id": delivery.id},
            )
            return
        self._observe(claim, outcome, result, recorded)

    def _track_endpoint(self, endpoint: str, outcome: AttemptOutcome) -> None:
        """Feed the breaker: only answers and silences of the endpoint itself count."""
        status = outcome.status_code
        if outcome.kind in UNREACHABLE or (status is not None and (status >= 500 or status == 429)):
            was_paused = self.breaker.paused(endpoint)
            self.breaker.failed(endpoint, outcome.retry_after)
            if not was_paused and self.breaker.paused(endpoint):
                log.warning(
                    "endpoint %s paused after repeated failures; it will be probed",
                    endpoint,
                    extra={"action": "endpoint_paused", "endpoint": endpoint},
                )
        elif status is not None:
            self.breaker.succeeded(endpoint)

    def _disable_reason(self, claim: ClaimedDelivery, outcome: AttemptOutcome) -> str | None:
        """Why this attempt switches its config off, or None."""
        if outcome.status_code == GONE:
            return f"the partner answered {GONE} Gone at {outcome.started_at:%Y-%m-%dT%H:%M:%SZ}"
        since = claim.failing_since
        limit = self._settings.disable_failing_after
        if outcome.success or since is None:
            return None
        if (outcome.started_at - since).total_seconds() < limit:
            return None
        return (
            f"failing without a success since {since:%Y-%m-%dT%H:%M:%SZ} "
            f"({limit / 86_400:g} days); last error: {outcome.error}"
        )

    def _result(self, claim: ClaimedDelivery, outcome: AttemptOutcome) -> AttemptResult:
        delivery = claim.delivery
        attempt_no = delivery.attempts + 1
        next_attempt_at = None
        disable = self._disable_reason(claim, outcome)
        if disable is not None:
            # Still owed: it waits, held, until the config is switched on again.
            next_attempt_at = _now()
        # A URL that cannot be sent never becomes sendable: no point in waiting.
        elif not outcome.success and outcome.kind not in PERMANENT_FAILURES:
            delay = retry.next_delay(self._settings.retry_delays, attempt_no, outcome.retry_after)
            if delay is not None:
                next_attempt_at = _now() + timedelta(seconds=delay)
        return AttemptResult(
            attempt_no=attempt_no,
            started_at=outcome.started_at,
            duration_ms=outcome.duration_ms,
            url=delivery.url,
            method=delivery.method,
            status_code=outcome.status_code,
            response_excerpt=outcome.response_excerpt,
            error=outcome.error,
            success=outcome.success,
            next_attempt_at=next_attempt_at,
            disable_config=disable,
        )

    async def _finish(self, claim: ClaimedDelivery, result: AttemptResult) -> bool:
        """Record the attempt, riding out a short database outage."""
        for attempt in range(1, FINISH_RETRIES + 1):
            try:
                return await self._store.finish_attempt(claim, result)
            except StoreError as exc:
                if attempt == FINISH_RETRIES:
                    raise
                log.warning(
                    "recording attempt of delivery %s failed (%s); trying again",
                    claim.delivery.id,
                    exc,
                    extra={"action": "finish_failed", "delivery_id": claim.delivery.id},
                )
                await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    def _observe(
        self,
        claim: ClaimedDelivery,
        outcome: AttemptOutcome,
        result: AttemptResult,
        recorded: bool,
    ) -> None:
        delivery = claim.delivery
        if outcome.success:
            label, level = "success", logging.DEBUG
        elif result.next_attempt_at is not None:
            label, level = "retry", logging.INFO
        else:
            label, level = "failed", logging.WARNING
        if self._metrics is not None:
            self._metrics.delivery_attempts.labels(outcome=label).inc()
            self._metrics.delivery_seconds.observe(outcome.duration_ms / 1000)
        extra = {
            "action": f"delivery_{label}",
            "delivery_id": delivery.id,
            "message_id": delivery.message_id,
            "attempt_no": result.attempt_no,
            "endpoint": endpoint_key(delivery.url),
            "status_code": outcome.status_code,
            "error_kind": outcome.kind,
            "duration_ms": outcome.duration_ms,
        }
        log.log(
            level,
            "delivery %s attempt %d: %s",
            delivery.id,
            result.attempt_no,
            outcome.error or f"HTTP {outcome.status_code}",
            extra=extra,
        )
        if result.disable_config is not None:
            log.warning(
                "postback config %s switched off: %s",
                delivery.postback_id,
                result.disable_config,
                extra={"action": "config_disabled", "postback_id": delivery.postback_id},
            )
        if not recorded:
            log.warning(
                "delivery %s: lease lost before the attempt was recorded",
                delivery.id,
                extra={"action": "delivery_lease_lost", "delivery_id": delivery.id},
            )


async def _wait_any(events: tuple[asyncio.Event, ...], seconds: float | None) -> None:
    """Return when any event is set or after `seconds` (None: no limit)."""
    if any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waiters, return_exceptions=True)
