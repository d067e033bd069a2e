"""Finding clicks by id: stored, or kept for their conversions once purged
(store/purge.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, select

from postback.domain.records import Click
from postback.store import rows
from postback.store.schema import clicks, kept_clicks

_IDS: BindParameter[list[Any]] = bindparam("ids", expanding=True)
FIND_CLICKS = select(clicks).where(clicks.c.click_id.in_(_IDS))
FIND_KEPT_CLICKS = select(kept_clicks).where(kept_clicks.c.click_id.in_(_IDS))


def find_clicks(conn: Connection, click_ids: Sequence[str]) -> dict[str, Click]:
    """The clicks of these ids that exist, by id: stored, or kept for their conversions
    once purged (store/purge.py)."""
    wanted = sorted(set(click_ids))
    found = {row.click_id: rows.click(row) for row in conn.execute(FIND_CLICKS, {"ids": wanted})}
    if len(found) < len(wanted):
        missing = [click_id for click_id in wanted if click_id not in found]
        kept = conn.execute(FIND_KEPT_CLICKS, {"ids": missing})
        found.update((row.click_id, rows.click(row)) for row in kept)
    return found
