"""The embedded default: SQLite in WAL mode, fully synchronous, one writer at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from postback.batching import Batcher
from postback.store.base import PostbackCommand, PostbackResult
from postback.store.postbacks import apply_batch
from postback.store.sql import SqlStore


class SqliteStore(SqlStore):
    row_locks = False

    def __init__(self, url: str) -> None:
        engine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://", 1))
        _configure(engine.sync_engine)
        super().__init__(engine)
        # SQLite has a single writer: queue writers here instead of spinning on SQLITE_BUSY.
        self._write_lock = asyncio.Lock()
        self._writer = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        # Postbacks run many statements each; a plain connection in one writer thread runs
        # a whole batch of them per hand-off, where the async driver hops per statement.
        self._sync_writer = create_engine(url, connect_args={"check_same_thread": False})
        _configure(self._sync_writer)
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        # Each commit is an fsync: concurrent postbacks share one transaction.
        self._postbacks: Batcher[PostbackCommand, PostbackResult] = Batcher(
            self._record_postback_batch, max_batch=500
        )

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock:
            with self._translate():
                async with self._writer.begin() as conn:
                    yield conn

    async def _record_postback(self, command: PostbackCommand) -> PostbackResult:
        return await self._postbacks.submit(command)

    async def _record_postback_batch(
        self, commands: list[PostbackCommand]
    ) -> list[PostbackResult | BaseException]:
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            with self._translate():
                return await loop.run_in_executor(self._writer_thread, self._apply_batch, commands)

    def _apply_batch(self, commands: list[PostbackCommand]) -> list[PostbackResult | BaseException]:
        with self._sync_writer.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            return apply_batch(conn, commands, row_locks=False)

    async def close(self) -> None:
        await self._postbacks.stop()
        self._writer_thread.shutdown(wait=True)
        self._sync_writer.dispose()
        await super().close()


def _configure(sync_engine: Any) -> None:
    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        # Writers lock the database up front: a deferred transaction that later
        # upgrades to a write lock can fail at once instead of waiting.
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))
