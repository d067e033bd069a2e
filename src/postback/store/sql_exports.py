"""Exports: a kind of row of a time range, read in pages by keyset (the time, then the
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
from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select, union_all

from postback.domain.money import from_units
from postback.store import rows
from postback.store.schema import (
    clicks,
    conversions,
    delivery_attempts,
    incoming_log,
    kept_clicks,
)
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
    """What one kind of export reads: the rows of `tables` (alike in their columns) whose
    `time` is in the range, in the order of (`time`, `key`), as `fields` (the name in the
    file, the column)."""

    tables: tuple[Table, ...]
    time: str
    key: str
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
    # What conversions kept of purged clicks comes out with the raw clicks (a click id is
    # in one table or the other, never both: store/purge.py moves it in one transaction).
    "clicks": ExportKind(
        (clicks, kept_clicks),
        "created_at",
        "click_id",
        _as_stored(clicks, "click_id", "created_at"),
    ),
    # Named as `postback import conversions` reads them, so an exported file imports back.
    # Its other columns are names the import leaves alone: `payout` would be read as an
    # alias of the revenue, and the import takes the payout from the offer anyway.
    "conversions": ExportKind(
        (conversions,),
        "created_at",
        "id",
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
        (incoming_log,),
        "received_at",
        "id",
        _as_stored(incoming_log, "id", "received_at"),
    ),
    "attempts": ExportKind(
        (delivery_attempts,),
        "started_at",
        "id",
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


Keyset = tuple[Any, Any]  # the time and the key of the last row read


def _where(
    table: Table, kind: ExportKind, start: datetime | None, end: datetime, after: Keyset | None
) -> list[ColumnElement[bool]]:
    """The table's rows of [start, end), after the keyset `after` (None: from the first)."""
    time, key = table.c[kind.time], table.c[kind.key]
    conditions = [time < rows.to_us(end)]
    if start is not None:
        conditions.append(time >= rows.to_us(start))
    if after is not None:
        last_time, last_key = after
        # `time >= last` alone is what an index on the time can seek to.
        conditions.append(time >= last_time)
        conditions.append(or_(time > last_time, and_(time == last_time, key > last_key)))
    return conditions


def _page(
    kind: ExportKind, start: datetime | None, end: datetime, after: Keyset | None, size: int
) -> Select[Any]:
    """The next `size` rows of the kind's tables: the fields, then the time and the key.
    Each table gives its own first `size` by its index, and the pages merge."""

    def first_of(table: Table) -> Select[Any]:
        fields = [table.c[column] for _, column in kind.fields]
        ordered = (table.c[kind.time], table.c[kind.key])
        where = _where(table, kind, start, end, after)
        return select(*fields, *ordered).where(*where).order_by(*ordered).limit(size)

    if len(kind.tables) == 1:
        return first_of(kind.tables[0])
    merged = union_all(*(select(*first_of(t).subquery().c) for t in kind.tables)).subquery()
    time, key = list(merged.c)[-2:]
    return select(*merged.c).order_by(time, key).limit(size)


class ExportsMixin(SqlBase):
    """A table's rows of a time range, page by page, for `postback export`."""

    async def count_export(self, name: str, start: datetime | None, end: datetime) -> int:
        """How many rows an export of [start, end) holds now (None: from the first row)."""
        kind = export_kind(name)
        total = 0
        async with self._read() as conn:
            for table in kind.tables:
                counted = select(func.count()).select_from(table)
                where = _where(table, kind, start, end, None)
                total += int(await conn.scalar(counted.where(*where)) or 0)
        return total

    async def export_pages(
        self, name: str, start: datetime | None, end: datetime, page_size: int = EXPORT_PAGE
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of [start, end) in the order of (time, key), a page at a time, each a
        tuple of the kind's fields: times as UTC datetimes, money as Decimal, attributes
        as a dict. Rows written meanwhile behind the last page read are not seen."""
        kind = export_kind(name)
        page_size = max(1, page_size)
        width = len(kind.fields)
        converts = [_CONVERTS.get(column) for _, column in kind.fields]
        after: Keyset | None = None
        while True:
            async with self._read() as conn:
                found = (await conn.execute(_page(kind, start, end, after, page_size))).all()
            if not found:
                return
            yield [
                tuple(
                    value if convert is None else convert(value)
                    for value, convert in zip(row[:width], converts, strict=True)
                )
                for row in found
            ]
            if len(found) < page_size:
                return
            after = (found[-1][-2], found[-1][-1])
