"""The Dispatcher end to end: real store (SQLite and PostgreSQL), real HTTP receivers."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from standardwebhooks import Webhook

from postback.dispatch.pauses import SYNC_SECONDS
from postback.dispatch.worker import Dispatcher, endpoint_key
from postback.domain.ids import hash_key, new_click_id, new_webhook_secret
from postback.domain.records import Attempt, ClaimedDelivery, Click, Delivery, PostbackConfig
from postback.errors import StoreUnavailable
from postback.metrics import Metrics
from postback.settings import Settings
from postback.store.base import IncomingEntry, PostbackCommand
from postback.store.sql import Store

from .support import MakeReceiver, ManualClock, Receiver, until


def make_settings(database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "allow_private_targets": True,
        "retry_schedule": "0.05,0.05,0.05",
        "delivery_timeout": 2.0,
        "worker_poll_interval": 0.05,
    }
    values.update(changes)
    return Settings(database_url=database_url, **values)


class Scene:
    """An advertiser, an offer and an affiliate with its postback configs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def setup(self, configs: Sequence[dict[str, Any]]) -> Scene:
        advertiser = await self.store.create_advertiser(
            {
                "name": "Advertiser",
                "postback_token": secrets.token_urlsafe(12),
                "require_token": False,
                "allowed_ips": [],
                "status_map": {},
            }
        )
        self.offer = await self.store.create_offer(
            {
                "advertiser_id": advertiser.id,
                "name": "Offer",
                "destination_url": "https://shop.example/?c={click_id}",
                "fallback_url": None,
                "revenue": Decimal("2.5"),
                "payout": Decimal("1.5"),
                "currency": "USD",
                "status": "active",
            }
        )
        self.affiliate = await self.store.create_affiliate(
            "Affiliate", hash_key(secrets.token_hex(16))
        )
        self.configs: list[PostbackConfig] = []
        for config in configs:
            fields = {
                "affiliate_id": self.affiliate.id,
                "offer_id": None,
                "method": "GET",
                "body": None,
                "content_type": "application/json",
                "events": ["*"],
                "statuses": ["approved"],
                "active": True,
                "secret": new_webhook_secret(),
                **config,
            }
            self.configs.append(await self.store.create_postback(fields))
        return self

    async def convert(
        self, sub1: str | None = None, at: datetime | None = None
    ) -> tuple[Click, list[Delivery]]:
        now = at or datetime.now(UTC)
        click = Click(
            click_id=new_click_id(now),
            offer_id=self.offer.id,
            affiliate_id=self.affiliate.id,
            subs=(sub1, None, None, None, None),
            ip="203.0.113.5",
            user_agent="Mozilla/5.0",
            referrer=None,
            country="US",
            created_at=now,
        )
        await self.store.insert_clicks([click])
        result = await self.store.record_postback(
            PostbackCommand(
                click=click,
                offer=self.offer,
                event="sale",
                txid=secrets.token_hex(6),
                status="approved",
                revenue=None,
                currency=None,
                received_at=now,
                log=IncomingEntry(
                    received_at=now,
                    method="GET",
                    ip="198.51.100.1",
                    query=f"click_id={click.click_id}",
                    body=None,
                    http_status=200,
                    result="created",
                ),
            )
        )
        assert result.deliveries == len(self.configs)
        self.conversion_id = result.conversion.id
        return click, await self.deliveries()

    async def deliveries(self) -> list[Delivery]:
        page = await self.store.list_deliveries(filters={"conversion_id": self.conversion_id})
        return sorted(page.items, key=lambda d: d.id)

    async def attempts(self) -> dict[int, list[Attempt]]:
        return await self.store.list_attempts([d.id for d in await self.deliveries()])

    async def settled(self, timeout: float = 10.0) -> list[Delivery]:
        """Wait until no delivery of the conversion is pending any more."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.deliveries()
            if all(d.state != "pending" for d in found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"still pending: {found}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def dispatching(
    store: Any,
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    clock: ManualClock | None = None,
    stop: asyncio.Event | None = None,
    worker_id: str = "test-worker",
    pause_sync_seconds: float = SYNC_SECONDS,
) -> AsyncIterator[Dispatcher]:
    """A worker running until the block ends; on the real clocks unless `clock` is given.
    Leaving the block sets `stop` and waits for the worker, for at most an attempt's
    timeout and a few seconds."""
    stop = stop or asyncio.Event()
    clocks: dict[str, Any] = {}
    if clock is not None:
        clocks = {"now": clock.now, "monotonic": clock.monotonic}
    dispatcher = Dispatcher(
        store,
        settings,
        metrics,
        worker_id=worker_id,
        pause_sync_seconds=pause_sync_seconds,
        **clocks,
    )
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        await asyncio.wait_for(task, settings.delivery_timeout + 5)


async def test_get_delivery_arrives_with_exact_url(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    receiver = await receivers()
    template = "/pb?cid={click_id}&s1={sub1}&payout={payout}&st={status}&raw=a%2Fb~"
    scene = await Scene(store).setup([{"url": receiver.url(template)}])
    click, [delivery] = await scene.convert(sub1="a b/c~é")
    expected = f"/pb?cid={click.click_id}&s1=a%20b%2Fc~%C3%A9&payout=1.5&st=approved&raw=a%2Fb~"
    rendered = urlsplit(delivery.url)
    assert f"{rendered.path}?{rendered.query}" == expected

    async with dispatching(store, make_settings(database_url)):
        [done] = await scene.settled()

    assert done.state == "delivered"
    assert done.attempts == 1
    [seen] = receiver.requests
    assert seen.method == "GET"
    assert seen.path_qs == expected
    assert seen.body == b""
    [attempt] = (await scene.attempts())[done.id]
    assert attempt.success and attempt.status_code == 200 and attempt.attempt_no == 1
    assert attempt.url == delivery.url and attempt.method == "GET"
    assert attempt.response_excerpt == "ok"


async def test_post_retries_until_delivered_with_a_stable_webhook_id(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    answers = iter([500, 500, 200])

    async def flaky(_request: web.Request) -> web.StreamResponse:
        status = next(answers)
        return web.Response(status=status, text="boom" if status == 500 else "thanks")

    receiver = await receivers(flaky)
    body = '{"click":"{click_id}","payout":{payout},"status":"{status}"}'
    scene = await Scene(store).setup(
        [{"url": receiver.url("/hook"), "method": "POST", "body": body}]
    )
    click, [delivery] = await scene.convert()
    metrics = Metrics()

    async with dispatching(store, make_settings(database_url), metrics):
        [done] = await scene.settled()

    assert done.state == "delivered"
    assert done.attempts == 3
    assert done.last_error is None
    secret = scene.configs[0].secret
    assert len(receiver.requests) == 3
    for seen in receiver.requests:
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["webhook-id"] == delivery.message_id
        payload = Webhook(secret).verify(seen.body, seen.headers)
        assert payload == {"click": click.click_id, "payout": 1.5, "status": "approved"}
    attempts = (await scene.attempts())[done.id]
    assert [a.attempt_no for a in attempts] == [1, 2, 3]
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.success for a in attempts] == [False, False, True]
    assert attempts[0].error == "HTTP 500 Internal Server Error"
    assert attempts[0].response_excerpt == "boom"
    sample = metrics.registry.get_sample_value
    assert sample("postback_delivery_attempts_total", {"outcome": "retry"}) == 2
    assert sample("postback_delivery_attempts_total", {"outcome": "success"}) == 1
    assert sample("postback_delivery_seconds_count") == 3


async def test_redirect_is_a_failure_until_the_schedule_is_spent(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        if request.path == "/elsewhere":
            return web.Response(text="should never be reached")
        raise web.HTTPFound("/elsewhere")

    receiver = await receivers(moved)
    scene = await Scene(store).setup([{"url": receiver.url("/pb")}])
    await scene.convert()

    async with dispatching(store, make_settings(database_url, retry_schedule="0.05")):
        [done] = await scene.settled()

    assert done.state == "failed"
    assert done.attempts == 2
    assert done.last_error == "redirect 302 not followed"
    assert [seen.path_qs for seen in receiver.requests] == ["/pb", "/pb"]
    attempts = (await scene.attempts())[done.id]
    assert [(a.status_code, a.success) for a in attempts] == [(302, False), (302, False)]


async def test_retry_after_is_honoured(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    # The worker, the sender and the receiver read one clock, which moves only below.
    clock = ManualClock()
    answers = iter([503, 200])

    async def busy(_request: web.Request) -> web.StreamResponse:
        status = next(answers)
        return web.Response(status=status, headers={"Retry-After": "1"} if status == 503 else {})

    receiver = await receivers(busy, clock=clock.monotonic)
    scene = await Scene(store).setup([{"url": receiver.url("/pb")}])
    await scene.convert(at=clock.now())
    polls = CountingStore(store)

    # The schedule says 0.05 s; the partner's Retry-After says 1 s, and wins.
    settings = make_settings(database_url, retry_schedule="0.05")
    async with dispatching(polls, settings, clock=clock):

        async def first_recorded() -> bool:
            return [d.attempts for d in await scene.deliveries()] == [1]

        await until(first_recorded, "the first attempt recorded")
        for step in (0.0, 0.75):
            clock.advance(step)
            await polls.more(3)
            assert len(receiver.requests) == 1, f"sent again {step}s after a Retry-After of 1s"
        clock.advance(0.5)
        [done] = await scene.settled()

    assert done.state == "delivered"
    first, second = receiver.requests
    assert second.at - first.at >= 1.0
    attempts = (await scene.attempts())[done.id]
    assert (attempts[1].started_at - attempts[0].started_at).total_seconds() >= 1.0


async def test_hanging_endpoint_does_not_delay_a_healthy_one(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    hanging: Receiver
    # How many hanging attempts had ended when the healthy endpoint got its request.
    ended_before_healthy: list[int] = []

    async def hang(_request: web.Request) -> web.StreamResponse:
        await hanging.release.wait()  # never set while the worker runs: only timeouts end these
        return web.Response(text="late")

    async def healthy_answer(_request: web.Request) -> web.StreamResponse:
        ended_before_healthy.append(sum(seen.ended for seen in hanging.requests))
        return web.Response(text="ok")

    hanging = await receivers(hang)
    healthy = await receivers(healthy_answer)
    urls = [hanging.url(f"/slow{n}") for n in range(3)] + [healthy.url("/fast")]
    scene = await Scene(store).setup([{"url": url} for url in urls])
    await scene.convert()
    settings = make_settings(
        database_url, retry_schedule="", delivery_timeout=1.5, worker_per_endpoint=2
    )

    async with dispatching(store, settings) as dispatcher:

        async def healthy_delivered() -> bool:
            by_url = {d.url: d.state for d in await scene.deliveries()}
            return by_url[healthy.url("/fast")] == "delivered"

        await until(healthy_delivered, "the healthy delivery recorded")
        # The healthy endpoint did not wait for the hanging one: it was answered, and its
        # attempt recorded, while both hanging attempts were still open.
        assert ended_before_healthy == [0], "the healthy endpoint waited"
        await until(lambda: dispatcher.in_flight <= 2, "the healthy attempt's task done")
        # Two attempts hang; the third delivery for that endpoint waits, unsent, behind
        # them in this worker's queue for the endpoint, and holds up nothing else.
        assert len(hanging.requests) == 2
        assert not any(seen.ended for seen in hanging.requests)
        assert dispatcher.in_flight == 2
        assert dispatcher.queued == 1
        found = await scene.settled()

    by_url = {d.url: d for d in found}
    assert by_url[healthy.url("/fast")].state == "delivered"
    for n in range(3):
        slow = by_url[hanging.url(f"/slow{n}")]
        assert slow.state == "failed"
        assert slow.last_error == "timeout after 1.5s"
    assert sorted(seen.path_qs for seen in hanging.requests) == ["/slow0", "/slow1", "/slow2"]


async def test_private_targets_are_refused(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    receiver = await receivers()
    urls = [
        receiver.url("/a"),
        receiver.url("/b", host="localhost"),
        receiver.url("/c", host="[::ffff:127.0.0.1]"),
    ]
    scene = await Scene(store).setup([{"url": url} for url in urls])
    await scene.convert()
    settings = make_settings(database_url, allow_private_targets=False, retry_schedule="")

    async with dispatching(store, settings):
        found = await scene.settled()

    assert receiver.requests == []
    for delivery in found:
        assert delivery.state == "failed"
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("target refused")
        assert "loopback" in delivery.last_error
        assert "POSTBACK_ALLOW_PRIVATE_TARGETS" in delivery.last_error


async def test_unusable_url_fails_without_retries(store: Store, database_url: str) -> None:
    scene = await Scene(store).setup([{"url": "ftp://partner.example/pb?c={click_id}"}])
    await scene.convert()

    async with dispatching(store, make_settings(database_url)):
        [done] = await scene.settled()

    assert done.state == "failed"
    assert done.attempts == 1
    assert done.last_error == "invalid URL: scheme must be http or https"


async def test_wake_sends_new_deliveries_at_once(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    receiver = await receivers()
    scene = await Scene(store).setup([{"url": receiver.url("/pb")}])
    polls = CountingStore(store)
    # Without wake() the worker would look for work again only in a minute.
    settings = make_settings(database_url, worker_poll_interval=60)

    async with dispatching(polls, settings) as dispatcher:
        await until(lambda: polls.claims == 1, "the first poll")
        await scene.convert()
        assert polls.claims == 1  # the first poll found nothing; the next is a minute away
        dispatcher.wake()
        [done] = await scene.settled()
        assert polls.claims >= 2  # the poll wake() asked for found it
    # Leaving the block stopped the worker in the middle of its minute's wait: dispatching()
    # waits for it only an attempt's timeout and a few seconds.
    assert done.state == "delivered"
    assert len(receiver.requests) == 1


async def test_stop_lets_attempts_in_flight_finish(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    stop = asyncio.Event()

    async def slow(_request: web.Request) -> web.StreamResponse:
        await stop.wait()  # answers only once the worker was told to stop
        return web.Response(text="done")

    receiver = await receivers(slow)
    scene = await Scene(store).setup([{"url": receiver.url("/pb")}])
    await scene.convert()

    async with dispatching(store, make_settings(database_url), stop=stop):
        await until(lambda: bool(receiver.requests), "the attempt sent")
    # Stopped while the answer was pending: it was still awaited and recorded.
    [done] = await scene.deliveries()
    assert done.state == "delivered"


class CountingStore:
    """The real store, counting the worker's claims (each one a look for due work)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.claims = 0

    async def claim_deliveries(self, **kwargs: Any) -> list[ClaimedDelivery]:
        found = await self._store.claim_deliveries(**kwargs)
        self.claims += 1
        return found

    async def listen_for_deliveries(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """No signal from other writers: the worker claims on its poll and on wake() alone,
        so the claims counted are the ones a test asks for."""
        await stop.wait()

    async def more(self, count: int) -> None:
        """Return once the worker has looked for due work `count` more times."""
        target = self.claims + count
        await until(lambda: self.claims >= target, f"{count} more claims")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class FlakyStore(CountingStore):
    """The real store behind a connection that fails the first few claims."""

    def __init__(self, store: Store, failures: int) -> None:
        super().__init__(store)
        self.failures = failures

    async def claim_deliveries(self, **kwargs: Any) -> list[ClaimedDelivery]:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("connection refused")
        return await super().claim_deliveries(**kwargs)


async def test_store_errors_do_not_stop_the_worker(
    store: Store, database_url: str, receivers: MakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = await receivers()
    scene = await Scene(store).setup([{"url": receiver.url("/pb")}])
    await scene.convert()
    flaky = FlakyStore(store, failures=3)

    with caplog.at_level("WARNING", logger="postback.dispatch.worker"):
        async with dispatching(flaky, make_settings(database_url, worker_poll_interval=0.02)):
            [done] = await scene.settled()

    assert flaky.failures == 0
    assert done.state == "delivered"
    claim_failures = [r for r in caplog.records if getattr(r, "action", None) == "claim_failed"]
    assert len(claim_failures) == 3


def test_endpoint_key() -> None:
    assert endpoint_key("https://Partner.example/pb?x=1") == "https://partner.example:443"
    assert endpoint_key("http://partner.example/pb") == "http://partner.example:80"
    assert endpoint_key("http://partner.example:8080/a") == "http://partner.example:8080"
    assert endpoint_key("http://[::1]:9000/") == "http://::1:9000"
