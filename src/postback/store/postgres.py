"""The production backend: PostgreSQL through asyncpg, row locks for concurrent workers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from postback.store.migrate import upgrade
from postback.store.sql import SqlStore

# Any constant shared by every process: concurrent starts migrate one at a time.
MIGRATION_LOCK = 0x706F73746261636B


def asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("not a PostgreSQL URL")


class PostgresStore(SqlStore):
    row_locks = True

    def __init__(self, url: str, pool_size: int = 10) -> None:
        engine = create_async_engine(
            asyncpg_url(url), pool_size=pool_size, max_overflow=10, pool_pre_ping=True
        )
        super().__init__(engine)

    async def migrate(self) -> None:
        async with self._write() as conn:
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            await conn.run_sync(upgrade)

    async def _before_report(self, conn: AsyncConnection) -> None:
        # A report reads a few thousand index ranges and groups them in tens of
        # milliseconds: compiling it (JIT) costs more than it saves, and the grouping
        # should stay in memory rather than sort through temporary files.
        await conn.exec_driver_sql("SET LOCAL jit = off")
        await conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
