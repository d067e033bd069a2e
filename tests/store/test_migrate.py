"""Migrations: readiness, idempotence, concurrent starts."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import text

from postback.settings import Settings
from postback.store.factory import open_store

pytestmark = pytest.mark.timeout(60)


async def test_migrate_from_empty_is_idempotent(database_url: str) -> None:
    """One test on purpose: it needs the module's database still empty."""
    first = open_store(Settings(database_url=database_url))
    second = open_store(Settings(database_url=database_url))
    try:
        assert await first.is_ready() is False

        # Two processes starting at once both migrate; neither fails.
        await asyncio.gather(first.migrate(), second.migrate())
        assert await first.is_ready() is True
        assert await second.is_ready() is True

        await first.migrate()
        await first.migrate()
        assert await first.is_ready() is True

        # The schema works after repeated migrations, and data survives another one.
        assert await first.put_meta_once("k", "v") == "v"
        await second.migrate()
        assert await second.get_meta("k") == "v"
    finally:
        await first.close()
        await second.close()


async def test_fixture_store_is_ready(store: object) -> None:
    from postback.store.sql import Store

    assert isinstance(store, Store)
    assert await store.is_ready() is True
    await store.migrate()
    assert await store.is_ready() is True


async def test_migrations_build_exactly_the_declared_schema(store: object) -> None:
    """The tables the code declares and the ones the migrations create do not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from postback.store.schema import metadata
    from postback.store.sql import Store

    assert isinstance(store, Store)

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return [
            d
            for d in compare_metadata(context, metadata)
            if d[0] != "remove_table" and not is_partition(d)
        ]

    async with store.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def is_partition(difference: tuple[Any, ...]) -> bool:
    """A time or default partition's own index (PostgreSQL, store/partitions.py): the
    partitioned table's index, as declared, stands for it."""
    table = getattr(difference[1], "table", None)
    return table is not None and re.search(r"_(p\d{8}|default)$", table.name) is not None


ROLLUPS = ("rollup_base", "rollup_events", "rollup_subs", "rollup_all")


async def _rollup_layout(store: object) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """Per rollup table on PostgreSQL: its key columns, included columns, storage options."""
    from postback.store.sql import Store

    assert isinstance(store, Store)
    layout = {}
    async with store.engine.connect() as conn:
        for table in ROLLUPS:
            found = await conn.exec_driver_sql(
                "SELECT a.attname, k.position <= i.indnkeyatts, c.reloptions"
                " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
                " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)"
                " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
                " WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.position",
                (table,),
            )
            # (column, whether it is a key column, the table's storage options)
            rows: list[tuple[str, bool, list[str] | None]] = [tuple(row) for row in found]
            keys = [name for name, is_key, _ in rows if is_key]
            included = [name for name, is_key, _ in rows if not is_key]
            layout[table] = (keys, included, sorted(rows[0][2] or []))
    return layout


async def test_rollup_keys_hold_the_counters(store: object) -> None:
    """A report's range read needs nothing but the rollup's primary key."""
    from postback.domain.report import COUNTERS
    from postback.store.schema import ROLLUP_STORAGE
    from postback.store.sql import Store

    assert isinstance(store, Store)
    if store.engine.dialect.name == "sqlite":
        # The key is the table: clustered (WITHOUT ROWID), so there is nothing to add.
        async with store.engine.connect() as conn:
            for table in ROLLUPS:
                sql = await conn.scalar(
                    text("SELECT sql FROM sqlite_master WHERE name = :name"), {"name": table}
                )
                assert "WITHOUT ROWID" in str(sql)
        return
    storage = sorted(f"{name}={value}" for name, value in ROLLUP_STORAGE.items())
    for table, (keys, included, options) in (await _rollup_layout(store)).items():
        assert keys[:3] in (["grain", "bucket_at", "offer_id"], ["slot", "grain", "bucket_at"])
        assert included == list(COUNTERS), table
        assert options == storage, table


async def test_covering_rollup_keys_downgrade_and_upgrade_again(store: object) -> None:
    """0006 on PostgreSQL: down to plain keys and default settings, up to covering ones."""
    from alembic import command

    from postback.store.migrate import alembic_config
    from postback.store.sql import Store

    assert isinstance(store, Store)
    if store.engine.dialect.name == "sqlite":
        pytest.skip("0006 changes nothing on SQLite")
    async with store.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0005"))
    plain = await _rollup_layout(store)
    assert all(included == [] and options == [] for _, included, options in plain.values())
    await store.migrate()
    assert await store.is_ready()
    covering = await _rollup_layout(store)
    assert all(included and options for _, included, options in covering.values())
    assert {table: keys for table, (keys, _, _) in covering.items()} == {
        table: keys for table, (keys, _, _) in plain.items()
    }


async def test_rollup_sum_adds_bigints_exactly_and_refuses_to_overflow(store: object) -> None:
    from sqlalchemy.exc import DBAPIError

    from postback.store.sql import Store

    assert isinstance(store, Store)
    if store.engine.dialect.name == "sqlite":
        pytest.skip("SQLite sums integers as integers already")
    large = 2**62
    async with store.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT rollup_sum(x) FROM (VALUES (CAST(:a AS bigint)), (:b), (-1)) AS v(x)"),
            {"a": large, "b": large - 1},
        )
        assert found == 2**63 - 2
        with pytest.raises(DBAPIError, match="out of range"):
            await conn.scalar(
                text("SELECT rollup_sum(x) FROM (VALUES (CAST(:a AS bigint)), (:a)) AS v(x)"),
                {"a": large},
            )


async def test_attribution_window_migration_gives_existing_offers_thirty_days(
    store: object,
) -> None:
    """0013: offers made before it get the default window, 30 days."""
    from alembic import command

    from postback.store.migrate import alembic_config
    from postback.store.sql import Store
    from tests.store import factories as make

    assert isinstance(store, Store)
    advertiser = await make.advertiser(store)
    async with store.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0012"))
        offer_id = await conn.scalar(
            text(
                "INSERT INTO offers (advertiser_id, name, destination_url, revenue, payout,"
                " currency, status, created_at, updated_at)"
                " VALUES (:adv, 'Before', 'https://s.example/', 1, 1, 'USD', 'active', 0, 0)"
                " RETURNING id"
            ),
            {"adv": advertiser.id},
        )
    await store.migrate()
    assert await store.is_ready()
    offer = await store.get_offer(int(offer_id))
    assert offer is not None
    assert (offer.name, offer.attribution_days) == ("Before", 30)
