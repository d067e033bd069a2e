"""Rollup changes on PostgreSQL: appended by the writers, folded in by one process at a time.

Concurrent postbacks of one affiliate on one day change the same rollup rows; written
straight into the rollups, each transaction would wait for the one before to commit.
Instead a writing transaction appends its summed changes as one row of `rollup_pending`
(an insert: concurrent writers share no row), and a fold moves pending rows into the
rollups: it deletes them and adds what they hold in one transaction, so a crash leaves
each change either pending or folded, never both or neither. One fold runs at a time
(a transaction-scoped advisory lock): the rollup rows have a single writer. Any process
folds: serve and worker processes every FOLD_INTERVAL, and a report before it reads, so
it counts every click and postback acknowledged before it was asked for.

SQLite has one writer at a time anyway: its transactions write the rollups directly.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, text

from postback.store.rollups import Deltas
from postback.store.schema import rollup_pending

#: Any constant shared by every process (the migrations' lock is another).
FOLD_LOCK = 0x726F6C6C7570
#: Pending rows taken per fold; each holds one transaction's changes, summed.
FOLD_BATCH = 2000
#: Seconds between two folds of a process when nothing asks for one.
FOLD_INTERVAL = 0.25

_TAKE = text(
    "DELETE FROM rollup_pending WHERE id IN "
    "(SELECT id FROM rollup_pending ORDER BY id LIMIT :limit) RETURNING cells"
)


def record(conn: Connection, deltas: Deltas) -> None:
    """The rollup changes of the caller's transaction: pending on PostgreSQL, in the
    rollups at once on SQLite."""
    if not deltas:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(insert(rollup_pending), {"cells": deltas.encode()})
    else:
        deltas.write(conn)


def fold(conn: Connection, *, wait: bool, limit: int = FOLD_BATCH) -> int | None:
    """Fold up to `limit` pending rows in the caller's transaction; the number folded, or
    None when another transaction is folding and `wait` is False."""
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FOLD_LOCK})
    elif not conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FOLD_LOCK}
    ).scalar_one():
        return None
    taken = conn.execute(_TAKE, {"limit": limit}).scalars().all()
    deltas = Deltas()
    for cells in taken:
        deltas.add_encoded(cells)
    deltas.write(conn)
    return len(taken)


def fold_all(conn: Connection) -> None:
    """Fold everything pending, waiting for a fold under way (PostgreSQL; nothing is
    pending on SQLite)."""
    if conn.dialect.name != "postgresql":
        return
    while fold(conn, wait=True) == FOLD_BATCH:
        pass
