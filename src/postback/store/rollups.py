"""Keeping report rollups: counter deltas gathered in memory, written as upserts.

Whatever writes clicks or changes a conversion also writes what it changes in the
rollups, in the same transaction, so a report never lags or disagrees with the rows:
a batch of clicks adds its counts per bucket; a new conversion adds itself to the
buckets of its creation time; a status change adds (new contribution - old contribution)
to those same buckets, which moves the conversion between columns there.

A click's counters and texts (subs, country, device, os, browser) are its own; a
conversion's are its click's, so a report by country counts the conversions of clicks
from there.

Every change lands in each grain (15 minutes, 1 hour, 6 hours, 1 day, 7 days) of each cube
(table), and in the local day of each registered report zone (store/zones.py). Deltas are
summed per rollup key first, so a batch costs one upsert statement per table whatever its
size, and rows go in key order: on PostgreSQL concurrent writers then lock shared rollup
rows in the same order and cannot deadlock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import add
from typing import Any

import orjson
from sqlalchemy import Connection, Dialect, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from postback.domain.buckets import DAY, GRAINS, QUARTER, US, local_day_start
from postback.domain.money import to_units
from postback.domain.records import Click
from postback.domain.report import COUNTERS, DIMENSIONS, SUBS, TEXTS, Figures, click_figures
from postback.store import rows
from postback.store.schema import rollup_all, rollup_base, rollup_events, rollup_subs
from postback.store.zones import ReportZone, zones_for_writing

#: A click's text dimensions as the rollups key them (domain.report TEXTS: five subs,
#: then country, device, os, browser); a missing (or empty) one is ''.
Texts = tuple[str, str, str, str, str, str, str, str, str]
NO_TEXTS: Texts = ("", "", "", "", "", "", "", "", "")


#: The grains of the rollups whose rows are many (one per visitor's place and device, or
#: per combination of every dimension): a day and its quarters. A report reads an hour
#: there as four quarters, a week as seven days (domain.buckets.in_grains); each click
#: then writes two rows there instead of five. Report zones' local days are kept in all.
FEW_GRAINS = frozenset({DAY, QUARTER})
#: rollup_subs slots (1-based) keeping FEW_GRAINS: country, device, os, browser.
_FEW_GRAIN_SLOTS = frozenset(range(len(SUBS) + 1, len(TEXTS) + 1))


@dataclass(frozen=True, slots=True)
class Cube:
    """A rollup table and the report dimensions it keeps (`slot`: which text dimension,
    for rollup_subs), in which grains."""

    table: Table
    dimensions: frozenset[str]
    slot: int | None = None
    grains: frozenset[int] = frozenset(GRAINS)


#: From the smallest to the largest: a report reads the first one that keeps what it needs.
CUBES: tuple[Cube, ...] = (
    Cube(rollup_base, frozenset({"offer_id", "affiliate_id"})),
    Cube(rollup_events, frozenset({"offer_id", "affiliate_id", "event"})),
    *(
        Cube(
            rollup_subs,
            frozenset({"affiliate_id", text}),
            slot,
            FEW_GRAINS if slot in _FEW_GRAIN_SLOTS else frozenset(GRAINS),
        )
        for slot, text in enumerate(TEXTS, start=1)
    ),
    Cube(rollup_all, frozenset(DIMENSIONS), grains=FEW_GRAINS),
)


def choose_cube(dimensions: Iterable[str]) -> Cube:
    needed = frozenset(dimensions)
    return next(cube for cube in CUBES if needed <= cube.dimensions)


def texts_of(
    subs: Sequence[str | None],
    country: str | None = None,
    device: str | None = None,
    os: str | None = None,
    browser: str | None = None,
) -> Texts:
    """A click's texts as the rollups key them: a missing (or empty) one is ''."""
    a, b, c, d, e = (value or "" for value in subs)
    return (a, b, c, d, e, country or "", device or "", os or "", browser or "")


def click_texts(click: Click) -> Texts:
    return texts_of(click.subs, click.country, click.device, click.os, click.browser)


