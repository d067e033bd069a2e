"""Export reads on both backends: every row of a range exactly once, in (time, key)
order, across page boundaries that fall among rows of the same time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from postback.domain.retention import Retention
from postback.store.sql import Store
from postback.store.sql_exports import EXPORT_KINDS, export_kind
from tests.store import factories as make
from tests.store.test_attempts import claimed
from tests.store.test_delivery_health import result

pytestmark = pytest.mark.timeout(60)


async def exported(
    store: Store, kind: str, start: datetime | None, end: datetime, page_size: int
) -> tuple[list[tuple[Any, ...]], list[int]]:
    """Every row the export reads, and the size of each page."""
    found: list[tuple[Any, ...]] = []
    sizes: list[int] = []
    async for page in store.export_pages(kind, start, end, page_size=page_size):
        found.extend(page)
        sizes.append(len(page))
    return found, sizes


def column(kind: str, name: str) -> int:
    return export_kind(kind).names.index(name)


async def test_clicks_of_one_moment_are_paged_by_their_id_each_once(store: Store) -> None:
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    moment = datetime(2021, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    same = [make.click(offer, affiliate.id, moment) for _ in range(11)]
    before = make.click(offer, affiliate.id, moment - timedelta(microseconds=1))
    after = make.click(offer, affiliate.id, moment + timedelta(microseconds=1))
    outside = [
        make.click(offer, affiliate.id, moment - timedelta(hours=1)),
        make.click(offer, affiliate.id, moment + timedelta(hours=1)),  # the end: excluded
    ]
    await store.insert_clicks([*same, after, *outside, before])
    start, end = moment - timedelta(hours=1), moment + timedelta(hours=1)

    found, sizes = await exported(store, "clicks", start, end, page_size=4)

    ids = [row[column("clicks", "click_id")] for row in found]
    expected = [
        outside[0].click_id,
        before.click_id,
        *sorted(click.click_id for click in same),
        after.click_id,
    ]
    assert sorted(ids) == sorted(expected)  # each once
    times = [row[column("clicks", "created_at")] for row in found]
    assert times == sorted(times)
    ties = ids[2:13]
    assert sorted(ties) == sorted(click.click_id for click in same)
    assert sizes == [4, 4, 4, 2]
    assert await store.count_export("clicks", start, end) == len(expected)


async def test_clicks_kept_by_conversions_come_with_the_raw_ones(store: Store) -> None:
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    moment = datetime(2021, 6, 1, 12, tzinfo=UTC)
    first = [make.click(offer, affiliate.id, moment) for _ in range(6)]
    await store.insert_clicks(first)
    for click in first[:3]:
        received = moment + timedelta(hours=1)
        await store.record_postback(make.command(click, offer, received_at=received))
    # Three go to kept_clicks with their conversions, three go altogether.
    done = await store.purge(Retention(clicks_days=90), moment + timedelta(days=400))
    assert done is not None and done.purged.kept_clicks == 3
    raw = [make.click(offer, affiliate.id, moment) for _ in range(5)]
    edges = [
        make.click(offer, affiliate.id, moment + n * timedelta(microseconds=1)) for n in (-1, 1)
    ]
    await store.insert_clicks([*raw, *edges])
    start, end = moment - timedelta(hours=1), moment + timedelta(hours=1)

    found, sizes = await exported(store, "clicks", start, end, page_size=3)

    ids = [row[column("clicks", "click_id")] for row in found]
    assert sorted(ids) == sorted(c.click_id for c in (*first[:3], *raw, *edges))  # each once
    assert ids[0] == edges[0].click_id and ids[-1] == edges[1].click_id
    assert sorted(ids[1:-1]) == ids[1:-1]  # the ties by id, across both tables
    ips = {row[column("clicks", "click_id")]: row[column("clicks", "ip")] for row in found}
    assert {ips[c.click_id] for c in first[:3]} == {None}  # what a kept click drops
    assert all(ips[c.click_id] is not None for c in raw)
    assert sizes == [3, 3, 3, 1]
    assert await store.count_export("clicks", start, end) == 10


async def test_a_range_is_from_inclusive_to_exclusive(store: Store) -> None:
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    start = datetime(2021, 4, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    at_start = make.click(offer, affiliate.id, start)
    at_end = make.click(offer, affiliate.id, end)
    last = make.click(offer, affiliate.id, end - timedelta(microseconds=1))
    await store.insert_clicks([at_start, at_end, last])

    found, _ = await exported(store, "clicks", start, end, page_size=2)

    ids = {row[column("clicks", "click_id")] for row in found}
    assert ids == {at_start.click_id, last.click_id}
    assert await store.count_export("clicks", start, end) == 2


async def test_a_page_exactly_full_ends_with_an_empty_read(store: Store) -> None:
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    start = datetime(2021, 5, 1, tzinfo=UTC)
    await store.insert_clicks([make.click(offer, affiliate.id, start) for _ in range(6)])

    found, sizes = await exported(store, "clicks", start, start + timedelta(seconds=1), 3)

    assert len(found) == 6 and sizes == [3, 3]


@pytest.mark.parametrize("kind", EXPORT_KINDS)
async def test_an_empty_range_reads_nothing(store: Store, kind: str) -> None:
    start = datetime(1999, 1, 1, tzinfo=UTC)
    found, sizes = await exported(store, kind, start, start + timedelta(days=1), 10)
    assert found == [] and sizes == []
    assert await store.count_export(kind, start, start + timedelta(days=1)) == 0


async def test_conversions_come_with_typed_values_under_the_import_names(store: Store) -> None:
    offer = await make.offer(store, payout=Decimal("2.5"))
    affiliate = await make.affiliate(store)
    moment = datetime(2021, 6, 1, 8, 30, tzinfo=UTC)
    click = await make.stored_click(store, offer, affiliate.id, moment)
    command = make.command(
        click, offer, txid="T-1", revenue=Decimal("12.3456"), currency="EUR", received_at=moment
    )
    await store.record_postback(replace(command, attributes={"email": "a@example.com"}))
    later = make.command(click, offer, txid="T-1", status="rejected", received_at=moment)
    await store.record_postback(replace(later, received_at=moment + timedelta(hours=2)))

    found, _ = await exported(store, "conversions", moment, moment + timedelta(seconds=1), 10)

    (row,) = found
    values = dict(zip(export_kind("conversions").names, row, strict=True))
    assert values["click_id"] == click.click_id
    assert values["txid"] == "T-1"
    assert values["status"] == "rejected"
    assert values["revenue"] == Decimal("12.3456")
    assert values["currency"] == "EUR"
    assert values["affiliate_payout"] == Decimal("2.5")
    assert values["time"] == moment
    assert values["updated_at"] == moment + timedelta(hours=2)
    assert values["attributes"] == {"email": "a@example.com"}
    assert values["offer_id"] == offer.id and values["affiliate_id"] == affiliate.id


async def test_the_incoming_log_and_attempts_by_their_own_times(store: Store) -> None:
    started = datetime.now(UTC) - timedelta(minutes=5)
    claims = await claimed(store, 3)
    for n, claim in enumerate(claims):
        at = started + timedelta(seconds=n)
        assert await store.finish_attempt(claim, result(claim, at, success=n != 1))

    attempts, _ = await exported(store, "attempts", started, started + timedelta(minutes=1), 2)
    incoming, _ = await exported(store, "incoming", started, datetime.now(UTC), 2)

    assert [row[column("attempts", "success")] for row in attempts] == [True, False, True]
    assert [row[column("attempts", "started_at")] for row in attempts] == [
        started + timedelta(seconds=n) for n in range(3)
    ]
    assert {row[column("attempts", "delivery_id")] for row in attempts} == {
        claim.delivery.id for claim in claims
    }
    assert len(incoming) == 3  # one postback per claimed delivery, just now
    assert {row[column("incoming", "result")] for row in incoming} == {"created"}


async def test_without_a_start_the_export_begins_at_the_first_row(store: Store) -> None:
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    oldest = make.click(offer, affiliate.id, datetime(1990, 1, 1, tzinfo=UTC))
    await store.insert_clicks([oldest])
    end = datetime(1990, 1, 2, tzinfo=UTC)

    found, _ = await exported(store, "clicks", None, end, 10)

    assert [row[column("clicks", "click_id")] for row in found] == [oldest.click_id]
    assert await store.count_export("clicks", None, end) == 1


async def test_an_unknown_kind_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown export"):
        await store.count_export("visitors", None, datetime.now(UTC))
