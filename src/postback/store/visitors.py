"""Unique clicks: a click is unique unless the same visitor (a keyed hash of IP and
User-Agent) clicked the same offer within the unique window before it. The database
decides, in the click batch's transaction, so the count is exact whatever the number of
server processes: one upsert per batch returns, for each visitor and offer, the click
before this batch's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from postback.domain.records import Click
from postback.store import rows
from postback.store.schema import click_visitors

Key = tuple[str, int]
DEFAULT_UNIQUE_WINDOW_US = 86_400 * 1_000_000


def unique_flags(conn: Connection, batch: Sequence[Click], window_us: int) -> list[bool]:
    """Whether each click of the batch is unique; records the batch's clicks as each
    visitor's latest on its offer. Clicks without a visitor (no address and no browser
    to tell them by) count as unique."""
    flags = [True] * len(batch)
    groups: dict[Key, list[int]] = {}
    for n, click in enumerate(batch):
        if click.visitor is not None:
            groups.setdefault((click.visitor, click.offer_id), []).append(n)
    if not groups:
        return flags
    times = [rows.to_us(click.created_at) for click in batch]
    for members in groups.values():
        members.sort(key=lambda n: times[n])
    # In key order: two batches upserting the same visitors lock them in one order.
    values = [
        {"visitor": key[0], "offer_id": key[1], "last_at": times[members[-1]], "previous_at": None}
        for key, members in sorted(groups.items())
    ]
    upsert = _POSTGRES_UPSERT if conn.dialect.name == "postgresql" else _SQLITE_UPSERT
    # Many parameter sets for one statement: compiled once, sent as multi-row VALUES
    # (SQLAlchemy's insertmanyvalues), the RETURNING rows of every set together.
    found = conn.execute(upsert, values)
    before = {(row.visitor, row.offer_id): row.previous_at for row in found}
    for key, members in groups.items():
        last = before.get(key)
        for n in members:
            flags[n] = last is None or times[n] - last >= window_us
            last = times[n] if last is None else max(last, times[n])
    return flags


def _upsert(dialect: Any) -> Any:
    stmt = dialect.insert(click_visitors)
    table = click_visitors.c
    # A batch written late (two in flight) must not move the latest click back in time.
    latest = case(
        (table.last_at > stmt.excluded.last_at, table.last_at), else_=stmt.excluded.last_at
    )
    return stmt.on_conflict_do_update(
        index_elements=[table.visitor, table.offer_id],
        set_={"previous_at": table.last_at, "last_at": latest},
    ).returning(table.visitor, table.offer_id, table.previous_at)


_POSTGRES_UPSERT = _upsert(postgresql)
_SQLITE_UPSERT = _upsert(sqlite)
