"""The embedded default: SQLite in WAL mode, fully synchronous, one writer at a time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from postback.batching import Batcher
from postback.domain.records import ClaimedDelivery, Click
from postback.errors import StoreLocked
from postback.store.attempts import record_attempts
from postback.store.base import AttemptResult, PostbackCommand, PostbackResult
from postback.store.clicks import find_clicks
from postback.store.postbacks import record_batch
from postback.store.sql import Store
from postback.store.sql_traffic import write_clicks
from postback.store.turns import FileTurn, only_one
from postback.store.wakeups import LocalWakeup, wrote_deliveries

T = TypeVar("T")


# How long a writer waits for the write lock: SQLite's busy timeout for other processes,
# and as long again for this process's own queue, so a request held up by a lock that
# is not let go gets its 503 within about twice this, however many wait before it.
LOCK_WAIT_SECONDS = 10.0
# PRAGMA auto_vacuum's value for incremental, and the pages returned per transaction.
INCREMENTAL_VACUUM = 2
VACUUM_PAGES = 1_000


class SqliteStore(Store):
    row_locks = False
    # Each deleted click touches pages all over its indexes (random ids): small batches
    # keep the write turn short for the clicks and postbacks waiting behind them.
    purge_batch = 500

    def __init__(self, url: str, report_zones: Sequence[str] = ()) -> None:
        engine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://", 1))
        _configure(engine.sync_engine)
        super().__init__(engine, report_zones)
        # SQLite has a single writer: queue writers here instead of spinning on SQLITE_BUSY.
        self._write_lock = asyncio.Lock()
        self._writer = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        # Postbacks run many statements each; a plain connection in one writer thread runs
        # a whole batch of them per hand-off, where the async driver hops per statement.
        self._sync_writer = create_engine(
            url, connect_args={"check_same_thread": False}
        ).execution_options(sqlite_begin="BEGIN IMMEDIATE")
        _configure(self._sync_writer)
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        # Each commit is an fsync: concurrent postbacks share one transaction.
        self._postbacks: Batcher[PostbackCommand, PostbackResult] = Batcher(
            self._record_postback_batch, max_batch=500
        )
        self._attempts: Batcher[tuple[ClaimedDelivery, AttemptResult], bool] = Batcher(
            self._record_attempt_batch, max_batch=500
        )
        # Click lookups (batched in Store) run in one hand-off to a reader thread each
        # batch (WAL readers do not wait for the writer).
        self._sync_reader = create_engine(url, connect_args={"check_same_thread": False})
        _configure(self._sync_reader)
        self._reader_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._wakeup = LocalWakeup(engine.url.database)
        self._file_turn = FileTurn(engine.url.database)

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._writer_turn():
            with self._translate():
                async with self._writer.begin() as conn:
                    yield conn

    @contextlib.asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        """This process's write lock, then the database's across processes, each waited
        for no longer than LOCK_WAIT_SECONDS."""
        try:
            await asyncio.wait_for(self._write_lock.acquire(), LOCK_WAIT_SECONDS)
        except TimeoutError:
            raise StoreLocked(
                f"no turn to write within {LOCK_WAIT_SECONDS:g}s (database locked or overloaded)"
            ) from None
        try:
            await self._file_turn.acquire(LOCK_WAIT_SECONDS)
            try:
                yield
            finally:
                self._file_turn.release()
        finally:
            self._write_lock.release()

    async def _record_postback(self, command: PostbackCommand) -> PostbackResult:
        return await self._postbacks.submit(command)

    @contextlib.asynccontextmanager
    async def _purge_turn(self) -> AsyncIterator[bool]:
        with only_one(self.engine.url.database, "purge") as ours:
            yield ours

    async def _reclaim_space(self) -> None:
        # Databases made with incremental auto-vacuum (every new one) give freed pages
        # back to the file system, a few at a time; the others reuse them for new rows.
        async with self._read() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar()
        if mode != INCREMENTAL_VACUUM:
            return
        loop = asyncio.get_running_loop()
        while True:
            began = time.monotonic()
            async with self._writer_turn():
                with self._translate():
                    free = await loop.run_in_executor(self._writer_thread, self._vacuum_step)
            if not free:
                return
            await asyncio.sleep(max(0.005, time.monotonic() - began))

    def _vacuum_step(self) -> int:
        """Give back up to VACUUM_PAGES free pages in one transaction; the free pages left.
        A script, because the driver steps a pragma once: one page per call otherwise."""
        raw = self._sync_writer.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            driver.executescript(
                f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({VACUUM_PAGES}); COMMIT;"
            )
            return int(driver.execute("PRAGMA freelist_count").fetchone()[0])
        finally:
            raw.close()

    async def _record_postback_batch(
        self, commands: list[PostbackCommand]
    ) -> list[PostbackResult | BaseException]:
        results = await record_batch(self._in_writer_thread, commands, False)
        if wrote_deliveries(results):
            self._wakeup.announce()  # committed: a worker in another process may claim them
        return results

    async def listen_for_deliveries(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        await self._wakeup.listen(wake, stop)

    async def insert_clicks(self, batch: Sequence[Click]) -> None:
        # The clicks and their rollup upserts in one hand-off to the writer thread.
        if batch:
            await self._in_writer_thread(write_clicks, batch, self.unique_window_us)

    async def _find_clicks(self, click_ids: list[str]) -> list[Click | None]:
        def run() -> list[Click | None]:
            with self._sync_reader.connect() as conn:
                by_id = find_clicks(conn, click_ids)
            return [by_id.get(click_id) for click_id in click_ids]

        loop = asyncio.get_running_loop()
        with self._translate():
            return await loop.run_in_executor(self._reader_thread, run)

    async def finish_attempt(self, claim: ClaimedDelivery, result: AttemptResult) -> bool:
        return await self._attempts.submit((claim, result))

    async def _record_attempt_batch(
        self, finished: list[tuple[ClaimedDelivery, AttemptResult]]
    ) -> list[bool | BaseException]:
        return await self._in_writer_thread(record_attempts, finished)

    async def _in_writer_thread(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(connection, *args)` in one write transaction in the writer thread."""

        def run() -> T:
            with self._sync_writer.begin() as conn:
                return work(conn, *args)

        loop = asyncio.get_running_loop()
        async with self._writer_turn():
            with self._translate():
                return await loop.run_in_executor(self._writer_thread, run)

    async def close(self) -> None:
        await self._click_lookups.stop()  # before its reader thread goes
        await self._postbacks.stop()
        await self._attempts.stop()
        self._writer_thread.shutdown(wait=True)
        self._reader_thread.shutdown(wait=True)
        self._sync_writer.dispose()
        self._sync_reader.dispose()
        self._wakeup.close()
        self._file_turn.close()
        await super().close()


def _configure(sync_engine: Any) -> None:
    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Takes effect only in a new, empty database: freed pages can then be returned.
        cursor.execute(f"PRAGMA auto_vacuum={INCREMENTAL_VACUUM}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_SECONDS * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        # Writers lock the database up front: a deferred transaction that later
        # upgrades to a write lock can fail at once instead of waiting.
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))
