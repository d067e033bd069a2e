"""The store's incoming traffic: clicks, incoming postbacks and their log, conversions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from postback.batching import Batcher
from postback.domain.records import Click, Conversion, StatusChange
from postback.errors import DuplicateKey
from postback.store import pending, rows
from postback.store.base import IncomingEntry, Page, PostbackCommand, PostbackResult
from postback.store.clicks import find_clicks
from postback.store.postbacks import apply_postback
from postback.store.rollups import Deltas
from postback.store.schema import (
    clicks,
    conversion_history,
    conversions,
    incoming_log,
)
from postback.store.sql_base import SqlBase
from postback.store.visitors import DEFAULT_UNIQUE_WINDOW_US, unique_flags


def write_clicks(
    conn: Connection, batch: Sequence[Click], unique_window_us: int = DEFAULT_UNIQUE_WINDOW_US
) -> None:
    """A batch of clicks, each found unique or not, and what it adds to the report
    rollups, on one connection."""
    flags = unique_flags(conn, batch, unique_window_us)
    if not all(flags):
        batch = [
            click if unique else replace(click, is_unique=False)
            for click, unique in zip(batch, flags, strict=True)
        ]
    deltas = Deltas()
    deltas.add_clicks(batch)
    conn.execute(insert(clicks), [rows.click_values(item) for item in batch])
    pending.record(conn, deltas)


class TrafficMixin(SqlBase):
    """Clicks, incoming postbacks (each a conversion, its history and deliveries) and the
    log of every postback received."""

    _click_lookups: Batcher[str, Click | None]
    # A visitor's click on an offer within this many microseconds of its previous one
    # is not unique (POSTBACK_UNIQUE_WINDOW; set by store/factory.py).
    unique_window_us: int = DEFAULT_UNIQUE_WINDOW_US
    #: Clicks are partitioned by time: a lookup by id looks in the id's day first.
    clicks_by_day = False

    # ---- clicks ---------------------------------------------------------------------

    async def insert_clicks(self, batch: Sequence[Click]) -> None:
        """Store a batch of clicks durably in one transaction."""
        if batch:
            async with self._write() as conn:
                await conn.run_sync(write_clicks, batch, self.unique_window_us)

    async def get_click(self, click_id: str) -> Click | None:
        return await self._click_lookups.submit(click_id)

    async def _find_clicks(self, click_ids: list[str]) -> list[Click | None]:
        async with self._read() as conn:
            by_id = await conn.run_sync(find_clicks, click_ids, self.clicks_by_day)
        return [by_id.get(click_id) for click_id in click_ids]

    # ---- incoming postbacks -----------------------------------------------------------

    async def record_postback(self, command: PostbackCommand) -> PostbackResult:
        """Apply a postback: conversion, history, deliveries and log in one transaction.

        Raises InvalidTransition (nothing written) when the state machine refuses.
        """
        # A unique violation means a concurrent request created the same identity first;
        # running again finds it and answers duplicate or updated.
        for attempt in range(3):
            try:
                return await self._record_postback(command)
            except DuplicateKey:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _record_postback(self, command: PostbackCommand) -> PostbackResult:
        async with self._write() as conn:
            return await conn.run_sync(apply_postback, command, self.row_locks)

    async def log_incoming(self, entries: Sequence[IncomingEntry]) -> None:
        if entries:
            async with self._write() as conn:
                await conn.execute(insert(incoming_log), [rows.incoming_values(e) for e in entries])

    async def list_incoming(
        self,
        *,
        result: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        conversion_id: int | None = None,
        advertiser_id: int | None = None,
        click_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Newest first; `since` inclusive, `until` exclusive."""
        stmt = select(incoming_log)
        if result is not None:
            stmt = stmt.where(incoming_log.c.result == result)
        if since is not None:
            stmt = stmt.where(incoming_log.c.received_at >= rows.to_us(since))
        if until is not None:
            stmt = stmt.where(incoming_log.c.received_at < rows.to_us(until))
        for name, value in (
            ("conversion_id", conversion_id),
            ("advertiser_id", advertiser_id),
            ("click_id", click_id),
        ):
            if value is not None:
                stmt = stmt.where(incoming_log.c[name] == value)
        return await self._page(stmt, incoming_log, limit, cursor, lambda row: row._asdict())

    # ---- conversions --------------------------------------------------------------------

    async def get_conversion(self, conversion_id: int) -> Conversion | None:
        row = await self._get(conversions, conversion_id)
        return rows.conversion(row) if row else None

    async def list_conversions(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(conversions)
        for name, value in (filters or {}).items():
            if name == "from":
                stmt = stmt.where(conversions.c.created_at >= rows.to_us(value))
            elif name == "to":
                stmt = stmt.where(conversions.c.created_at < rows.to_us(value))
            elif value is not None:
                stmt = stmt.where(conversions.c[name] == value)
        return await self._page(stmt, conversions, limit, cursor, rows.conversion)

    async def conversion_history(self, conversion_id: int) -> list[StatusChange]:
        async with self._read() as conn:
            stmt = (
                select(conversion_history)
                .where(conversion_history.c.conversion_id == conversion_id)
                .order_by(conversion_history.c.id)
            )
            return [rows.status_change(row) for row in await conn.execute(stmt)]
