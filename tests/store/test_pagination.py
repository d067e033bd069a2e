"""Cursor pagination of conversions, deliveries and the incoming log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postback.domain.records import Conversion
from postback.store.base import IncomingEntry
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(60)


async def walk(list_page: Any, limit: int, **kwargs: Any) -> tuple[list[int], int]:
    """The ids over every page, and the number of pages."""
    ids: list[int] = []
    pages = 0
    cursor = None
    while True:
        page = await list_page(limit=limit, cursor=cursor, **kwargs)
        pages += 1
        assert pages <= 1000, "the cursor does not advance"
        assert len(page.items) <= limit
        ids.extend(item["id"] if isinstance(item, dict) else item.id for item in page.items)
        if page.next_cursor is None:
            return ids, pages
        assert page.items, "a cursor after an empty page"
        cursor = page.next_cursor


async def conversions_on_one_offer(
    store: Store, count: int, start: datetime
) -> tuple[int, list[Conversion]]:
    offer = await make.offer(store)
    aff = await make.affiliate(store)
    await make.postback(store, aff.id, offer.id)
    click = await make.stored_click(store, offer, aff.id)
    made: list[Conversion] = []
    for i in range(count):
        cmd = make.command(click, offer, txid=f"T{i}", received_at=start + timedelta(minutes=i))
        made.append((await store.record_postback(cmd)).conversion)
    return offer.id, made


@pytest.mark.parametrize("limit", [1, 4, 5, 23, 24, 1000])
async def test_conversion_pages_miss_and_repeat_nothing(store: Store, limit: int) -> None:
    offer_id, made = await conversions_on_one_offer(store, 23, datetime.now(UTC))
    ids, pages = await walk(store.list_conversions, limit, filters={"offer_id": offer_id})
    assert ids == sorted((c.id for c in made), reverse=True)  # newest first
    assert pages == max(1, -(-23 // limit))


async def test_rows_added_between_pages_do_not_disturb_the_walk(store: Store) -> None:
    offer_id, made = await conversions_on_one_offer(store, 9, datetime.now(UTC))
    first = await store.list_conversions(filters={"offer_id": offer_id}, limit=4)
    assert first.next_cursor is not None
    offer = await store.get_offer(offer_id)
    assert offer is not None
    aff_id = made[0].affiliate_id
    click = await make.stored_click(store, offer, aff_id)
    await store.record_postback(make.command(click, offer, txid="late"))
    seen = [c.id for c in first.items]
    cursor: str | None = first.next_cursor
    while cursor is not None:
        page = await store.list_conversions(filters={"offer_id": offer_id}, limit=4, cursor=cursor)
        seen.extend(c.id for c in page.items)
        cursor = page.next_cursor
    assert seen == sorted((c.id for c in made), reverse=True)


async def test_conversion_filters(store: Store) -> None:
    start = datetime(2023, 6, 1, tzinfo=UTC)
    offer_id, made = await conversions_on_one_offer(store, 6, start)
    window = {
        "offer_id": offer_id,
        "from": start + timedelta(minutes=2),
        "to": start + timedelta(minutes=4),
    }
    ids, _ = await walk(store.list_conversions, 100, filters=window)
    assert ids == [made[3].id, made[2].id]  # from inclusive, to exclusive

    changed = make.command(
        await store.get_click(made[0].click_id),  # type: ignore[arg-type]
        await store.get_offer(offer_id),  # type: ignore[arg-type]
        txid="T1",
        status="rejected",
    )
    await store.record_postback(changed)
    ids, _ = await walk(
        store.list_conversions, 100, filters={"offer_id": offer_id, "status": "rejected"}
    )
    assert ids == [made[1].id]
    ids, _ = await walk(
        store.list_conversions, 100, filters={"offer_id": offer_id, "affiliate_id": None}
    )
    assert len(ids) == 6  # a None filter is no filter
    ids, _ = await walk(
        store.list_conversions, 100, filters={"offer_id": offer_id, "event": "nope"}
    )
    assert ids == []


async def test_delivery_pages(store: Store) -> None:
    offer = await make.offer(store)
    aff = await make.affiliate(store)
    config = await make.postback(store, aff.id, offer.id)
    click = await make.stored_click(store, offer, aff.id)
    for i in range(11):
        await store.record_postback(make.command(click, offer, txid=f"D{i}"))
    every, _ = await walk(store.list_deliveries, 1000, filters={"postback_id": config.id})
    assert len(every) == 11
    ids, pages = await walk(store.list_deliveries, 3, filters={"postback_id": config.id})
    assert ids == every == sorted(every, reverse=True)
    assert pages == 4
    pending, _ = await walk(
        store.list_deliveries, 5, filters={"postback_id": config.id, "state": "pending"}
    )
    assert pending == every
    failed, _ = await walk(
        store.list_deliveries, 5, filters={"postback_id": config.id, "state": "failed"}
    )
    assert failed == []


async def test_incoming_pages(store: Store) -> None:
    result = make.unique("res")
    at = datetime.now(UTC)
    entries = [
        IncomingEntry(
            received_at=at,
            method="GET",
            ip=None,
            query=f"n={i}",
            body=None,
            http_status=400,
            result=result,
            message="bad",
        )
        for i in range(17)
    ]
    await store.log_incoming(entries)
    ids, pages = await walk(store.list_incoming, 5, result=result)
    assert len(ids) == len(set(ids)) == 17
    assert ids == sorted(ids, reverse=True)
    assert pages == 4
    page = await store.list_incoming(result=result, limit=17)
    assert page.next_cursor is None
    assert sorted(item["query"] for item in page.items) == sorted(f"n={i}" for i in range(17))


async def test_limits_are_clamped(store: Store) -> None:
    offer_id, _ = await conversions_on_one_offer(store, 3, datetime.now(UTC))
    page = await store.list_conversions(filters={"offer_id": offer_id}, limit=0)
    assert len(page.items) == 1
    assert page.next_cursor is not None
    page = await store.list_conversions(filters={"offer_id": offer_id}, limit=10**9)
    assert len(page.items) == 3
    assert page.next_cursor is None


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "9" * 40, ""])
async def test_malformed_cursor_is_refused(store: Store, cursor: str) -> None:
    with pytest.raises(ValueError):
        await store.list_conversions(limit=10, cursor=cursor)