def texts_key(texts: Sequence[str]) -> str:
    """A 128-bit digest of the texts (length-prefixed, so no two lists share one)."""
    digest = hashlib.blake2b(digest_size=16)
    for value in texts:
        encoded = value.encode()
        digest.update(len(encoded).to_bytes(4, "big"))
        digest.update(encoded)
    return digest.hexdigest()


_KEYS: dict[Table, tuple[str, ...]] = {
    rollup_base: ("grain", "bucket_at", "offer_id", "affiliate_id"),
    rollup_events: ("grain", "bucket_at", "offer_id", "affiliate_id", "event"),
    rollup_subs: ("slot", "grain", "bucket_at", "affiliate_id", "value"),
    rollup_all: (
        "grain",
        "bucket_at",
        "offer_id",
        "affiliate_id",
        "event",
        "subs_key",
        *TEXTS,
    ),
}

# (offer_id, affiliate_id, event, texts, quarter bucket start in microseconds)
_Cell = tuple[int, int, str, Texts, int]
_QUARTER_US = QUARTER * US
_GRAIN_US = tuple((grain, grain * US) for grain in GRAINS)
_SUB_SLOTS = tuple(range(1, len(SUBS) + 1))
_VISITOR_SLOTS = tuple(sorted(_FEW_GRAIN_SLOTS))
# The length of one encoded cell before the texts and counters became nine and ten.
_CELL_BEFORE_VISITORS = 2 + 1 + 5 + 1 + 7


@dataclass(frozen=True, slots=True)
class Change:
    """Counters that change in the buckets holding `at_us`, for one set of dimensions."""

    offer_id: int
    affiliate_id: int
    event: str
    texts: Texts
    at_us: int
    figures: Figures


