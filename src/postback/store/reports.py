"""Reading reports from the rollups, never from the raw clicks.

One grouped query: the buckets the plan names (domain.buckets) arrive as a small table
`pieces` (grain, start, end, offset, sign: VALUES on SQLite, unnested arrays on
PostgreSQL), joined to the smallest rollup table that keeps the dimensions asked for; a
bucket's local day or hour is (bucket start + offset) divided by the period, in integers
(the hour of the day is that hour number modulo 24). Counters are summed by the database,
times each piece's sign, and stay integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Dialect,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    or_,
    select,
    true,
    values,
)
from sqlalchemy.dialects import postgresql

from postback.domain.buckets import DAY, HOUR, US, Piece, day_of
from postback.domain.report import COUNTERS, TEXTS, Figures, Group, Key, ReportQuery
from postback.errors import InvalidInput
from postback.store.rollups import Cube, choose_cube

#: More groups than this is a question to narrow, not an answer to send.
MAX_GROUPS = 200_000


def _dimension(cube: Cube, name: str) -> ColumnElement[Any]:
    if cube.slot is not None and name in TEXTS:
        return cube.table.c.value
    return cube.table.c[name]


#: How the rollup rows make up the groups: summed, summed times each piece's sign, or
#: taken as they are (one row per group).
Adding = Literal["sum", "signed", "rows"]


def _adding(group_by: Sequence[str], cube: Cube, pieces: Sequence[Piece]) -> Adding:
    """Each group is one rollup row ("rows") when grouped by every key of the cube and by
    local days that are each one whole day bucket; else a sum, "signed" if one subtracts.
    Then the database reads the rows in order and adds nothing up."""
    if any(piece.sign < 0 for piece in pieces):
        return "signed"
    if "hour" in group_by or "day" not in group_by or not cube.dimensions <= set(group_by):
        return "sum"
    if pieces and all(piece.grain < 0 for piece in pieces):
        return "rows"  # a report zone's local days: one bucket per day, each its own label
    days = [
        (bucket + piece.offset) // DAY
        for piece in pieces
        if piece.grain == DAY
        for bucket in range(piece.start, piece.end, DAY)
    ]
    whole_days = len(days) == sum((p.end - p.start) // p.grain for p in pieces)
    return "rows" if whole_days and len(set(days)) == len(days) else "sum"


def _grouped(
    group_by: Sequence[str],
    cube: Cube,
    rows: Any,
    span: Any,
    source: Any,
    adding: Adding,
    postgres: bool,
    days_by_bucket: bool = False,
) -> Select[Any]:
    """Group `rows` (rollup rows joined to their piece `span`) by the query's keys, in
    key order: texts in code point order, as Python sorts them ('' first).

    `days_by_bucket`: each row's bucket is its own day, in one piece, so the rows are in
    day order when in bucket order, which the key gives without sorting them."""
    local = rows.c.bucket_at + span.offset_us
    keys: list[ColumnElement[Any]] = []
    order: list[ColumnElement[Any]] = []
    for name in group_by:
        key: ColumnElement[Any]
        if name == "day":
            key = local // (DAY * US)
            if days_by_bucket:
                keys.append(key.label(name))
                order.append(rows.c.bucket_at)
                continue
        elif name == "hour":
            key = (local // (HOUR * US)) % 24
        else:
            key = rows.c[_dimension(cube, name).name]
        keys.append(key.label(name))
        # SQLite compares texts byte by byte already; PostgreSQL by the database's locale.
        text = name == "event" or name in TEXTS
        order.append(key.collate("C") if text and postgres else key)
    # A group whose counters are all zero is no row of the answer: the database leaves
    # it out (a bucket taken out of a week can cancel a group).
    if adding == "rows":
        found = [rows.c[name] for name in COUNTERS]
        stmt = select(
            *keys, *(counter.label(name) for counter, name in zip(found, COUNTERS, strict=True))
        )
        stmt = stmt.select_from(source).where(_any_counted(found))
    else:
        # Sums stay integers; an overflow is an error. A bucket taken out of its day (sign
        # -1) subtracts what it holds; with none, no product.
        signed = adding == "signed"
        sums = [
            _total(rows.c[name] * span.sign if signed else rows.c[name], postgres)
            for name in COUNTERS
        ]
        stmt = select(
            *keys, *(total.label(name) for total, name in zip(sums, COUNTERS, strict=True))
        )
        stmt = stmt.select_from(source).group_by(*keys).having(_any_counted(sums))
    return stmt.order_by(*order).limit(MAX_GROUPS + 1)


def _any_counted(counters: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
    return or_(*(counter != 0 for counter in counters))


def _total(counter: ColumnElement[Any], postgres: bool) -> ColumnElement[Any]:
    if postgres:
        # rollup_sum (migration 0006) adds bigints as bigints: sum(bigint) accumulates in
        # numeric, and turning every group's sums back cost more than reading the rows.
        return func.rollup_sum(counter, type_=BigInteger)
    return cast(func.sum(counter), BigInteger)


def _piece_conditions(cube: Cube, span: Any) -> list[ColumnElement[bool]]:
    """A rollup row belongs to a piece: same grain, bucket inside it (and the cube's sub)."""
    table = cube.table
    conditions: list[ColumnElement[bool]] = [
        table.c.grain == span.grain,
        table.c.bucket_at >= span.start_at,
        table.c.bucket_at < span.end_at,
    ]
    if cube.slot is not None:
        conditions.append(table.c.slot == cube.slot)
    return conditions


def _wanted(dimensions: frozenset[str], cube: Cube) -> list[ColumnElement[Any]]:
    names = {_dimension(cube, name).name for name in dimensions}
    table = cube.table
    return [table.c.bucket_at, *(table.c[n] for n in sorted(names)), *table.c[COUNTERS]]


def report_select(query: ReportQuery, pieces: Sequence[Piece]) -> Select[Any]:
    """The grouped query over the rollups (SQLite): group_by keys, then the counters.

    Each piece is read as an index range (grain, bucket_at between its bounds): the
    SQLite planner does so for a plain join of the pieces to the table.
    """
    cube = choose_cube(query.dimensions)
    table = cube.table
    spans = (
        values(
            column("grain", Integer),
            column("start_at", BigInteger),
            column("end_at", BigInteger),
            column("offset_us", BigInteger),
            column("sign", Integer),
            name="pieces",
        )
        .data([(p.grain, p.start * US, p.end * US, p.offset * US, p.sign) for p in pieces])
        .cte("pieces")
    )
    conditions = _piece_conditions(cube, spans.c)
    for name, allowed in query.filters.items():
        conditions.append(_dimension(cube, name).in_(list(allowed)))
    source = table.join(spans, and_(*conditions))
    adding = _adding(query.group_by, cube, pieces)
    return _grouped(query.group_by, cube, table, spans.c, source, adding, False)


#: The statement's shape: group_by, the dimensions, the filtered ones, how rows add up,
#: and whether the report is one piece.
_Shape = tuple[tuple[str, ...], frozenset[str], tuple[str, ...], Adding, bool]


class _OnePiece:
    """The one piece of a report as scalar parameters, in place of the pieces table."""

    def __init__(self) -> None:
        for name, kind in _PIECE_COLUMNS:
            setattr(self, name, bindparam(f"p_{name}", type_=kind))


@lru_cache(maxsize=256)
def _postgres_sql(shape: _Shape, dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """The PostgreSQL report statement for one shape, compiled once: its text and the
    names of its positional parameters. The pieces and the filter values arrive as
    arrays, so the text stays the same from one report to the next (no compiling, and
    the driver's prepared statement is reused). Also the constants, by parameter name.

    The planner would rather hash-join the pieces on grain over a scan of the whole
    table, so each piece's rows come from a LATERAL subquery, which can only be a range
    read of the key (index-only where the visibility map allows). One piece (UTC days, a
    report zone's days) is read straight from the table instead: then rows that are
    groups already come in the key's order, without a sort.
    """
    group_by, dimensions, filtered, adding, single = shape
    cube = choose_cube(dimensions)
    conditions: list[ColumnElement[bool]]
    if single:
        span: Any = _OnePiece()
        conditions = _piece_conditions(cube, span)
    else:
        arrays = [
            bindparam(f"p_{name}", type_=postgresql.ARRAY(kind)) for name, kind in _PIECE_COLUMNS
        ]
        spans = (
            func.unnest(*arrays)
            .table_valued(*(name for name, _ in _PIECE_COLUMNS))
            .render_derived("pieces")
        )
        span = spans.c
        conditions = _piece_conditions(cube, span)
    for name in filtered:
        target = _dimension(cube, name)
        allowed = bindparam(f"f_{name}", type_=postgresql.ARRAY(target.type))
        conditions.append(target == any_(allowed))
    rows: Any
    source: Any
    if single:
        rows = source = select(*_wanted(dimensions, cube)).where(*conditions).subquery("r")
    else:
        # OFFSET 0 keeps the planner from flattening the subquery back into a join.
        rows = select(*_wanted(dimensions, cube)).where(*conditions).offset(0).lateral("r")
        source = spans.join(rows, true())
    by_bucket = single and adding == "rows"
    grouped = _grouped(group_by, cube, rows, span, source, adding, True, by_bucket)
    compiled = grouped.compile(dialect=dialect)
    # Constants of the statement (the slot, the period, the limit) are parameters too.
    fixed = {name: value for name, value in compiled.params.items() if value is not None}
    return str(compiled), tuple(compiled.positiontup or ()), fixed


_PIECE_COLUMNS = (
    ("grain", Integer()),
    ("start_at", BigInteger()),
    ("end_at", BigInteger()),
    ("offset_us", BigInteger()),
    ("sign", Integer()),
)


def postgres_report(
    query: ReportQuery, pieces: Sequence[Piece], dialect: Dialect
) -> tuple[str, list[Any]]:
    """The PostgreSQL report statement and its positional arguments (for the driver)."""
    filtered = tuple(sorted(query.filters))
    adding = _adding(query.group_by, choose_cube(query.dimensions), pieces)
    single = len(pieces) == 1
    shape = (query.group_by, frozenset(query.dimensions), filtered, adding, single)
    sql, names, fixed = _postgres_sql(shape, dialect)
    columns = {
        "p_grain": [p.grain for p in pieces],
        "p_start_at": [p.start * US for p in pieces],
        "p_end_at": [p.end * US for p in pieces],
        "p_offset_us": [p.offset * US for p in pieces],
        "p_sign": [p.sign for p in pieces],
    }
    arguments: dict[str, Any] = {
        **fixed,
        **({name: values[0] for name, values in columns.items()} if single else columns),
    }
    for name in filtered:
        arguments[f"f_{name}"] = sorted(query.filters[name])
    return sql, [arguments[name] for name in names]


def read_groups(query: ReportQuery, found: Sequence[Any]) -> tuple[list[Group], Figures]:
    """The query's rows (in key order, none all zeros) as groups, and their totals. A
    missing event or sub ('') becomes None; a day, its ISO date.

    Built by C loops over the rows (zip, map, tuple.__new__): no Python code runs
    per row, only per column that needs its values changed.
    """
    if len(found) > MAX_GROUPS:
        raise InvalidInput(
            "group_by",
            f"more than {MAX_GROUPS} rows: group by fewer keys, filter, or shorten the range",
        )
    if not found:
        return [], Figures()
    width = len(query.group_by)
    columns = list(zip(*found, strict=True))
    counters = columns[width:]
    rows: Iterable[Sequence[Any]] = found
    if _REWRITTEN.intersection(query.group_by):
        keys = map(_read_keys, query.group_by, columns)
        rows = zip(*keys, *counters, strict=True)
    return list(map(_new, repeat(Group), rows)), _new(Figures, map(sum, counters))


# A tuple subclass built from an iterable without its __new__: no Python call per row.
_new: Any = tuple.__new__


#: Keys whose stored values the answer shows otherwise: a day's number as its date, a
#: missing event, sub, country, device, os or browser ('') as None.
_REWRITTEN = frozenset({"day", "event", *TEXTS})


def _read_keys(name: str, found: Sequence[Any]) -> Sequence[Key]:
    """One key column as the answer shows it (see _REWRITTEN)."""
    if name == "day":
        dates = {label: day_of(label).isoformat() for label in set(found)}
        return list(map(dates.__getitem__, found))
    if name in _REWRITTEN:
        return [value or None for value in found]
    return found
