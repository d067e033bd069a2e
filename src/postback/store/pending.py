"""Rollup changes on PostgreSQL: appended by the writers, folded in by one process at a time.

Concurrent postbacks of one affiliate on one day change the same rollup rows; written
straight into the rollups, each transaction would wait for the one before to commit.
Instead a writing transaction appends its summed changes as one row of `rollup_pending`
(an insert: concurrent writers share no row), and a fold moves pending rows into the
rollups, the oldest first and a few megabytes at a time (a backlog becomes several
folds, never one statement too large): it deletes them and adds what they hold in one
transaction, so a crash leaves each change either pending or folded, never both or
neither. One fold runs at a time (a transaction-scoped advisory lock): the rollup rows
have a single writer. Any process folds: serve and worker processes every
FOLD_INTERVAL, and a report before it reads, so it counts every click and postback
acknowledged before it was asked for.

SQLite has one writer at a time anyway: its transactions write the rollups directly.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, insert, text

from postback.store.rollups import Deltas
from postback.store.schema import rollup_pending

#: Any constant shared by every process (the migrations' lock is another).
FOLD_LOCK = 0x726F6C6C7570
#: Pending rows taken per fold; each holds one transaction's changes, summed.
FOLD_BATCH = 2000
#: Encoded changes taken per fold, at most (and at least one row): a backlog of large
#: rows (bulk loads, folders stopped a while) must not become one statement too large
#: for the driver or for memory.
FOLD_BYTES = 8 * 1024 * 1024
#: Seconds between two folds of a process when nothing asks for one.
FOLD_INTERVAL = 0.25

_SIZES = text("SELECT id, octet_length(cells) FROM rollup_pending ORDER BY id LIMIT :limit")
_TAKE = text("DELETE FROM rollup_pending WHERE id = ANY(:ids) RETURNING cells")


def record(conn: Connection, deltas: Deltas) -> None:
    """The rollup changes of the caller's transaction: pending on PostgreSQL, in the
    rollups at once on SQLite."""
    if not deltas:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(insert(rollup_pending), {"cells": deltas.encode()})
    else:
        deltas.write(conn)


class Folded(NamedTuple):
    """What a fold took: how many pending rows, and whether more were left waiting."""

    rows: int
    more: bool


def fold(
    conn: Connection, *, wait: bool, limit: int = FOLD_BATCH, max_bytes: int = FOLD_BYTES
) -> Folded | None:
    """Fold the oldest pending rows in the caller's transaction: up to `limit` of them
    and `max_bytes` of changes (at least one row); None when another transaction is
    folding and `wait` is False."""
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FOLD_LOCK})
    elif not conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FOLD_LOCK}
    ).scalar_one():
        return None
    waiting = conn.execute(_SIZES, {"limit": limit + 1}).all()
    ids: list[int] = []
    size = 0
    for row_id, length in waiting[:limit]:
        size += length
        if ids and size > max_bytes:
            break
        ids.append(row_id)
    if not ids:
        return Folded(0, more=False)
    taken = conn.execute(_TAKE, {"ids": ids}).scalars().all()
    deltas = Deltas()
    for cells in taken:
        deltas.add_encoded(cells)
    deltas.write(conn)
    return Folded(len(taken), more=len(waiting) > len(ids))


def fold_all(conn: Connection) -> None:
    """Fold everything pending, waiting for a fold under way (PostgreSQL; nothing is
    pending on SQLite)."""
    if conn.dialect.name != "postgresql":
        return
    while True:
        folded = fold(conn, wait=True)
        if folded is None or not folded.more:
            return