class Deltas:
    """Counter changes to write: add what happened, then `write` in the transaction."""

    def __init__(self) -> None:
        self._cells: dict[_Cell, tuple[int, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._cells)

    def _add(self, cell: _Cell, counters: tuple[int, ...]) -> None:
        found = self._cells.get(cell)
        self._cells[cell] = counters if found is None else tuple(map(add, found, counters))

    def add(self, change: Change) -> None:
        quarter = change.at_us - change.at_us % _QUARTER_US
        cell = (change.offer_id, change.affiliate_id, change.event, change.texts, quarter)
        self._add(cell, change.figures)

    def add_clicks(self, clicks: Iterable[Click]) -> None:
        for click in clicks:
            at = rows.to_us(click.created_at)
            cost = 0 if click.cost is None else to_units(click.cost)
            figures = click_figures(click.is_unique, click.is_bot, cost)
            cell = (click.offer_id, click.affiliate_id, "", click_texts(click))
            self._add((*cell, at - at % _QUARTER_US), figures)

    def encode(self) -> bytes:
        """The changes as one value (store/pending.py keeps it until it is folded)."""
        return orjson.dumps(
            [
                [offer_id, affiliate_id, event, *texts, quarter, *counters]
                for (offer_id, affiliate_id, event, texts, quarter), counters in self._cells.items()
            ]
        )

    def add_encoded(self, encoded: bytes) -> None:
        """Add changes kept by `encode`, or by the version before the visitor texts (five
        subs and seven counters), which an upgrade may find still pending."""
        for cell in orjson.loads(encoded):
            if len(cell) == _CELL_BEFORE_VISITORS:
                offer_id, affiliate_id, event, a, b, c, d, e, quarter, *counters = cell
                texts: Texts = (a, b, c, d, e, "", "", "", "")
                counters += [0, 0, 0]
            else:
                offer_id, affiliate_id, event, *rest = cell
                texts = tuple(rest[:9])
                quarter, counters = rest[9], rest[10:]
            self._add((offer_id, affiliate_id, event, texts, quarter), tuple(counters))

    def table_rows(self, zones: Sequence[ReportZone] = ()) -> dict[Table, list[tuple[Any, ...]]]:
        """Rows to upsert per table, as (key..., counters...) in the table's column order:
        summed per key, zero rows left out, sorted by key. `zones`: the report zones whose
        local days are kept too."""
        base: dict[tuple[Any, ...], tuple[int, ...]] = {}
        events: dict[tuple[Any, ...], tuple[int, ...]] = {}
        subs_rows: dict[tuple[Any, ...], tuple[int, ...]] = {}
        every: dict[tuple[Any, ...], tuple[int, ...]] = {}
        digests: dict[Texts, str] = {}
        for (offer_id, affiliate_id, event, texts, quarter), counters in self._cells.items():
            digest = digests.get(texts)
            if digest is None:
                digest = digests[texts] = texts_key(texts)
            buckets = [(grain, quarter - quarter % size) for grain, size in _GRAIN_US]
            for zone in zones:
                buckets.append((zone.grain, local_day_start(zone.name, quarter // US) * US))
            for grain, at in buckets:
                keys: list[tuple[dict[tuple[Any, ...], tuple[int, ...]], tuple[Any, ...]]] = [
                    (base, (grain, at, offer_id, affiliate_id)),
                    (events, (grain, at, offer_id, affiliate_id, event)),
                ]
                keys += [
                    (subs_rows, (slot, grain, at, affiliate_id, texts[slot - 1]))
                    for slot in _SUB_SLOTS
                ]
                if grain < 0 or grain in FEW_GRAINS:
                    keys += [
                        (subs_rows, (slot, grain, at, affiliate_id, texts[slot - 1]))
                        for slot in _VISITOR_SLOTS
                    ]
                    keys.append((every, (grain, at, offer_id, affiliate_id, event, digest, *texts)))
                for cells, key in keys:
                    found = cells.get(key)
                    cells[key] = counters if found is None else tuple(map(add, found, counters))
        # Tables in a fixed order, keys sorted: the lock order on PostgreSQL.
        return {
            table: [(*key, *counters) for key, counters in sorted(cells.items()) if any(counters)]
            for table, cells in (
                (rollup_base, base),
                (rollup_events, events),
                (rollup_subs, subs_rows),
                (rollup_all, every),
            )
        }

    def write(self, conn: Connection, zones: Sequence[ReportZone] | None = None) -> None:
        """Add the deltas to the rollups on `conn` (inside the caller's transaction), with
        the local days of `zones` (by default those registered, read in the transaction)."""
        if not self._cells:
            return
        if zones is None:
            zones = zones_for_writing(conn)
        postgres = conn.dialect.name == "postgresql"
        for table, values in self.table_rows(zones).items():
            if not values:
                continue
            if postgres:
                # One statement per table: every column as an array, unnested in order.
                columns = tuple(list(column) for column in zip(*values, strict=True))
                conn.exec_driver_sql(_upsert_sql(conn.dialect, table), columns)
            else:
                conn.exec_driver_sql(_upsert_sql(conn.dialect, table), values)


def _conflict_update(stmt: Any, table: Table) -> Any:
    # rollup_all keys its texts by digest; the text columns ride along unchanged.
    keys = [name for name in _KEYS[table] if name not in TEXTS or table is not rollup_all]
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + stmt.excluded[name] for name in COUNTERS},
    )


@lru_cache(maxsize=32)
def _upsert_sql(dialect: Dialect, table: Table) -> str:
    """INSERT ... ON CONFLICT DO UPDATE adding the counters, compiled once per dialect from
    the SQLAlchemy statement (building it and its parameters per batch cost more than the
    writes). SQLite takes the rows as tuples in column order, one execution each;
    PostgreSQL takes each column as one array and unnests them in key order, one statement
    for the whole batch instead of a round of execution per row."""
    names = (*_KEYS[table], *COUNTERS)
    if dialect.name == "postgresql":
        arrays = [bindparam(f"a_{c.name}", type_=postgresql.ARRAY(c.type)) for c in table.c]
        rows = func.unnest(*arrays).table_valued(*(c.name for c in table.c)).render_derived("u")
        ordered = select(*(rows.c[c.name] for c in table.c)).order_by(
            *(rows.c[name] for name in _KEYS[table])
        )
        stmt = _conflict_update(postgresql.insert(table).from_select(names, ordered), table)
    else:
        stmt = _conflict_update(sqlite.insert(table), table)
    compiled = stmt.compile(dialect=dialect)
    expected = names if dialect.name != "postgresql" else tuple(f"a_{name}" for name in names)
    assert tuple(compiled.positiontup or ()) == expected
    return str(compiled)
