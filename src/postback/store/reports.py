"""Reading reports from the rollups, never from the raw clicks.

One grouped query: the buckets the plan names (domain.buckets) arrive as a small VALUES
table `pieces` (grain, start, end, offset), joined to the smallest rollup table that keeps
the dimensions asked for; a bucket's local day or hour is (bucket start + offset) divided
by the period, in integers (the hour of the day is that hour number modulo 24). Counters
are summed by the database and stay integers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    column,
    func,
    select,
    values,
)

from postback.domain.buckets import DAY, HOUR, US, Piece, day_of
from postback.domain.report import COUNTERS, SUBS, Figures, Group, Key, ReportQuery
from postback.errors import InvalidInput
from postback.store.rollups import Cube, choose_cube

#: More groups than this is a question to narrow, not an answer to send.
MAX_GROUPS = 200_000

Decode = Callable[[Any], Group]


def _dimension(cube: Cube, name: str) -> ColumnElement[Any]:
    if cube.slot is not None and name in SUBS:
        return cube.table.c.value
    return cube.table.c[name]


def _decode_key(name: str, value: Any) -> Key:
    if name == "day":
        return day_of(int(value)).isoformat()
    if name == "hour":
        return int(value)
    if name in {"offer_id", "affiliate_id"}:
        return int(value)
    return value or None  # '' stands for no event (clicks) or no sub


def report_select(query: ReportQuery, pieces: Sequence[Piece]) -> tuple[Select[Any], Decode]:
    """The grouped query over the rollups and how to read its rows."""
    cube = choose_cube(query.dimensions)
    table = cube.table
    spans = (
        values(
            column("grain", Integer),
            column("start_at", BigInteger),
            column("end_at", BigInteger),
            column("offset_us", BigInteger),
            name="pieces",
        )
        .data([(p.grain, p.start * US, p.end * US, p.offset * US) for p in pieces])
        .cte("pieces")
    )
    local = table.c.bucket_at + spans.c.offset_us
    keys: list[ColumnElement[Any]] = []
    for name in query.group_by:
        if name == "day":
            keys.append((local // (DAY * US)).label("day"))
        elif name == "hour":
            keys.append(((local // (HOUR * US)) % 24).label("hour"))
        else:
            keys.append(_dimension(cube, name).label(name))
    conditions: list[ColumnElement[bool]] = []
    if cube.slot is not None:
        conditions.append(table.c.slot == cube.slot)
    for name, allowed in query.filters.items():
        conditions.append(_dimension(cube, name).in_(list(allowed)))
    stmt = (
        select(*keys, *(func.sum(table.c[name]).label(name) for name in COUNTERS))
        .select_from(
            table.join(
                spans,
                and_(
                    table.c.grain == spans.c.grain,
                    table.c.bucket_at >= spans.c.start_at,
                    table.c.bucket_at < spans.c.end_at,
                ),
            )
        )
        .where(*conditions)
        .group_by(*keys)
        .limit(MAX_GROUPS + 1)
    )
    names = query.group_by
    width = len(names)

    def decode(row: Any) -> Group:
        found = tuple(row)
        key = tuple(_decode_key(name, value) for name, value in zip(names, found, strict=False))
        return Group(key, Figures(*(int(value or 0) for value in found[width:])))

    return stmt, decode


def check_size(groups: list[Group]) -> None:
    if len(groups) > MAX_GROUPS:
        raise InvalidInput(
            "group_by",
            f"more than {MAX_GROUPS} rows: group by fewer keys, filter, or shorten the range",
        )
