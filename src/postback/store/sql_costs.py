"""Traffic costs reported afterwards (domain/costs.py): each row sets the costs of the
clicks it matches, and the rollups gain the difference, in one transaction per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, select, update

from postback.domain.costs import CostRow, day_span, shares
from postback.domain.money import to_units
from postback.domain.report import SUBS, TEXTS, Figures
from postback.store import pending, rows
from postback.store.rollups import Change, Deltas, texts_of
from postback.store.schema import clicks
from postback.store.sql_base import SqlBase

#: Click ids per UPDATE statement.
_IDS_PER_UPDATE = 2_000
_SET_COST = (
    update(clicks)
    .where(clicks.c.click_id.in_(bindparam("ids", expanding=True)))
    .values(cost=bindparam("cost"))
)


def apply_cost(conn: Connection, row: CostRow, start_us: int, end_us: int) -> int:
    """Set the costs of the clicks `row` matches (those of its offer and affiliate made in
    [start_us, end_us), with its subs where it names them); the number matched."""
    conditions = [
        clicks.c.offer_id == row.offer_id,
        clicks.c.affiliate_id == row.affiliate_id,
        clicks.c.created_at >= start_us,
        clicks.c.created_at < end_us,
    ]
    conditions += [
        clicks.c[name] == value for name, value in zip(SUBS, row.subs, strict=True) if value
    ]
    found = conn.execute(
        select(
            clicks.c.click_id,
            clicks.c.created_at,
            clicks.c.cost,
            *(clicks.c[name] for name in TEXTS),
        )
        .where(*conditions)
        .order_by(clicks.c.click_id)
        # Two imports over the same clicks take turns: each reads the costs it replaces.
        .with_for_update()
    ).all()
    if not found:
        return 0
    deltas = Deltas()
    by_cost: dict[int, list[str]] = defaultdict(list)
    for click, cost in zip(found, shares(to_units(row.amount), len(found)), strict=True):
        before = click.cost or 0
        if cost == before and click.cost is not None:
            continue
        by_cost[cost].append(click.click_id)
        texts = texts_of(tuple(click)[3:8], *tuple(click)[8:])
        figures = Figures(cost=cost - before)
        deltas.add(Change(row.offer_id, row.affiliate_id, "", texts, click.created_at, figures))
    for cost, ids in by_cost.items():
        for index in range(0, len(ids), _IDS_PER_UPDATE):
            conn.execute(_SET_COST, {"ids": ids[index : index + _IDS_PER_UPDATE], "cost": cost})
    pending.record(conn, deltas)
    return len(found)


class CostsMixin(SqlBase):
    """Costs imported afterwards."""

    async def apply_costs(self, cost_rows: Sequence[CostRow], tz: str = "UTC") -> list[int]:
        """Apply each row in turn, each in a transaction of its own (a row applied again
        changes nothing); the clicks each matched."""
        matched = []
        for row in cost_rows:
            start, end = day_span(row.day, tz)
            async with self._write() as conn:
                count = await conn.run_sync(apply_cost, row, rows.to_us(start), rows.to_us(end))
            matched.append(count)
        return matched
