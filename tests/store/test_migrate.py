"""Migrations: readiness, idempotence, concurrent starts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

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
    from postback.store.base import Store

    assert isinstance(store, Store)
    assert await store.is_ready() is True
    await store.migrate()
    assert await store.is_ready() is True


async def test_migrations_build_exactly_the_declared_schema(store: object) -> None:
    """The tables the code declares and the ones the migrations create do not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from postback.store.schema import metadata
    from postback.store.sql import SqlStore

    assert isinstance(store, SqlStore)

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]

    async with store.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
