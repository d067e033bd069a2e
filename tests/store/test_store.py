"""Records through the Store interface: advertisers, offers, affiliates, configs, clicks."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from postback.domain.ids import hash_key, new_api_key, new_click_id
from postback.errors import DuplicateKey, StoreError
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(60)


# ---- meta ------------------------------------------------------------------------------


async def test_meta_is_written_once(store: Store) -> None:
    key = make.unique("k")
    assert await store.get_meta(key) is None
    assert await store.put_meta_once(key, "first") == "first"
    assert await store.put_meta_once(key, "second") == "first"
    assert await store.get_meta(key) == "first"


# ---- advertisers -----------------------------------------------------------------------


async def test_advertiser_round_trip(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    created = await make.advertiser(
        store,
        name="Acme \u00e9",
        postback_token="tok-123",
        require_token=False,
        allowed_ips=["203.0.113.0/24", "2001:db8::/32"],
        status_map={"1": "approved", "declined": "rejected"},
    )
    assert created.id > 0
    assert created.name == "Acme \u00e9"
    assert created.postback_token == "tok-123"
    assert created.require_token is False
    assert created.allowed_ips == ("203.0.113.0/24", "2001:db8::/32")
    assert created.status_map == {"1": "approved", "declined": "rejected"}
    assert before <= created.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert created.created_at.tzinfo is not None
    assert created.updated_at == created.created_at
    assert await store.get_advertiser(created.id) == created
    assert created in (await store.list_advertisers()).items


async def test_advertiser_update(store: Store) -> None:
    created = await make.advertiser(store)
    updated = await store.update_advertiser(
        created.id, {"status_map": {"sale": "approved"}, "require_token": False}
    )
    assert updated is not None
    assert updated.status_map == {"sale": "approved"}
    assert updated.require_token is False
    assert updated.name == created.name
    assert updated.postback_token == created.postback_token
    assert updated.updated_at >= created.updated_at
    assert await store.get_advertiser(created.id) == updated


async def test_missing_advertiser(store: Store) -> None:
    assert await store.get_advertiser(987_654_321) is None
    assert await store.update_advertiser(987_654_321, {"name": "x"}) is None


async def test_lists_are_newest_first_in_pages(store: Store) -> None:
    made = [(await make.advertiser(store)).id for _ in range(5)]
    ids = [a.id for a in (await store.list_advertisers()).items]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == len(set(ids))

    seen: list[int] = []
    cursor = None
    while True:
        page = await store.list_advertisers(limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen += [a.id for a in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids
    assert set(made) <= set(seen)


# ---- offers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revenue", "payout"),
    [
        (Decimal("0.0001"), Decimal("999999.9999")),
        (Decimal("999999.9999"), Decimal("0.0001")),
        (Decimal("0"), Decimal("0")),
        (Decimal("1000000000000"), Decimal("123456789.1234")),
    ],
)
async def test_offer_money_is_exact(store: Store, revenue: Decimal, payout: Decimal) -> None:
    created = await make.offer(store, revenue=revenue, payout=payout)
    assert created.revenue == revenue
    assert created.payout == payout
    fetched = await store.get_offer(created.id)
    assert fetched is not None
    assert fetched.revenue == revenue and isinstance(fetched.revenue, Decimal)
    assert fetched.payout == payout and isinstance(fetched.payout, Decimal)
    assert str(fetched.revenue) == str(revenue.quantize(Decimal("0.0001")))


async def test_offer_round_trip(store: Store) -> None:
    adv = await make.advertiser(store)
    created = await make.offer(
        store,
        adv.id,
        name="Offer \u65e5\u672c",
        destination_url="https://adv.example/?c={click_id}&s={sub1}",
        fallback_url="https://adv.example/fallback",
        currency="EUR",
        status="paused",
    )
    assert created.advertiser_id == adv.id
    assert created.fallback_url == "https://adv.example/fallback"
    assert created.currency == "EUR"
    assert created.status == "paused"
    assert not created.active
    assert await store.get_offer(created.id) == created
    assert created in (await store.list_offers()).items


async def test_offer_update(store: Store) -> None:
    created = await make.offer(store)
    updated = await store.update_offer(
        created.id, {"payout": Decimal("0.0001"), "status": "paused", "fallback_url": None}
    )
    assert updated is not None
    assert updated.payout == Decimal("0.0001")
    assert updated.revenue == created.revenue
    assert updated.status == "paused"
    assert await store.get_offer(created.id) == updated
    assert await store.update_offer(987_654_321, {"status": "paused"}) is None
    assert await store.get_offer(987_654_321) is None


async def test_offer_needs_an_advertiser(store: Store) -> None:
    with pytest.raises(StoreError):
        await make.offer(store, 987_654_321)


# ---- affiliates ------------------------------------------------------------------------


async def test_affiliate_round_trip(store: Store) -> None:
    key_hash = hash_key(new_api_key("aff"))
    created = await store.create_affiliate("Traffic \u00e9", key_hash)
    assert created.name == "Traffic \u00e9"
    assert created.status == "active"
    assert created.active
    assert await store.get_affiliate(created.id) == created
    assert await store.find_affiliate_by_key_hash(key_hash) == created
    assert await store.find_affiliate_by_key_hash(hash_key("nope")) is None
    assert created in (await store.list_affiliates()).items


async def test_affiliate_update(store: Store) -> None:
    created = await make.affiliate(store)
    paused = await store.update_affiliate(created.id, {"status": "paused"})
    assert paused is not None
    assert paused.status == "paused"
    assert not paused.active
    assert await store.get_affiliate(created.id) == paused
    assert await store.update_affiliate(987_654_321, {"status": "paused"}) is None
    assert await store.get_affiliate(987_654_321) is None


async def test_affiliate_key_hash_is_unique(store: Store) -> None:
    key_hash = hash_key(new_api_key("aff"))
    await store.create_affiliate("one", key_hash)
    with pytest.raises(DuplicateKey):
        await store.create_affiliate("two", key_hash)


# ---- postback configs ------------------------------------------------------------------


async def test_postback_round_trip(store: Store) -> None:
    aff = await make.affiliate(store)
    offer = await make.offer(store)
    created = await make.postback(
        store,
        aff.id,
        offer.id,
        url="https://aff.example/pb",
        method="POST",
        body='{"c":"{click_id}","n":{payout}}',
        content_type="application/json",
        events=["sale", "lead"],
        statuses=["approved", "rejected"],
        secret="whsec_c2VjcmV0",
    )
    assert created.affiliate_id == aff.id
    assert created.offer_id == offer.id
    assert created.method == "POST"
    assert created.body == '{"c":"{click_id}","n":{payout}}'
    assert created.events == ("sale", "lead")
    assert created.statuses == ("approved", "rejected")
    assert created.active is True
    assert created.secret == "whsec_c2VjcmV0"
    assert not created.network_level
    assert await store.get_postback(created.id) == created


async def test_network_level_postback(store: Store) -> None:
    created = await make.postback(store, None, None, events=["never_fires"])
    assert created.network_level
    assert created.affiliate_id is None and created.offer_id is None
    assert await store.get_postback(created.id) == created
    assert created in (await store.list_postbacks()).items
    await store.delete_postback(created.id)


async def test_list_postbacks_by_affiliate(store: Store) -> None:
    aff, other = await make.affiliate(store), await make.affiliate(store)
    mine = [await make.postback(store, aff.id, None) for _ in range(3)]
    theirs = await make.postback(store, other.id, None)
    listed = (await store.list_postbacks(aff.id)).items
    assert listed == mine[::-1]
    assert theirs not in listed
    everything = (await store.list_postbacks()).items
    assert set(c.id for c in mine) | {theirs.id} <= {c.id for c in everything}


async def test_postback_update(store: Store) -> None:
    aff = await make.affiliate(store)
    created = await make.postback(store, aff.id, None)
    updated = await store.update_postback(
        created.id, {"events": ["*"], "statuses": ["*"], "active": False, "url": "https://x/"}
    )
    assert updated is not None
    assert updated.events == ("*",)
    assert updated.statuses == ("*",)
    assert updated.active is False
    assert updated.url == "https://x/"
    assert updated.secret == created.secret
    assert await store.get_postback(created.id) == updated
    assert await store.update_postback(987_654_321, {"active": True}) is None


async def test_postback_soft_delete(store: Store) -> None:
    aff = await make.affiliate(store)
    kept = await make.postback(store, aff.id, None)
    gone = await make.postback(store, aff.id, None)
    assert await store.delete_postback(gone.id) is True
    assert await store.get_postback(gone.id) is None
    assert [c.id for c in (await store.list_postbacks(aff.id)).items] == [kept.id]
    assert gone.id not in {c.id for c in (await store.list_postbacks()).items}
    # Deleting again, or changing a deleted config, finds nothing.
    assert await store.delete_postback(gone.id) is False
    assert await store.update_postback(gone.id, {"active": True}) is None
    assert await store.get_postback(gone.id) is None
    assert await store.delete_postback(987_654_321) is False
    assert await store.get_postback(kept.id) == kept


# ---- clicks ----------------------------------------------------------------------------


async def test_insert_clicks_batch_and_get(store: Store) -> None:
    offer = await make.offer(store)
    aff = await make.affiliate(store)
    base = datetime.now(UTC)
    batch = [
        replace(
            make.click(offer, aff.id, created_at=base + timedelta(microseconds=i * 7919)),
            subs=(f"a{i}", None if i % 2 else "b", "caf\u00e9 & =", None, "x" * 255),
        )
        for i in range(200)
    ]
    await store.insert_clicks(batch)
    for made in batch:
        assert await store.get_click(made.click_id) == made


async def test_click_fields_survive(store: Store) -> None:
    offer = await make.offer(store)
    aff = await make.affiliate(store)
    made = make.click(
        offer,
        aff.id,
        created_at=datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        subs=("\u65e5\u672c", "'\"", "{click_id}", "a\tb", None),
    )
    made = replace(made, ip="2001:db8::1", user_agent="UA " * 100, referrer=None, country=None)
    await store.insert_clicks([made])
    got = await store.get_click(made.click_id)
    assert got == made
    assert got is not None and got.created_at.microsecond == 999_999


async def test_insert_no_clicks(store: Store) -> None:
    await store.insert_clicks([])


async def test_unknown_click(store: Store) -> None:
    assert await store.get_click(new_click_id(make.now())) is None


async def test_click_batch_is_one_transaction(store: Store) -> None:
    offer = await make.offer(store)
    aff = await make.affiliate(store)
    first = await make.stored_click(store, offer, aff.id)
    fresh = make.click(offer, aff.id)
    with pytest.raises(DuplicateKey):
        await store.insert_clicks([fresh, first])
    # Nothing of the failed batch is stored.
    assert await store.get_click(fresh.click_id) is None
    assert await store.get_click(first.click_id) == first


async def test_click_ids_are_exact(store: Store) -> None:
    offer = await make.offer(store)
    aff = await make.affiliate(store)
    base = "Ab" + secrets.token_hex(4)
    upper = replace(make.click(offer, aff.id), click_id=base.upper())
    lower = replace(make.click(offer, aff.id), click_id=base.lower())
    await store.insert_clicks([upper, lower])
    assert await store.get_click(base.upper()) == upper
    assert await store.get_click(base.lower()) == lower
    longest = replace(make.click(offer, aff.id), click_id="z" * 64)
    await store.insert_clicks([longest])
    assert await store.get_click("z" * 64) == longest
