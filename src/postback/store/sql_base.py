"""What every part of the SQL store shares: its transactions, how records are written,
and the generic create, get, update and page of one table's records (store/sql.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from postback.domain.records import (
    Advertiser,
    Affiliate,
    Alert,
    Offer,
    PostbackConfig,
    TrialSend,
)
from postback.store import rows
from postback.store.base import MAX_PAGE, Page
from postback.store.failures import translated
from postback.store.schema import (
    advertisers,
    affiliates,
    alerts,
    offers,
    postback_configs,
    postback_tests,
)

# How each table's records are written: their field types say it (store/rows.py).
ENCODERS = {
    advertisers.name: rows.column_encoder(Advertiser),
    offers.name: rows.column_encoder(Offer),
    affiliates.name: rows.column_encoder(Affiliate),
    postback_configs.name: rows.column_encoder(PostbackConfig),
    postback_tests.name: rows.column_encoder(TrialSend),
    alerts.name: rows.column_encoder(Alert),
}


def encode(table: Table, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A record's fields as the table's columns hold them."""
    return ENCODERS[table.name](fields)


def now_us() -> int:
    """Now, in microseconds since the epoch, as the tables hold times."""
    return rows.to_us(datetime.now().astimezone())


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 19:
        raise ValueError("malformed cursor")
    return int(value)


class SqlBase:
    """The engine's transactions and the generic record helpers; each part of the store
    (store/sql_*.py) builds on these, and sql.Store puts the parts together."""

    engine: AsyncEngine

    #: PostgreSQL takes row locks; SQLite serialises writers instead.
    row_locks = False
    #: Group commits of one kind in flight at once: more than one only where their
    #: transactions share no row and the database takes concurrent writers.
    write_batches = 1

    # ---- transactions -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with self._translate():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        with self._translate():
            async with self.engine.begin() as conn:
                yield conn

    #: Driver exceptions that mean "connection lost" but can escape SQLAlchemy's wrapping.
    connection_errors: tuple[type[BaseException], ...] = ()

    def _translate(self) -> contextlib.AbstractContextManager[None]:
        return translated(self.connection_errors)

    # ---- generic record helpers ---------------------------------------------------

    async def _create(self, table: Table, fields: Mapping[str, Any]) -> Any:
        now = now_us()
        values = {**encode(table, fields), "created_at": now, "updated_at": now}
        async with self._write() as conn:
            return (await conn.execute(insert(table).values(values).returning(table))).one()

    async def _get(self, table: Table, record_id: int) -> Any:
        async with self._read() as conn:
            return (await conn.execute(select(table).where(table.c.id == record_id))).first()

    async def _update(self, table: Table, record_id: int, changes: Mapping[str, Any]) -> Any:
        values = {**encode(table, changes), "updated_at": now_us()}
        async with self._write() as conn:
            stmt = update(table).where(table.c.id == record_id).values(values).returning(table)
            return (await conn.execute(stmt)).first()

    # ---- pagination -----------------------------------------------------------------

    async def _page(
        self, stmt: Any, table: Table, limit: int, cursor: str | None, build: Any
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        after = _cursor(cursor)
        if after is not None:
            stmt = stmt.where(table.c.id < after)
        stmt = stmt.order_by(table.c.id.desc()).limit(limit + 1)
        async with self._read() as conn:
            found = list(await conn.execute(stmt))
        more = len(found) > limit
        found = found[:limit]
        next_cursor = str(found[-1].id) if more else None
        return Page([build(row) for row in found], next_cursor)
