"""How deliveries fare (the console's dashboard) and the outgoing log's offer and time
filters, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postback.store.base import AttemptResult
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(60)


def result(claim: object, at: datetime, *, success: bool, **extra: object) -> AttemptResult:
    delivery = claim.delivery  # type: ignore[attr-defined]
    fields: dict[str, object] = {
        "attempt_no": delivery.attempts + 1,
        "started_at": at,
        "duration_ms": 5,
        "url": delivery.url,
        "method": delivery.method,
        "status_code": 200 if success else 500,
        "response_excerpt": "ok" if success else "boom",
        "error": None if success else "HTTP 500",
        "success": success,
        "next_attempt_at": None,
        **extra,
    }
    return AttemptResult(**fields)  # type: ignore[arg-type]


async def test_health_counts_by_state_per_affiliate_and_period(store: Store) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    offer = await make.offer(store)
    other_offer = await make.offer(store)
    alice = await make.affiliate(store)
    bob = await make.affiliate(store)
    await make.postback(store, alice.id, None)
    await make.postback(store, bob.id, None, url="https://bob.example/?c={click_id}")
    conversions = []
    for index, (aff, which) in enumerate(
        [(alice, offer), (alice, offer), (alice, other_offer), (alice, offer), (bob, offer)]
    ):
        click = await make.stored_click(store, which, aff.id, created_at=t0)
        cmd = make.command(click, which, received_at=t0 + timedelta(seconds=index))
        conversions.append((await store.record_postback(cmd)).conversion)
    old_click = await make.stored_click(store, offer, alice.id, created_at=t0 - timedelta(days=9))
    old = make.command(old_click, offer, received_at=t0 - timedelta(days=9))
    await store.record_postback(old)

    now = datetime.now(UTC)
    claims = await store.claim_deliveries(limit=100, lease_seconds=60, now=now)
    by_conversion = {c.delivery.conversion_id: c for c in claims}
    first, second, third = (by_conversion[c.id] for c in conversions[:3])
    assert await store.finish_attempt(first, result(first, now, success=True))
    retry_at = now + timedelta(hours=1)
    assert await store.finish_attempt(
        second, result(second, now, success=False, next_attempt_at=retry_at)
    )
    assert await store.finish_attempt(
        third, result(third, now, success=False, disable_config="the partner answered 410")
    )
    leftover = [c for c in claims if c not in (first, second, third)]
    await store.postpone_claims(leftover, now)

    since = t0 - timedelta(minutes=1)
    everyone = await store.delivery_health(since=since)
    assert (everyone.delivered, everyone.retrying, everyone.failed) == (1, 1, 1)
    assert everyone.waiting == 2  # the fourth of Alice's and Bob's
    assert everyone.paused_configs == 1
    mine = await store.delivery_health(since=since, affiliate_id=alice.id)
    assert (mine.delivered, mine.retrying, mine.waiting, mine.failed) == (1, 1, 1, 1)
    assert mine.paused_configs == 1
    theirs = await store.delivery_health(since=since, affiliate_id=bob.id)
    assert (theirs.waiting, theirs.paused_configs) == (1, 0)
    wider = await store.delivery_health(since=t0 - timedelta(days=10))
    assert wider.waiting == 3  # the old one counts once the period covers it

    of_other_offer = await store.list_deliveries(filters={"offer_id": other_offer.id})
    assert [d.conversion_id for d in of_other_offer.items] == [conversions[2].id]
    recent = await store.list_deliveries(filters={"from": since, "affiliate_id": alice.id})
    assert len(recent.items) == 4
    older = await store.list_deliveries(filters={"to": since})
    assert [d.conversion_id for d in older.items] != [] and all(
        d.created_at < since for d in older.items
    )
