"""The PostgreSQL store's own connection settings."""

from __future__ import annotations

import pytest

from postback.store.postgres import SESSION_SETTINGS, PostgresStore

pytestmark = pytest.mark.postgres


async def test_every_connection_runs_with_the_session_settings(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        async with store.engine.connect() as conn:
            jit = await conn.exec_driver_sql("SHOW jit")
            work_mem = await conn.exec_driver_sql("SHOW work_mem")
            found = {"jit": jit.scalar_one(), "work_mem": work_mem.scalar_one()}
    finally:
        await store.close()
    assert found == SESSION_SETTINGS
    assert found["jit"] == "off"
