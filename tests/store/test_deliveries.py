"""The outbox queue: claims under a lease, attempts, retries.

Every test works in its own slot of time, earlier than every slot before it, so the
deliveries left due by one test are never due for the claims of the next.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from postback.domain.records import ClaimedDelivery, Delivery
from postback.settings import Settings
from postback.store.base import AttemptResult
from postback.store.factory import open_store
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(60)


_slots = itertools.count(1)
BASE = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def t0() -> datetime:
    return BASE - timedelta(days=next(_slots))


@pytest.fixture
async def second_store(database_url: str) -> AsyncIterator[Store]:
    """Another store on the same database, as a second worker process would have."""
    other = open_store(Settings(database_url=database_url))
    yield other
    await other.close()


async def enqueue(store: Store, t0: datetime, count: int, configs: int = 1) -> list[Delivery]:
    """`count` conversions, each owing one delivery per config, all due at `t0`."""
    offer = await make.offer(store)
    aff = await make.affiliate(store)
    for _ in range(configs):
        await make.postback(store, aff.id, offer.id)
    made: list[Delivery] = []
    for i in range(count):
        click = await make.stored_click(store, offer, aff.id, created_at=t0)
        cmd = make.command(click, offer, received_at=t0 + timedelta(microseconds=i))
        result = await store.record_postback(cmd)
        made.extend(await make.deliveries_for(store, result.conversion.id))
    assert len(made) == count * configs
    return made


def attempt(
    claim: ClaimedDelivery,
    at: datetime,
    *,
    success: bool,
    next_at: datetime | None = None,
    status_code: int | None = 500,
    error: str | None = "HTTP 500",
) -> AttemptResult:
    return AttemptResult(
        attempt_no=claim.delivery.attempts + 1,
        started_at=at,
        duration_ms=12,
        url=claim.delivery.url,
        method=claim.delivery.method,
        status_code=200 if success else status_code,
        response_excerpt="ok" if success else "boom",
        error=None if success else error,
        success=success,
        next_attempt_at=next_at,
    )


async def test_nothing_due_claims_nothing(store: Store, t0: datetime) -> None:
    await enqueue(store, t0, 2)
    early = await store.claim_deliveries(limit=10, lease_seconds=30, now=t0 - timedelta(seconds=1))
    assert early == []


async def test_claim_hands_out_due_deliveries_in_order(store: Store, t0: datetime) -> None:
    made = await enqueue(store, t0, 5)
    claims = await store.claim_deliveries(limit=3, lease_seconds=30, now=t0 + timedelta(seconds=1))
    assert [c.delivery.id for c in claims] == [d.id for d in made[:3]]
    assert len({c.claim_token for c in claims}) == 1
    for claim in claims:
        config = await store.get_postback(claim.delivery.postback_id)
        assert config is not None
        assert claim.secret == config.secret
        assert claim.delivery.state == "pending"
    rest = await store.claim_deliveries(limit=10, lease_seconds=30, now=t0 + timedelta(seconds=1))
    assert [c.delivery.id for c in rest] == [d.id for d in made[3:]]
    assert rest[0].claim_token != claims[0].claim_token
    # Everything is leased now.
    assert (
        await store.claim_deliveries(limit=10, lease_seconds=30, now=t0 + timedelta(seconds=2))
        == []
    )


async def test_concurrent_claimers_never_share(
    store: Store, second_store: Store, t0: datetime
) -> None:
    made = await enqueue(store, t0, 12, configs=2)
    now = t0 + timedelta(seconds=1)
    batches = await asyncio.gather(
        *(
            (store if i % 2 else second_store).claim_deliveries(limit=4, lease_seconds=60, now=now)
            for i in range(8)
        )
    )
    claimed = [c.delivery.id for batch in batches for c in batch]
    assert len(claimed) == len(set(claimed)), "a delivery was handed to two claimers"
    assert set(claimed) <= {d.id for d in made}
    for batch in batches:
        assert len({c.claim_token for c in batch}) <= 1
    leftovers = await store.claim_deliveries(limit=100, lease_seconds=60, now=now)
    assert not set(claimed) & {c.delivery.id for c in leftovers}
    assert set(claimed) | {c.delivery.id for c in leftovers} == {d.id for d in made}


async def test_lease_expiry_lets_another_claimer_take_over(
    store: Store, second_store: Store, t0: datetime
) -> None:
    (delivery,) = await enqueue(store, t0, 1)
    (first,) = await store.claim_deliveries(limit=1, lease_seconds=30, now=t0)
    # Within the lease nobody else gets it.
    assert (
        await second_store.claim_deliveries(
            limit=1, lease_seconds=30, now=t0 + timedelta(seconds=29)
        )
        == []
    )
    (second,) = await second_store.claim_deliveries(
        limit=1, lease_seconds=30, now=t0 + timedelta(seconds=31)
    )
    assert second.delivery.id == delivery.id
    assert second.claim_token != first.claim_token

    # The first worker's lease is gone: its result is not applied.
    stale = attempt(first, t0 + timedelta(seconds=32), success=True)
    assert await store.finish_attempt(first, stale) is False
    assert (await store.get_delivery(delivery.id)).state == "pending"  # type: ignore[union-attr]

    fresh = attempt(second, t0 + timedelta(seconds=33), success=True)
    assert await second_store.finish_attempt(second, fresh) is True
    done = await store.get_delivery(delivery.id)
    assert done is not None
    assert done.state == "delivered"
    assert done.attempts == 1
    assert done.next_attempt_at is None
    # Finishing twice with the same claim does not apply again.
    assert await second_store.finish_attempt(second, fresh) is False


async def test_finish_without_a_claim_is_refused(store: Store, t0: datetime) -> None:
    (delivery,) = await enqueue(store, t0, 1)
    forged = ClaimedDelivery(delivery=delivery, claim_token="0" * 32, secret="whsec_x")
    assert await store.finish_attempt(forged, attempt(forged, t0, success=True)) is False
    unchanged = await store.get_delivery(delivery.id)
    assert unchanged is not None
    assert unchanged.state == "pending"
    assert unchanged.attempts == 0


async def test_retry_state_machine(store: Store, t0: datetime) -> None:
    (delivery,) = await enqueue(store, t0, 1)

    (claim,) = await store.claim_deliveries(limit=1, lease_seconds=30, now=t0)
    retry_at = t0 + timedelta(seconds=5)
    first = attempt(claim, t0, success=False, next_at=retry_at, error="HTTP 503")
    assert await store.finish_attempt(claim, first) is True
    waiting = await store.get_delivery(delivery.id)
    assert waiting is not None
    assert waiting.state == "pending"
    assert waiting.attempts == 1
    assert waiting.next_attempt_at == retry_at
    assert waiting.last_error == "HTTP 503"

    # Not due before its time, due after it; the lease of the finished claim is gone.
    assert (
        await store.claim_deliveries(limit=1, lease_seconds=30, now=retry_at - timedelta(seconds=1))
        == []
    )
    (claim,) = await store.claim_deliveries(limit=1, lease_seconds=30, now=retry_at)
    assert claim.delivery.attempts == 1

    last = attempt(claim, retry_at, success=False, next_at=None, status_code=None, error="timeout")
    assert await store.finish_attempt(claim, last) is True
    failed = await store.get_delivery(delivery.id)
    assert failed is not None
    assert failed.state == "failed"
    assert failed.attempts == 2
    assert failed.next_attempt_at is None
    assert failed.last_error == "timeout"
    far = t0 + timedelta(hours=12)
    assert await store.claim_deliveries(limit=10, lease_seconds=30, now=far) == []

    # An operator's retry brings it back, due now.
    again_at = t0 + timedelta(seconds=60)
    assert await store.retry_delivery(delivery.id, again_at) is True
    back = await store.get_delivery(delivery.id)
    assert back is not None
    assert back.state == "pending"
    assert back.next_attempt_at == again_at
    (claim,) = await store.claim_deliveries(limit=1, lease_seconds=30, now=again_at)
    assert await store.finish_attempt(claim, attempt(claim, again_at, success=True)) is True
    delivered = await store.get_delivery(delivery.id)
    assert delivered is not None
    assert delivered.state == "delivered"
    assert delivered.attempts == 3
    assert delivered.last_error is None

    attempts = (await store.list_attempts([delivery.id]))[delivery.id]
    assert [a.attempt_no for a in attempts] == [1, 2, 3]
    assert [a.success for a in attempts] == [False, False, True]
    assert [a.status_code for a in attempts] == [500, None, 200]
    assert [a.error for a in attempts] == ["HTTP 503", "timeout", None]
    assert attempts[0].started_at == t0
    assert attempts[0].duration_ms == 12
    assert attempts[0].url == delivery.url
    assert all(a.delivery_id == delivery.id for a in attempts)

    by_state = await make.all_pages(
        store.list_deliveries, filters={"state": "delivered", "postback_id": delivery.postback_id}
    )
    assert [d.id for d in by_state] == [delivery.id]


async def test_retry_unknown_delivery(store: Store, t0: datetime) -> None:
    assert await store.retry_delivery(987_654_321, t0) is False


async def test_retry_of_pending_moves_it_to_now(store: Store, t0: datetime) -> None:
    (delivery,) = await enqueue(store, t0, 1)
    sooner = t0 - timedelta(minutes=5)
    assert await store.retry_delivery(delivery.id, sooner) is True
    moved = await store.get_delivery(delivery.id)
    assert moved is not None
    assert moved.state == "pending"
    assert moved.next_attempt_at == sooner


async def test_postpone_gives_the_claim_back_without_an_attempt(store: Store, t0: datetime) -> None:
    (delivery,) = await enqueue(store, t0, 1)
    (claim,) = await store.claim_deliveries(limit=1, lease_seconds=300, now=t0)
    until = t0 + timedelta(seconds=20)
    await store.postpone_claim(claim, until)
    back = await store.get_delivery(delivery.id)
    assert back is not None
    assert back.state == "pending"
    assert back.attempts == 0
    assert back.next_attempt_at == until
    assert (await store.list_attempts([delivery.id]))[delivery.id] == []
    # Due again at `until`, though the original lease would have run longer.
    assert (
        await store.claim_deliveries(limit=1, lease_seconds=30, now=until - timedelta(seconds=1))
        == []
    )
    (again,) = await store.claim_deliveries(limit=1, lease_seconds=30, now=until)
    assert again.delivery.id == delivery.id
    # The old claim can no longer finish it.
    assert await store.finish_attempt(claim, attempt(claim, until, success=True)) is False


async def test_claim_leaves_the_skipped_configs_deliveries_alone(
    store: Store, t0: datetime
) -> None:
    made = await enqueue(store, t0, 3, configs=2)
    skipped = made[0].postback_id
    later = t0 + timedelta(seconds=1)
    claims = await store.claim_deliveries(
        limit=10, lease_seconds=30, now=later, skip_postbacks={skipped}
    )
    assert all(c.delivery.postback_id != skipped for c in claims)
    assert {c.delivery.id for c in claims} == {d.id for d in made if d.postback_id != skipped}
    rest = await store.claim_deliveries(limit=10, lease_seconds=30, now=later)
    assert {c.delivery.id for c in rest} == {d.id for d in made if d.postback_id == skipped}
