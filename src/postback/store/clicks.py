"""Finding clicks by id: stored, or kept for their conversions once purged
(store/purge.py).

On PostgreSQL the clicks are partitioned by day (store/partitions.py) and a lookup by id
alone probes every day's index. An id made by `new_click_id` ends with its day, so the
ids of a batch are first looked for each in its own day's partition, in one statement;
only those not found there (an id without a day, or a day that is not the click's) are
looked for everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, select, text

from postback.domain.ids import click_day
from postback.domain.records import Click
from postback.store import rows
from postback.store.schema import clicks, kept_clicks

_IDS: BindParameter[list[Any]] = bindparam("ids", expanding=True)
FIND_CLICKS = select(clicks).where(clicks.c.click_id.in_(_IDS))
FIND_KEPT_CLICKS = select(kept_clicks).where(kept_clicks.c.click_id.in_(_IDS))
DAY_US = 86_400_000_000
_EPOCH = date(1970, 1, 1)
# PostgreSQL: each id looked for within its own day, so each probe prunes to that day's
# partition at run time; one statement text whatever the batch, prepared once (its plan
# cached). OFFSET 0 keeps the subquery a probe per id: flattened into a join, the planner
# may scan every day instead.
_FIND_IN_DAY = text(
    "SELECT * FROM clicks WHERE click_id = ANY(CAST(:ids AS varchar[]))"
    " AND created_at >= :start AND created_at < :start + 86400000000"  # DAY_US
)
_FIND_IN_DAYS = text(
    "SELECT found.* FROM unnest(CAST(:ids AS varchar[]), CAST(:starts AS bigint[]))"
    " AS wanted(click_id, day_start) CROSS JOIN LATERAL ("
    " SELECT * FROM clicks WHERE clicks.click_id = wanted.click_id"
    " AND clicks.created_at >= wanted.day_start"
    " AND clicks.created_at < wanted.day_start + 86400000000 OFFSET 0) AS found"  # DAY_US
)


def find_clicks(
    conn: Connection, click_ids: Sequence[str], by_day: bool = False
) -> dict[str, Click]:
    """The clicks of these ids that exist, by id: stored, or kept for their conversions
    once purged. `by_day`: look in each id's own day first (partitioned clicks)."""
    wanted = sorted(set(click_ids))
    found: dict[str, Click] = {}
    if by_day:
        found = _in_their_days(conn, wanted)
    missing = [click_id for click_id in wanted if click_id not in found]
    if missing:
        stored = conn.execute(FIND_CLICKS, {"ids": missing})
        found.update((row.click_id, rows.click(row)) for row in stored)
    if len(found) < len(wanted):
        missing = [click_id for click_id in wanted if click_id not in found]
        kept = conn.execute(FIND_KEPT_CLICKS, {"ids": missing})
        found.update((row.click_id, rows.click(row)) for row in kept)
    return found


def _in_their_days(conn: Connection, click_ids: Sequence[str]) -> dict[str, Click]:
    dated = [(click_id, click_day(click_id)) for click_id in click_ids]
    ids = [click_id for click_id, day in dated if day is not None]
    if not ids:
        return {}
    starts = [(day - _EPOCH).days * DAY_US for _, day in dated if day is not None]
    if len(set(starts)) == 1:
        # One day (a lone postback, most batches): pruned as the statement starts, so
        # only that day's partition is opened at all.
        found = conn.execute(_FIND_IN_DAY, {"ids": ids, "start": starts[0]})
    else:
        found = conn.execute(_FIND_IN_DAYS, {"ids": ids, "starts": starts})
    return {row.click_id: rows.click(row) for row in found}
