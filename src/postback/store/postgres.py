"""The production backend: PostgreSQL through asyncpg, row locks for concurrent workers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine

from postback.store.sql import SqlStore


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
