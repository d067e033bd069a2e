"""The production backend: PostgreSQL through asyncpg, row locks for concurrent workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from postback.batching import Batcher
from postback.domain.buckets import Piece
from postback.domain.records import ClaimedDelivery
from postback.domain.report import ReportQuery
from postback.errors import StoreLocked
from postback.logthrottle import Throttled
from postback.store import partitions
from postback.store.attempts import record_attempts
from postback.store.base import AttemptResult, PostbackCommand, PostbackResult
from postback.store.migrate import upgrade
from postback.store.postbacks import record_batch
from postback.store.purge import Purged
from postback.store.reports import postgres_report
from postback.store.sql import Store
from postback.store.wakeups import NOTIFY, listen_postgres, wrote_deliveries

T = TypeVar("T")

# Any constant shared by every process: concurrent starts migrate one at a time.
MIGRATION_LOCK = 0x706F73746261636B
# ... and one purge runs at a time.
PURGE_LOCK = MIGRATION_LOCK + 2
#: Times a day partition's drop gives way to traffic (its lock timeout) in one purge.
DROP_TRIES = 3

log = logging.getLogger(__name__)
dropping_failed = Throttled(log)


def asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("not a PostgreSQL URL")


class PostgresStore(Store):
    row_locks = True
    folds_rollups = True
    write_batches = 2
    counts_auth_failures = True
    clicks_by_day = True

    def __init__(self, url: str, report_zones: Sequence[str] = (), pool_size: int = 10) -> None:
        engine = create_async_engine(
            asyncpg_url(url),
            pool_size=pool_size,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={"server_settings": SESSION_SETTINGS},
        )
        super().__init__(engine, report_zones)
        # A worker finishes thousands of attempts a second: those finished meanwhile
        # share one transaction (one commit) instead of one each.
        self._attempts: Batcher[tuple[ClaimedDelivery, AttemptResult], bool] = Batcher(
            self._record_attempt_batch, max_batch=500
        )
        # Concurrent postbacks share a transaction (a commit each would be the cost),
        # and `write_batches` of them are in flight at once: they share no row (rollup
        # changes are appended, store/pending.py), so one batch's round trips overlap
        # the other's. Row locks guard the conversions against each other.
        self._postbacks: Batcher[PostbackCommand, PostbackResult] = Batcher(
            self._record_postback_batch, max_batch=500, concurrency=self.write_batches
        )

    async def _record_postback(self, command: PostbackCommand) -> PostbackResult:
        return await self._postbacks.submit(command)

    async def _row_cutoffs(
        self, cutoffs: dict[str, int | None], purged: Purged | None
    ) -> dict[str, int | None]:
        """Whole partitions older than the cutoff go as dropped tables (unless `purged` is
        None: a dry run); rows are deleted one by one only where no partition holds them
        (the default partition). So a row stays up to SPAN_DAYS past its retention."""
        async with self._write() as conn:
            await conn.run_sync(partitions.ensure_ahead, datetime.now(UTC).date())
        rows: dict[str, int | None] = {}
        for table, cutoff in cutoffs.items():
            if cutoff is None or table not in partitions.PARTITIONED:
                rows[table] = cutoff
                continue
            cutoff -= cutoff % partitions.DAY_US
            async with self._read() as conn:
                spans = await conn.run_sync(partitions.partitions_of, table)
            if purged is not None:
                for span in (span for span in spans if span.end_us <= cutoff):
                    if not await self._drop_partition(span, purged):
                        break  # tried again at the next purge
                async with self._read() as conn:
                    spans = await conn.run_sync(partitions.partitions_of, table)
            else:
                spans = [span for span in spans if span.end_us > cutoff]
            # Rows of a partition go only with it: those in the one holding the cutoff stay.
            rows[table] = min([cutoff, *(span.start_us for span in spans[:1])])
        return rows

    async def _drop_partition(self, partition: partitions.Partition, purged: Purged) -> bool:
        for attempt in range(DROP_TRIES):
            try:
                async with self._write() as conn:
                    purged.add(await conn.run_sync(partitions.drop_partition, partition))
                return True
            except StoreLocked as exc:
                if attempt == DROP_TRIES - 1:
                    dropping_failed.warning(
                        "partition_drop_failed", "dropping %s gave way: %s", partition.name, exc
                    )
                    return False
                await asyncio.sleep(0.5 * (attempt + 1))
        return False

    @contextlib.asynccontextmanager
    async def _purge_turn(self) -> AsyncIterator[bool]:
        # A session lock on a connection of its own, held across the purge's many short
        # transactions; it goes with the connection if the process dies.
        async with self._read() as conn:
            lock = {"key": PURGE_LOCK}
            ours = bool(
                (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), lock)).scalar()
            )
            await conn.commit()
            try:
                yield ours
            finally:
                if ours:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), lock)
                    await conn.commit()

    async def _record_postback_batch(
        self, commands: list[PostbackCommand]
    ) -> list[PostbackResult | BaseException]:
        return await record_batch(self._in_transaction_announcing, commands, True)

    async def _in_transaction_announcing(
        self, work: Callable[..., list[PostbackResult | BaseException]], *args: Any
    ) -> list[PostbackResult | BaseException]:
        """A postback batch in one transaction that, when it owes deliveries, notifies the
        listening workers: once per batch, at commit (store/wakeups.py)."""
        async with self._write() as conn:
            results = await conn.run_sync(work, *args)
            if wrote_deliveries(results):
                await conn.execute(NOTIFY)
            return results

    async def listen_for_deliveries(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        await listen_postgres(dsn, wake, stop)

    async def _in_transaction(self, work: Callable[..., T], *args: Any) -> T:
        async with self._write() as conn:
            return await conn.run_sync(work, *args)

    async def finish_attempt(self, claim: ClaimedDelivery, result: AttemptResult) -> bool:
        return await self._attempts.submit((claim, result))

    async def _record_attempt_batch(
        self, finished: list[tuple[ClaimedDelivery, AttemptResult]]
    ) -> list[bool | BaseException]:
        async with self._write() as conn:
            return await conn.run_sync(record_attempts, finished)

    async def close(self) -> None:
        await self._postbacks.stop()
        await self._attempts.stop()
        await super().close()

    async def migrate(self) -> None:
        async with self._write() as conn:
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            await conn.run_sync(upgrade)
            await conn.run_sync(partitions.ensure_ahead, datetime.now(UTC).date())
        await self.add_report_zones(self.report_zones)

    async def _report_rows(self, query: ReportQuery, pieces: Sequence[Piece]) -> Sequence[Any]:
        # Straight through the driver: the statement text is compiled once per shape, and
        # the driver's records need no conversion for read_groups.
        # One statement, one snapshot: no transaction around it, so one round trip.
        sql, arguments = postgres_report(query, pieces, self.engine.dialect)
        async with self._read() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            found: Sequence[Any] = await raw.fetch(sql, *arguments)
        return found


#: Set once per connection. Every statement here is short (the longest, a report, reads
#: a few thousand index ranges in milliseconds): compiling one (JIT) costs more than it
#: saves. A report groups up to MAX_GROUPS rows, which should stay in memory rather than
#: spill to temporary files.
SESSION_SETTINGS = {"jit": "off", "work_mem": "64MB"}
