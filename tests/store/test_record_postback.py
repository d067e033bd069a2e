"""record_postback: conversions, history, the outbox and the incoming log in one transaction."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest

from postback.domain.conversion import Outcome
from postback.domain.records import Offer
from postback.errors import ClickExpired, InvalidTransition, StoreError
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(60)


async def setup(store: Store, **offer_fields: Any) -> tuple[Offer, int]:
    offer = await make.offer(store, **offer_fields)
    aff = await make.affiliate(store)
    return offer, aff.id


async def test_created(store: Store) -> None:
    offer, aff_id = await setup(
        store, revenue=Decimal("999999.9999"), payout=Decimal("0.0001"), currency="EUR"
    )
    click = await make.stored_click(store, offer, aff_id)
    received = datetime.now(UTC).replace(microsecond=123_456)
    result = await store.record_postback(make.command(click, offer, received_at=received))
    assert result.outcome is Outcome.CREATED
    conv = result.conversion
    assert conv.id > 0
    assert conv.click_id == click.click_id
    assert conv.offer_id == offer.id
    assert conv.affiliate_id == aff_id
    assert conv.advertiser_id == offer.advertiser_id
    assert conv.event == "conversion"
    assert conv.txid is None
    assert conv.status == "approved"
    # Defaults from the offer, exact.
    assert conv.revenue == Decimal("999999.9999")
    assert conv.payout == Decimal("0.0001")
    assert conv.currency == "EUR"
    assert conv.created_at == received
    assert await store.get_conversion(conv.id) == conv

    history = await store.conversion_history(conv.id)
    assert [(h.from_status, h.to_status) for h in history] == [(None, "approved")]
    assert history[0].conversion_id == conv.id

    log = await make.incoming_for(store, click.click_id)
    assert len(log) == 1
    assert log[0]["result"] == "created"
    assert log[0]["conversion_id"] == conv.id
    assert log[0]["advertiser_id"] == offer.advertiser_id
    assert log[0]["http_status"] == 200


async def test_created_with_given_revenue_and_currency(store: Store) -> None:
    offer, aff_id = await setup(store, revenue=Decimal("10"), payout=Decimal("999999.9999"))
    click = await make.stored_click(store, offer, aff_id)
    cmd = make.command(click, offer, revenue=Decimal("0.0001"), currency="GBP", event="sale")
    conv = (await store.record_postback(cmd)).conversion
    fetched = await store.get_conversion(conv.id)
    assert fetched is not None
    assert fetched.revenue == Decimal("0.0001")
    assert fetched.payout == Decimal("999999.9999")
    assert fetched.currency == "GBP"
    assert fetched.event == "sale"


async def test_duplicate_then_updated(store: Store) -> None:
    offer, aff_id = await setup(store)
    click = await make.stored_click(store, offer, aff_id)
    created = await store.record_postback(make.command(click, offer, status="pending"))
    assert created.outcome is Outcome.CREATED

    duplicate = await store.record_postback(make.command(click, offer, status="pending"))
    assert duplicate.outcome is Outcome.DUPLICATE
    assert duplicate.conversion == created.conversion
    assert duplicate.deliveries == 0

    later = created.conversion.created_at + timedelta(seconds=5)
    updated = await store.record_postback(
        make.command(click, offer, status="approved", revenue=Decimal("12.3456"), received_at=later)
    )
    assert updated.outcome is Outcome.UPDATED
    assert updated.conversion.id == created.conversion.id
    assert updated.conversion.status == "approved"
    assert updated.conversion.revenue == Decimal("12.3456")
    assert updated.conversion.updated_at == later
    assert updated.conversion.created_at == created.conversion.created_at

    history = await store.conversion_history(created.conversion.id)
    assert [(h.from_status, h.to_status) for h in history] == [
        (None, "pending"),
        ("pending", "approved"),
    ]
    log = await make.incoming_for(store, click.click_id)
    assert [r["result"] for r in log] == ["created", "duplicate", "updated"]
    assert {r["conversion_id"] for r in log} == {created.conversion.id}

    # Without a revenue the status change keeps the amount.
    rejected = await store.record_postback(make.command(click, offer, status="rejected"))
    assert rejected.outcome is Outcome.UPDATED
    assert rejected.conversion.revenue == Decimal("12.3456")


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["pending"], "refunded"),
        (["pending"], "chargeback"),
        (["approved"], "pending"),
        (["pending", "rejected"], "refunded"),
        (["approved", "refunded"], "approved"),
        (["approved", "chargeback"], "rejected"),
    ],
)
async def test_invalid_transition_writes_nothing(
    store: Store, path: list[str], refused: str
) -> None:
    offer, aff_id = await setup(store)
    await make.postback(store, aff_id, offer.id, statuses=["*"])
    click = await make.stored_click(store, offer, aff_id)
    conv = None
    for status in path:
        conv = (await store.record_postback(make.command(click, offer, status=status))).conversion
    assert conv is not None
    history = await store.conversion_history(conv.id)
    outbox = await make.deliveries_for(store, conv.id)
    log = await make.incoming_for(store, click.click_id)

    with pytest.raises(InvalidTransition) as info:
        await store.record_postback(
            make.command(click, offer, status=refused, revenue=Decimal("1"))
        )
    assert info.value.current == path[-1]
    assert info.value.requested == refused

    assert await store.get_conversion(conv.id) == conv
    assert await store.conversion_history(conv.id) == history
    assert await make.deliveries_for(store, conv.id) == outbox
    assert await make.incoming_for(store, click.click_id) == log


async def test_deliveries_only_for_matching_configs(store: Store) -> None:
    adv = await make.advertiser(store)
    offer = await make.offer(store, adv.id, payout=Decimal("0.0001"), revenue=Decimal("5"))
    other_offer = await make.offer(store, adv.id)
    aff = await make.affiliate(store)
    other_aff = await make.affiliate(store)
    event = make.unique("ev")

    local = await make.postback(store, aff.id, offer.id)
    await make.postback(store, aff.id, offer.id, events=["other_event"])
    await make.postback(store, aff.id, offer.id, active=False)
    deleted = await make.postback(store, aff.id, offer.id)
    await store.delete_postback(deleted.id)
    await make.postback(store, aff.id, None)  # global: shadowed by the local one
    global_rejected = await make.postback(store, aff.id, None, statuses=["rejected"])
    await make.postback(store, aff.id, other_offer.id, statuses=["*"])
    await make.postback(store, other_aff.id, offer.id, statuses=["*"])
    await make.postback(store, other_aff.id, None, statuses=["*"])
    net_offer = await make.postback(
        store, None, offer.id, method="POST", url="https://net.example/hook", body=None
    )
    await make.postback(store, None, other_offer.id, statuses=["*"])
    net_all = await make.postback(store, None, None, events=[event], statuses=["*"])
    net_rejected = await make.postback(store, None, offer.id, statuses=["rejected"])
    await make.postback(store, None, offer.id, events=["*"], statuses=["*"], active=False)

    try:
        click = await make.stored_click(store, offer, aff.id)
        result = await store.record_postback(make.command(click, offer, event=event))
        assert result.outcome is Outcome.CREATED
        conv = result.conversion
        outbox = await make.deliveries_for(store, conv.id)
        assert {d.postback_id for d in outbox} == {local.id, net_offer.id, net_all.id}
        assert result.deliveries == len(outbox) == 3

        for delivery in outbox:
            assert delivery.conversion_id == conv.id
            assert delivery.event == event
            assert delivery.status == "approved"
            assert delivery.state == "pending"
            assert delivery.attempts == 0
            assert delivery.last_error is None
            assert delivery.next_attempt_at == conv.created_at
        assert len({d.message_id for d in outbox}) == 3

        by_config = {d.postback_id: d for d in outbox}
        sent = by_config[local.id]
        assert sent.method == "GET"
        assert sent.body is None
        assert parse_qs(urlsplit(sent.url).query) == {
            "cid": [click.click_id],
            "p": ["0.0001"],
            "s": ["approved"],
        }
        network = by_config[net_offer.id]
        assert network.method == "POST"
        assert network.content_type == "application/json"
        assert network.body is not None
        body = json.loads(network.body, parse_float=Decimal)
        assert body["revenue"] == Decimal("5")
        assert body["profit"] == Decimal("4.9999")
        assert body["conversion_id"] == conv.id
        assert body["click_id"] == click.click_id

        # The duplicate owes nothing new.
        again = await store.record_postback(make.command(click, offer, event=event))
        assert again.outcome is Outcome.DUPLICATE
        assert again.deliveries == 0
        assert len(await make.deliveries_for(store, conv.id)) == 3

        # The status change owes what matches its new status.
        rejected = await store.record_postback(
            make.command(click, offer, event=event, status="rejected")
        )
        assert rejected.outcome is Outcome.UPDATED
        outbox = await make.deliveries_for(store, conv.id)
        new = [d for d in outbox if d.status == "rejected"]
        assert {d.postback_id for d in new} == {global_rejected.id, net_rejected.id, net_all.id}
        assert rejected.deliveries == 3
        assert len(outbox) == 6
    finally:
        await store.delete_postback(net_all.id)


async def test_no_configs_no_deliveries(store: Store) -> None:
    offer, aff_id = await setup(store)
    click = await make.stored_click(store, offer, aff_id)
    result = await store.record_postback(make.command(click, offer, event=make.unique("e")))
    assert result.deliveries == 0
    assert await make.deliveries_for(store, result.conversion.id) == []


async def test_deleted_config_keeps_its_deliveries_readable(store: Store) -> None:
    offer, aff_id = await setup(store)
    config = await make.postback(store, aff_id, offer.id)
    click = await make.stored_click(store, offer, aff_id)
    conv = (await store.record_postback(make.command(click, offer))).conversion
    await store.delete_postback(config.id)
    listed = await make.all_pages(store.list_deliveries, filters={"postback_id": config.id})
    assert [d.conversion_id for d in listed] == [conv.id]
    assert await store.get_delivery(listed[0].id) == listed[0]


async def test_txid_identity(store: Store) -> None:
    adv = await make.advertiser(store)
    offer = await make.offer(store, adv.id)
    other_offer = await make.offer(store, adv.id)
    aff = await make.affiliate(store)
    click_a = await make.stored_click(store, offer, aff.id)
    click_b = await make.stored_click(store, offer, aff.id)
    click_c = await make.stored_click(store, other_offer, aff.id)

    t1 = await store.record_postback(make.command(click_a, offer, txid="T1"))
    t2 = await store.record_postback(make.command(click_a, offer, txid="T2"))
    assert t1.outcome is t2.outcome is Outcome.CREATED
    assert t1.conversion.id != t2.conversion.id
    assert (t1.conversion.txid, t2.conversion.txid) == ("T1", "T2")

    same = await store.record_postback(make.command(click_b, offer, txid="T1"))
    assert same.outcome is Outcome.DUPLICATE
    assert same.conversion.id == t1.conversion.id
    assert same.conversion.click_id == click_a.click_id  # the first click keeps it

    elsewhere = await store.record_postback(make.command(click_c, other_offer, txid="T1"))
    assert elsewhere.outcome is Outcome.CREATED
    assert elsewhere.conversion.id != t1.conversion.id

    other_event = await store.record_postback(make.command(click_a, offer, txid="T1", event="x"))
    assert other_event.outcome is Outcome.CREATED

    no_txid = await store.record_postback(make.command(click_a, offer))
    assert no_txid.outcome is Outcome.CREATED
    assert no_txid.conversion.id not in {t1.conversion.id, t2.conversion.id}

    # A status change through another click of the same offer moves the same conversion.
    changed = await store.record_postback(
        make.command(click_b, offer, txid="T1", status="rejected")
    )
    assert changed.outcome is Outcome.UPDATED
    assert changed.conversion.id == t1.conversion.id

    convs = await make.all_pages(store.list_conversions, filters={"click_id": click_a.click_id})
    assert len(convs) == 4


async def test_without_txid_one_conversion_per_click_and_event(store: Store) -> None:
    offer, aff_id = await setup(store)
    click = await make.stored_click(store, offer, aff_id)
    other = await make.stored_click(store, offer, aff_id)
    first = await store.record_postback(make.command(click, offer, event="lead"))
    second = await store.record_postback(make.command(click, offer, event="sale"))
    third = await store.record_postback(make.command(other, offer, event="lead"))
    assert [r.outcome for r in (first, second, third)] == [Outcome.CREATED] * 3
    assert len({first.conversion.id, second.conversion.id, third.conversion.id}) == 3


async def test_concurrent_same_identity_is_one_conversion(store: Store) -> None:
    offer, aff_id = await setup(store)
    await make.postback(store, aff_id, offer.id)
    click = await make.stored_click(store, offer, aff_id)
    results = await asyncio.gather(
        *(store.record_postback(make.command(click, offer)) for _ in range(20))
    )
    outcomes = [r.outcome for r in results]
    assert outcomes.count(Outcome.CREATED) == 1
    assert outcomes.count(Outcome.DUPLICATE) == 19
    assert len({r.conversion.id for r in results}) == 1
    conv_id = results[0].conversion.id

    convs = await make.all_pages(store.list_conversions, filters={"click_id": click.click_id})
    assert [c.id for c in convs] == [conv_id]
    assert len(await store.conversion_history(conv_id)) == 1
    assert len(await make.deliveries_for(store, conv_id)) == 1
    assert sum(r.deliveries for r in results) == 1
    log = await make.incoming_for(store, click.click_id)
    assert len(log) == 20
    assert {r["conversion_id"] for r in log} == {conv_id}
    assert sorted(r["result"] for r in log) == ["created"] + ["duplicate"] * 19


async def test_concurrent_same_txid_on_many_clicks_is_one_conversion(store: Store) -> None:
    offer, aff_id = await setup(store)
    clicks = [make.click(offer, aff_id) for _ in range(20)]
    await store.insert_clicks(clicks)
    results = await asyncio.gather(
        *(store.record_postback(make.command(c, offer, txid="ORDER-1")) for c in clicks)
    )
    assert [r.outcome for r in results].count(Outcome.CREATED) == 1
    assert len({r.conversion.id for r in results}) == 1


async def test_concurrent_status_change_applies_once(store: Store) -> None:
    offer, aff_id = await setup(store)
    await make.postback(store, aff_id, offer.id, statuses=["approved"])
    click = await make.stored_click(store, offer, aff_id)
    created = await store.record_postback(make.command(click, offer, status="pending"))
    results = await asyncio.gather(
        *(store.record_postback(make.command(click, offer, status="approved")) for _ in range(20))
    )
    outcomes = [r.outcome for r in results]
    assert outcomes.count(Outcome.UPDATED) == 1
    assert outcomes.count(Outcome.DUPLICATE) == 19
    history = await store.conversion_history(created.conversion.id)
    assert [(h.from_status, h.to_status) for h in history] == [
        (None, "pending"),
        ("pending", "approved"),
    ]
    assert len(await make.deliveries_for(store, created.conversion.id)) == 1


async def test_log_incoming_batch(store: Store) -> None:
    from postback.store.base import IncomingEntry

    result = make.unique("r")[:30]
    at = datetime(2024, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    entries = [
        IncomingEntry(
            received_at=at,
            method="POST",
            ip="2001:db8::9",
            query=f"click_id=nope{i}",
            body='{"a":1}',
            http_status=401,
            result=result,
            message="token missing or wrong",
            click_id=f"nope{i}",
        )
        for i in range(3)
    ]
    await store.log_incoming(entries)
    await store.log_incoming([])
    page = await store.list_incoming(result=result)
    assert page.next_cursor is None
    assert sorted(r["click_id"] for r in page.items) == ["nope0", "nope1", "nope2"]
    row = page.items[0]
    assert row["method"] == "POST"
    assert row["http_status"] == 401
    assert row["body"] == '{"a":1}'
    assert row["message"] == "token missing or wrong"
    assert row["conversion_id"] is None
    assert row["ip"] == "2001:db8::9"


async def test_unknown_conversion(store: Store) -> None:
    assert await store.get_conversion(987_654_321) is None
    assert await store.conversion_history(987_654_321) == []
    assert await store.get_delivery(987_654_321) is None
    assert await store.list_attempts([987_654_321]) == {987_654_321: []}
    assert await store.list_attempts([]) == {}


async def test_one_failing_write_in_a_batch_leaves_its_neighbours_applied_once(
    store: Store,
) -> None:
    # Concurrent postbacks share one transaction on SQLite; one that fails part-way
    # (here: a NOT NULL column) must cost only itself, and its neighbours must be
    # written once, not twice, when the batch runs again.
    offer, aff_id = await setup(store)
    await make.postback(store, aff_id, offer.id)
    good = [await make.stored_click(store, offer, aff_id) for _ in range(4)]
    no_affiliate = cast(int, None)  # the NULL the type rules out, on purpose
    broken = dataclasses.replace(good[0], click_id="broken-click", affiliate_id=no_affiliate)
    pending = await make.stored_click(store, offer, aff_id)
    await store.record_postback(make.command(pending, offer, status="refunded"))
    commands = [make.command(c, offer, txid=f"T-{n}") for n, c in enumerate(good)]
    commands.insert(2, make.command(broken, offer, txid="T-broken"))
    commands.insert(1, make.command(pending, offer, status="approved"))
    results = await asyncio.gather(
        *(store.record_postback(c) for c in commands), return_exceptions=True
    )
    assert isinstance(results[1], InvalidTransition)
    assert isinstance(results[3], StoreError)
    created = [r for r in results if not isinstance(r, BaseException)]
    assert [r.outcome for r in created] == [Outcome.CREATED] * 4
    for result, click in zip(created, good, strict=True):
        convs = await make.all_pages(store.list_conversions, filters={"click_id": click.click_id})
        assert [c.id for c in convs] == [result.conversion.id]
        assert len(await store.conversion_history(result.conversion.id)) == 1
        assert len(await make.deliveries_for(store, result.conversion.id)) == 1
        assert len(await make.incoming_for(store, click.click_id)) == 1
    assert await make.incoming_for(store, "broken-click") == []


# ---- the attribution window --------------------------------------------------------------


async def conversions_of(store: Store, click_id: str) -> list[Any]:
    return await make.all_pages(store.list_conversions, filters={"click_id": click_id})


async def test_new_conversion_for_an_expired_click_is_refused_and_writes_nothing(
    store: Store,
) -> None:
    offer, aff_id = await setup(store, attribution_days=7)
    assert offer.attribution_days == 7
    await make.postback(store, aff_id, offer.id)
    now = make.now()
    click = await make.stored_click(
        store, offer, aff_id, created_at=now - timedelta(days=7, microseconds=1)
    )
    with pytest.raises(ClickExpired) as info:
        await store.record_postback(make.command(click, offer, received_at=now))
    assert info.value.code == "click_expired"
    assert info.value.details == {"attribution_days": 7}
    assert await conversions_of(store, click.click_id) == []
    # The store writes no log row for a refusal: its caller logs it (edge, tests/e2e).
    assert await make.incoming_for(store, click.click_id) == []


async def test_a_click_exactly_as_old_as_the_window_still_converts(store: Store) -> None:
    offer, aff_id = await setup(store)
    assert offer.attribution_days == 30  # the default
    now = make.now()
    click = await make.stored_click(store, offer, aff_id, created_at=now - timedelta(days=30))
    result = await store.record_postback(make.command(click, offer, received_at=now))
    assert result.outcome is Outcome.CREATED


async def test_an_existing_conversion_changes_at_any_age(store: Store) -> None:
    offer, aff_id = await setup(store, attribution_days=1)
    now = make.now()
    clicked = now - timedelta(days=400)
    click = await make.stored_click(store, offer, aff_id, created_at=clicked)
    other = await make.stored_click(store, offer, aff_id, created_at=clicked)
    within = clicked + timedelta(hours=1)
    first = await store.record_postback(
        make.command(click, offer, status="pending", received_at=within)
    )
    by_txid = await store.record_postback(
        make.command(click, offer, status="pending", txid="T-old", received_at=within)
    )
    assert first.outcome is by_txid.outcome is Outcome.CREATED

    again = await store.record_postback(
        make.command(click, offer, status="pending", received_at=now)
    )
    assert again.outcome is Outcome.DUPLICATE
    approved = await store.record_postback(
        make.command(click, offer, status="approved", received_at=now)
    )
    assert approved.outcome is Outcome.UPDATED
    # A txid names the conversion whatever click the status change arrives on.
    refunded = await store.record_postback(
        make.command(other, offer, status="rejected", txid="T-old", received_at=now)
    )
    assert (refunded.outcome, refunded.conversion.id) == (Outcome.UPDATED, by_txid.conversion.id)
    # Another event on the old click would be a new conversion: refused.
    with pytest.raises(ClickExpired):
        await store.record_postback(make.command(click, offer, event="sale", received_at=now))
    with pytest.raises(InvalidTransition):  # the state machine still decides the rest
        await store.record_postback(make.command(click, offer, status="pending", received_at=now))
    assert [c.id for c in await conversions_of(store, click.click_id)] == [
        by_txid.conversion.id,
        first.conversion.id,
    ]


async def test_batches_refuse_only_their_expired_new_conversions(store: Store) -> None:
    # Concurrent postbacks share a transaction: the window is checked on each path a
    # batch may take (all new at once; a key twice, one by one; again with savepoints).
    offer, aff_id = await setup(store, attribution_days=2)
    await make.postback(store, aff_id, offer.id)
    now = make.now()
    old_at = now - timedelta(days=3)
    fresh = [await make.stored_click(store, offer, aff_id) for _ in range(3)]
    old = [await make.stored_click(store, offer, aff_id, created_at=old_at) for _ in range(3)]
    known = await store.record_postback(
        make.command(old[0], offer, status="pending", received_at=old_at)
    )

    def cmd(click: Any, **fields: Any) -> Any:
        return make.command(click, offer, received_at=now, **fields)

    no_affiliate = cast(int, None)
    broken = dataclasses.replace(fresh[0], click_id="broken-click", affiliate_id=no_affiliate)
    batches = [
        [cmd(fresh[0]), cmd(old[1]), cmd(old[0], status="approved"), cmd(old[2])],
        [cmd(fresh[1]), cmd(old[1]), cmd(old[1]), cmd(old[0], status="rejected")],
        [cmd(fresh[2]), cmd(old[2], txid="T-2"), cmd(broken, txid="T-broken")],
    ]
    expected: list[list[Outcome | type[BaseException]]] = [
        [Outcome.CREATED, ClickExpired, Outcome.UPDATED, ClickExpired],
        [Outcome.CREATED, ClickExpired, ClickExpired, Outcome.UPDATED],
        [Outcome.CREATED, ClickExpired, StoreError],
    ]
    for batch, wanted in zip(batches, expected, strict=True):
        results = await asyncio.gather(
            *(store.record_postback(c) for c in batch), return_exceptions=True
        )
        found = [r if isinstance(r, BaseException) else r.outcome for r in results]
        for got, want in zip(found, wanted, strict=True):
            if isinstance(want, Outcome):
                assert got is want, found
            else:
                assert isinstance(got, want), found
    for click in old[1:]:
        assert await conversions_of(store, click.click_id) == []
    assert [c.id for c in await conversions_of(store, old[0].click_id)] == [known.conversion.id]
    for click in fresh:
        assert len(await conversions_of(store, click.click_id)) == 1
