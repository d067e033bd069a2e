"""Exports: one table's rows of a time range, read in pages by keyset (the time, then the
primary key to break ties), each page its own short read. An export of any size holds
one page in memory and no transaction open while the caller writes it out
(exporting.py formats the rows, `postback export` runs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import orjson
from sqlalchemy import Column, ColumnElement, Table, and_, func, or_, select

from postback.domain.money import from_units
from postback.store import rows
from postback.store.schema import clicks, conversions, delivery_attempts, incoming_log
from postback.store.sql_base import SqlBase

#: Rows per read.
EXPORT_PAGE: Final = 5_000

Convert = Callable[[Any], Any]


def _money(value: int | None) -> Decimal | None:
    return None if value is None else from_units(value)


def _json_object(text: str | None) -> dict[str, Any]:
    return dict(orjson.loads(text)) if text else {}


# How a column's stored value comes out, where it is not as stored: times are integer
# microseconds, money integer ten-thousandths, attributes JSON text.
_CONVERTS: Final[dict[str, Convert]] = {
    "created_at": rows.from_us,
    "updated_at": rows.from_us,
    "received_at": rows.from_us,
    "started_at": rows.from_us,
    "cost": _money,
    "revenue": _money,
    "payout": _money,
    "attributes": _json_object,
}


@dataclass(frozen=True, slots=True)
class ExportKind:
    """What one kind of export reads: a table's rows whose `time` is in the range, in
    the order of (`time`, `key`), as `fields` (the name in the file, the column)."""

    table: Table
    time: Column[Any]
    key: Column[Any]
    fields: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)


def _as_stored(table: Table, *first: str) -> tuple[tuple[str, str], ...]:
    """Every column under its own name, `first` ones first."""
    # Plain str: a column's name is a str subclass, which orjson refuses as a key.
    rest = [str(column.name) for column in table.columns if column.name not in first]
    return tuple((name, name) for name in (*first, *rest))


KINDS: Final[dict[str, ExportKind]] = {
    "clicks": ExportKind(
        clicks, clicks.c.created_at, clicks.c.click_id, _as_stored(clicks, "click_id", "created_at")
    ),
    # Named as `postback import conversions` reads them, so an exported file imports back.
    # Its other columns are names the import leaves alone: `payout` would be read as an
    # alias of the revenue, and the import takes the payout from the offer anyway.
    "conversions": ExportKind(
        conversions,
        conversions.c.created_at,
        conversions.c.id,
        (
            ("id", "id"),
            ("click_id", "click_id"),
            ("txid", "txid"),
            ("event", "event"),
            ("status", "status"),
            ("revenue", "revenue"),
            ("currency", "currency"),
            ("time", "created_at"),
            ("updated_at", "updated_at"),
            ("affiliate_payout", "payout"),
            ("offer_id", "offer_id"),
            ("affiliate_id", "affiliate_id"),
            ("advertiser_id", "advertiser_id"),
            ("stage", "stage"),
            ("attributes", "attributes"),
        ),
    ),
    "incoming": ExportKind(
        incoming_log,
        incoming_log.c.received_at,
        incoming_log.c.id,
        _as_stored(incoming_log, "id", "received_at"),
    ),
    "attempts": ExportKind(
        delivery_attempts,
        delivery_attempts.c.started_at,
        delivery_attempts.c.id,
        _as_stored(delivery_attempts, "id", "delivery_id", "attempt_no", "started_at"),
    ),
}
EXPORT_KINDS: Final = tuple(KINDS)


def export_kind(name: str) -> ExportKind:
    """The kind of export by name; ValueError for one we do not have."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown export {name!r}: use {', '.join(EXPORT_KINDS)}") from None


def _in_range(kind: ExportKind, start: datetime | None, end: datetime) -> list[ColumnElement[bool]]:
    conditions = [kind.time < rows.to_us(end)]
    if start is not None:
        conditions.append(kind.time >= rows.to_us(start))
    return conditions


class ExportsMixin(SqlBase):
    """A table's rows of a time range, page by page, for `postback export`."""

    async def count_export(self, name: str, start: datetime | None, end: datetime) -> int:
        """How many rows an export of [start, end) holds now (None: from the first row)."""
        kind = export_kind(name)
        stmt = select(func.count()).select_from(kind.table).where(*_in_range(kind, start, end))
        async with self._read() as conn:
            return int(await conn.scalar(stmt) or 0)

    async def export_pages(
        self, name: str, start: datetime | None, end: datetime, page_size: int = EXPORT_PAGE
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of [start, end) in the order of (time, key), a page at a time, each a
        tuple of the kind's fields: times as UTC datetimes, money as Decimal, attributes
        as a dict. Rows written meanwhile behind the last page read are not seen."""
        kind = export_kind(name)
        page_size = max(1, page_size)
        columns = [kind.table.c[column] for _, column in kind.fields]
        converts = [_CONVERTS.get(column) for _, column in kind.fields]
        # The keyset comes after the fields, as stored.
        base = (
            select(*columns, kind.time, kind.key)
            .where(*_in_range(kind, start, end))
            .order_by(kind.time, kind.key)
            .limit(page_size)
        )
        after: tuple[Any, Any] | None = None
        while True:
            stmt = base
            if after is not None:
                last_time, last_key = after
                # `time >= last` alone is what an index on the time can seek to.
                stmt = stmt.where(
                    kind.time >= last_time,
                    or_(kind.time > last_time, and_(kind.time == last_time, kind.key > last_key)),
                )
            async with self._read() as conn:
                found = (await conn.execute(stmt)).all()
            if not found:
                return
            yield [
                tuple(
                    value if convert is None else convert(value)
                    for value, convert in zip(row[: len(columns)], converts, strict=True)
                )
                for row in found
            ]
            if len(found) < page_size:
                return
            after = (found[-1][-2], found[-1][-1])
