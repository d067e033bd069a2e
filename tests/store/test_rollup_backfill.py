"""Migration 0012 counts the clicks and conversions already stored into the rollups, and
store/recount.py counts them again to the same figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, delete, insert, select, update

from postback.domain.ids import new_click_id
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.migrate import alembic_config
from postback.store.recount import count_all
from postback.store.schema import clicks, conversion_history, conversions
from postback.store.sql import Store
from tests.store.test_reports import check

pytestmark = pytest.mark.timeout(60)

START = datetime(2023, 10, 28, 20, tzinfo=UTC)
US = 1_000_000


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * US


def raw_rows(conn: Connection, count: int) -> None:
    """Clicks and conversions with status histories, written as rows, as 0002 kept them."""
    click_rows: list[dict[str, Any]] = []
    for index in range(count):
        subs = [f"s{index % 3}", None if index % 2 else "", None, None, f"e{index % 5}"]
        click_rows.append(
            {
                "click_id": new_click_id(datetime.now(UTC)),
                "offer_id": 1 + index % 2,
                "affiliate_id": 1 + index % 3,
                **{f"sub{n}": subs[n - 1] for n in range(1, 6)},
                "created_at": _us(START + timedelta(minutes=41 * index)),
            }
        )
    conn.execute(insert(clicks), click_rows)
    statuses = [["approved"], ["pending", "rejected"], ["approved", "refunded"], ["pending"]]
    for index, click in enumerate(click_rows[::3]):
        history = statuses[index % len(statuses)]
        created = click["created_at"] + 600 * US
        conversion_id = conn.execute(
            insert(conversions)
            .values(
                identity_key=f"c|{click['click_id']}|sale",
                click_id=click["click_id"],
                offer_id=click["offer_id"],
                affiliate_id=click["affiliate_id"],
                advertiser_id=1,
                event="sale" if index % 2 else "lead",
                status=history[-1],
                revenue=123_456,
                payout=70_001,
                currency="USD",
                created_at=created,
                updated_at=created,
            )
            .returning(conversions.c.id)
        ).scalar_one()
        previous = None
        for step, status in enumerate(history):
            conn.execute(
                insert(conversion_history).values(
                    conversion_id=conversion_id,
                    from_status=previous,
                    to_status=status,
                    revenue=123_456,
                    created_at=created + step * 3600 * US,
                )
            )
            previous = status


def visitors(conn: Connection) -> None:
    """Give the clicks what click intelligence stores: geo, device, flags and cost."""
    found = conn.execute(select(clicks.c.click_id).order_by(clicks.c.click_id)).scalars()
    for index, click_id in enumerate(found):
        conn.execute(
            update(clicks)
            .where(clicks.c.click_id == click_id)
            .values(
                country=("US", "BR", None)[index % 3],
                device=("desktop", "mobile", "bot", None)[index % 4],
                os="Android" if index % 2 else None,
                browser="Chrome" if index % 5 else "Safari",
                is_bot=index % 4 == 2,
                is_unique=index % 3 != 0,
                cost=None if index % 7 == 0 else index * 13,
            )
        )


async def compare(store: Any) -> None:
    span = {"first": "2023-10-28", "last": "2023-11-02"}
    for tz in ["UTC", "Europe/London", "Asia/Kathmandu"]:
        for group_by in [
            ["day"],
            ["day", "offer_id", "affiliate_id"],
            ["sub1"],
            ["event", "sub2"],
            ["day", "device"],
            ["event", "country", "browser"],
        ]:
            await check(store, tz=tz, group_by=group_by, **span)


async def test_upgrading_from_0002_counts_existing_rows(database_url: str) -> None:
    """One test on purpose: it needs the module's database still empty."""
    store = open_store(Settings(database_url=database_url))
    assert isinstance(store, Store)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0002"))
            await conn.run_sync(raw_rows, 120)
        await store.migrate()
        assert await store.is_ready()
        await compare(store)

        # Counting again in small pages, with the visitors' texts, flags and costs.
        def recount(conn: Connection) -> None:
            visitors(conn)
            for table in ("rollup_base", "rollup_events", "rollup_subs", "rollup_all"):
                conn.execute(delete(store_table(table)))
            count_all(conn, page=7)

        async with store.engine.begin() as conn:
            await conn.run_sync(recount)
        await compare(store)
        report = await check(store, first="2023-10-28", last="2023-11-02", group_by=["country"])
        assert {group.keys for group in report.rows} == {("BR",), ("US",), (None,)}
        assert report.totals.bot_clicks and report.totals.cost and report.totals.unique_clicks
    finally:
        await store.close()


def store_table(name: str) -> Any:
    from postback.store import schema

    return getattr(schema, name)
