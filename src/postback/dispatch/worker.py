"""The delivery workers: claim due deliveries, send them, record every attempt.

One ``Dispatcher`` per process. It leases due deliveries from the store (row locks on
PostgreSQL make any number of worker processes safe), sends each as its own task, and
records the attempt with the delivery's next state. Two limits keep one slow partner
from holding up the others: a global cap on attempts in flight and a per-endpoint cap
(scheme, host and port). A delivery claimed for an endpoint already at its cap waits in
this process's queue for that endpoint, as long as the endpoint's recent speed says it
will start well within its lease; beyond that it is handed back, due again shortly, and
so is everything for an endpoint the circuit breaker has paused (see breaker.py; its
pauses are shared with the workers of other processes, see pauses.py). The
queue is what lets one worker keep a fast partner busy: handing every delivery over the
cap back to the database capped a single endpoint at a few hundred a second.

An empty claim makes the worker wait a poll interval (or until `wake()`); a claim that
found work makes it look again almost at once, so a worker in another process follows
a steady stream of postbacks closely without polling an idle database often.

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
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from postback.dispatch.breaker import CircuitBreaker
from postback.dispatch.pauses import SYNC_SECONDS, SharedPauses
from postback.dispatch.sender import AttemptOutcome, Sender
from postback.domain import retry
from postback.domain.records import ClaimedDelivery
from postback.errors import StoreError
from postback.metrics import Metrics
from postback.settings import Settings
from postback.store.base import AttemptResult
from postback.store.sql import Store

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 10.0
DRAIN_GRACE_SECONDS = 1.0
MAX_STORE_BACKOFF_SECONDS = 30.0
FINISH_RETRIES = 3
PERMANENT_FAILURES = frozenset({"invalid_url"})
# Outcomes that say the endpoint itself is unwell (they feed the circuit breaker).
UNREACHABLE = frozenset({"timeout", "connection"})
GONE = 410
# Deliveries queued in this process, at most, per delivery the worker may have in flight.
QUEUE_PER_SLOT = 4
# What an endpoint not seen yet is assumed to take per attempt, in seconds.
ASSUMED_ATTEMPT_SECONDS = 1.0
# Weight of the newest attempt in an endpoint's average attempt time.
SPEED_WEIGHT = 0.2
# A queued delivery starts only while its lease still covers a whole attempt and this.
START_MARGIN_SECONDS = 2.0
# After a claim that found work, look again this soon (seconds).
BUSY_POLL_SECONDS = 0.01


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

    ``now`` (the wall clock: what is due, when to try again) and ``monotonic`` (leases
    of queued deliveries, the circuit breaker's pauses) are the real clocks unless given;
    ``pause_sync_seconds`` is how often the pauses other workers published are read.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        metrics: Metrics | None = None,
        worker_id: str | None = None,
        *,
        sender: Sender | None = None,
        now: Callable[[], datetime] = _now,
        monotonic: Callable[[], float] = time.monotonic,
        pause_sync_seconds: float = SYNC_SECONDS,
    ) -> None:
        self._store = store
        self._now = now
        self._monotonic = monotonic
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
        # Claimed deliveries waiting for a free slot of their endpoint, and when (on the
        # monotonic clock) each one's lease runs out.
        self._queued: dict[str, deque[tuple[ClaimedDelivery, float]]] = {}
        self._queued_count = 0
        # Attempts waiting for their answer (the others in _tasks are being recorded).
        self._sending = 0
        # Config id -> the paused endpoint its deliveries were handed back for.
        self._held_configs: dict[int, str] = {}
        self._attempt_seconds: dict[str, float] = {}
        self._sender_in_use: Sender | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.breaker = CircuitBreaker(
            settings.breaker_threshold,
            settings.breaker_pause,
            settings.breaker_max_pause,
            clock=monotonic,
        )
        self._pauses = SharedPauses(
            store,
            self.breaker,
            now=now,
            probe_lease=self._lease_seconds,
            interval=pause_sync_seconds,
        )

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def queued(self) -> int:
        """Claimed deliveries waiting in this process for their endpoint."""
        return self._queued_count

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
        sender = self._sender or Sender(self._settings, now=self._now)
        log.info(
            "delivery worker started",
            extra={"action": "worker_started", "worker_id": self.worker_id},
        )
        self._sender_in_use = sender
        await self._pauses.sync()  # no send to an endpoint another worker paused
        listening = asyncio.create_task(self._listen(stop))
        sharing = asyncio.create_task(self._pauses.run(stop))
        try:
            await self._poll_loop(sender, stop)
        finally:
            for task in (listening, sharing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._drain()
            await self._pauses.publish()  # what the last attempts changed
            if own_sender:
                await sender.close()
            log.info(
                "delivery worker stopped",
                extra={"action": "worker_stopped", "worker_id": self.worker_id},
            )

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake on deliveries written by other processes (store/wakeups.py); the poll
        carries on alone if that fails."""
        try:
            await self._store.listen_for_deliveries(self.wake, stop)
        except Exception as exc:
            log.warning(
                "not listening for new deliveries; polling only: %s",
                exc,
                extra={"action": "listen_failed", "worker_id": self.worker_id},
            )

    # ---- the loop ---------------------------------------------------------------------

    async def _poll_loop(self, sender: Sender, stop: asyncio.Event) -> None:
        failures = 0
        capacity = self._settings.worker_concurrency * (1 + QUEUE_PER_SLOT)
        while not stop.is_set():
            self._slot_free.clear()
            # Attempts being recorded hold no endpoint slot, but count towards a bound.
            free = min(
                capacity - self._sending - self._queued_count,
                capacity - len(self._tasks),
            )
            # Claim again when the queues run low, not for every freed slot: each claim
            # is a write transaction (on SQLite it takes turns with recording attempts).
            if free <= 0 or self._queued_count > self._settings.worker_concurrency * 2:
                await _wait_any((stop, self._slot_free), None)
                continue
            self._wakeup.clear()
            try:
                claims = await self._store.claim_deliveries(
                    limit=free,
                    lease_seconds=self._lease_seconds,
                    now=self._now(),
                    skip_postbacks=self._paused_configs(),
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
            if not claims or held_back == len(claims):
                # Nothing is due now (or everything due waits on busy endpoints).
                await _wait_any((stop, self._wakeup), self._settings.worker_poll_interval)
            elif len(claims) < free:
                # Work was found: more may follow at once (a postback stream).
                await _wait_any((stop, self._wakeup), BUSY_POLL_SECONDS)

    def _paused_configs(self) -> list[int]:
        """Configs whose deliveries went to an endpoint that is still paused: the next
        claim leaves them in the database, so a dead partner's backlog cannot fill every
        claim and starve the others. Once the pause is over they are claimed again."""
        for config_id, endpoint in list(self._held_configs.items()):
            if not self.breaker.paused(endpoint):  # (wait_for would start a probe)
                del self._held_configs[config_id]
        return list(self._held_configs)

    def _queue_room(self) -> int:
        """How many more claims the queues may take: bounded overall, so a claim never
        takes far more than the worker can start soon."""
        return max(0, self._settings.worker_concurrency * QUEUE_PER_SLOT - self._queued_count)

    def _backoff(self, failures: int) -> float:
        base = self._settings.worker_poll_interval
        return float(min(base * 2 ** min(failures - 1, 16), MAX_STORE_BACKOFF_SECONDS))

    def _start(
        self, sender: Sender, claims: list[ClaimedDelivery]
    ) -> tuple[list[ClaimedDelivery], dict[float, list[ClaimedDelivery]]]:
        """Start a task per claim, or queue it behind its endpoint's attempts in flight;
        return the claims to hand back: those for endpoints too busy to take them within
        their lease, and those for paused endpoints, by how long to hold them."""
        busy: list[ClaimedDelivery] = []
        paused: dict[float, list[ClaimedDelivery]] = {}
        cap = self._settings.worker_per_endpoint
        lease_ends = self._monotonic() + self._lease_seconds
        for claim in claims:
            endpoint = endpoint_key(claim.delivery.url)
            wait = self.breaker.wait_for(endpoint)
            if wait is not None:
                paused.setdefault(round(wait, 1), []).append(claim)
                self._held_configs[claim.delivery.postback_id] = endpoint
            elif (
                self._per_endpoint[endpoint] < cap
                and self._sending < self._settings.worker_concurrency
                and not self._queued.get(endpoint)
            ):
                self._launch(sender, claim, endpoint)
            elif len(self._queued.get(endpoint, ())) < self._queue_limit(endpoint):
                self._queued.setdefault(endpoint, deque()).append((claim, lease_ends))
                self._queued_count += 1
            else:
                busy.append(claim)
        return busy, paused

    def _queue_limit(self, endpoint: str) -> int:
        """How many deliveries may wait for this endpoint: as many as its attempts in
        flight get through, at their recent speed, while a lease still covers them."""
        seconds = self._attempt_seconds.get(endpoint, ASSUMED_ATTEMPT_SECONDS)
        spare = self._lease_seconds - self._settings.delivery_timeout - START_MARGIN_SECONDS
        rounds = max(0.0, spare) / max(seconds, 0.001)
        return int(min(self._settings.worker_per_endpoint * rounds, self._queue_room()))

    def _launch(self, sender: Sender, claim: ClaimedDelivery, endpoint: str) -> None:
        self._per_endpoint[endpoint] += 1
        self._sending += 1
        slot = _EndpointSlot(endpoint, self._slot_done)
        probe = self.breaker.probing(endpoint)
        task = asyncio.create_task(
            self._deliver(sender, claim, slot, probe), name=f"delivery-{claim.delivery.id}"
        )
        self._tasks[task] = claim
        task.add_done_callback(functools.partial(self._task_done, slot=slot))

    def _slot_done(self, endpoint: str) -> None:
        """An attempt got its answer (or gave up): the endpoint takes the next one while
        this one is being recorded."""
        self._sending -= 1
        self._per_endpoint[endpoint] -= 1
        if self._per_endpoint[endpoint] <= 0:
            del self._per_endpoint[endpoint]
        self._start_queued(endpoint)
        # A slot under the global cap may be what other endpoints' queues wait for.
        for other in list(self._queued):
            if self._sending >= self._settings.worker_concurrency:
                break
            self._start_queued(other)
        self._slot_free.set()

    def _task_done(self, task: asyncio.Task[None], slot: _EndpointSlot) -> None:
        self._tasks.pop(task, None)
        slot.release()  # a task cancelled before it ran never released its slot
        self._slot_free.set()

    def _start_queued(self, endpoint: str) -> None:
        """Give the endpoint's free slots to its queue, oldest first; hand the queue back
        if the endpoint is paused, and any delivery whose lease is too short to start."""
        queue = self._queued.get(endpoint)
        if not queue:
            return
        sender = self._sender_in_use
        wait = self.breaker.wait_for(endpoint)
        probe = self.breaker.probing(endpoint)
        if sender is None or wait is not None:
            held = self._take_queued(endpoint)
            for claim in held:
                self._held_configs[claim.delivery.postback_id] = endpoint
            self._hand_back_later(held, wait or 0.0)
            return
        latest_start = self._monotonic() + self._settings.delivery_timeout + START_MARGIN_SECONDS
        expired: list[ClaimedDelivery] = []
        while (
            queue
            and self._per_endpoint[endpoint] < self._settings.worker_per_endpoint
            and self._sending < self._settings.worker_concurrency
        ):
            claim, lease_ends = queue.popleft()
            self._queued_count -= 1
            if lease_ends < latest_start:
                expired.append(claim)
            else:
                self._launch(sender, claim, endpoint)
                if probe:
                    break  # the probe goes alone; the rest wait for its answer
        if not queue:
            del self._queued[endpoint]
        if expired:
            # Due again at once: the next claim, here or in another worker, takes them.
            self._hand_back_later(expired, 0.0)

    def _take_queued(self, endpoint: str) -> list[ClaimedDelivery]:
        queue = self._queued.pop(endpoint, deque())
        taken = [claim for claim, _ in queue]
        self._queued_count -= len(taken)
        return taken

    def _hand_back_later(self, claims: list[ClaimedDelivery], seconds: float) -> None:
        if not claims:
            return
        task = asyncio.create_task(self._hand_back(claims, seconds), name="hand-back")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _hand_back(self, claims: list[ClaimedDelivery], seconds: float) -> None:
        until = self._now() + timedelta(seconds=seconds)
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
        """Hand queued deliveries back at once; give attempts in flight the time of one
        attempt, then cancel the rest."""
        queued = [claim for endpoint in list(self._queued) for claim in self._take_queued(endpoint)]
        if queued:
            await self._hand_back(queued, 0.0)
        if self._tasks:
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
        # Deliveries handed back from the queues of endpoints that finished meanwhile.
        for endpoint in list(self._queued):
            await self._hand_back(self._take_queued(endpoint), 0.0)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # ---- one delivery -------------------------------------------------------------------

    async def _deliver(
        self, sender: Sender, claim: ClaimedDelivery, slot: _EndpointSlot, probe: bool
    ) -> None:
        delivery = claim.delivery
        try:
            try:
                if probe and not await self._pauses.may_probe(slot.endpoint):
                    # Another worker sends this pause's probe: back unsent, like the rest.
                    slot.release()
                    self._held_configs[delivery.postback_id] = slot.endpoint
                    await self._hand_back([claim], self.breaker.wait_for(slot.endpoint) or 0.0)
                    return
                outcome = await sender.send(claim)
                self._track_speed(slot.endpoint, outcome)
                self._track_endpoint(slot.endpoint, outcome)
            finally:
                slot.release()
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

    def _track_speed(self, endpoint: str, outcome: AttemptOutcome) -> None:
        """The endpoint's average attempt time, which bounds its queue."""
        seconds = outcome.duration_ms / 1000
        before = self._attempt_seconds.get(endpoint)
        if before is None:
            self._attempt_seconds[endpoint] = seconds
        else:
            self._attempt_seconds[endpoint] = before + SPEED_WEIGHT * (seconds - before)

    def _track_endpoint(self, endpoint: str, outcome: AttemptOutcome) -> None:
        """Feed the breaker: only answers and silences of the endpoint itself count."""
        status = outcome.status_code
        if outcome.kind in UNREACHABLE or (status is not None and (status >= 500 or status == 429)):
            was_paused = self.breaker.paused(endpoint)
            if self.breaker.failed(endpoint, outcome.retry_after):
                self._pauses.changed(endpoint)
            if not was_paused and self.breaker.paused(endpoint):
                log.warning(
                    "endpoint %s paused after repeated failures; it will be probed",
                    endpoint,
                    extra={"action": "endpoint_paused", "endpoint": endpoint},
                )
        elif status is not None and self.breaker.succeeded(endpoint):
            self._pauses.changed(endpoint)

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
            next_attempt_at = self._now()
        # A URL that cannot be sent never becomes sendable: no point in waiting.
        elif not outcome.success and outcome.kind not in PERMANENT_FAILURES:
            delay = retry.next_delay(self._settings.retry_delays, attempt_no, outcome.retry_after)
            if delay is not None:
                next_attempt_at = self._now() + timedelta(seconds=delay)
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


class _EndpointSlot:
    """One attempt's place under its endpoint's cap, given back once."""

    __slots__ = ("_give_back", "endpoint")

    def __init__(self, endpoint: str, give_back: Callable[[str], None]) -> None:
        self.endpoint = endpoint
        self._give_back: Callable[[str], None] | None = give_back

    def release(self) -> None:
        give_back, self._give_back = self._give_back, None
        if give_back is not None:
            give_back(self.endpoint)


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
