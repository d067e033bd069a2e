"""Counting the stored clicks and conversions into empty rollups, page by page.

A migration that changes what the rollups keep empties them and counts the raw rows
again with the same code that keeps them up to date afterwards (store/rollups.py), in
its own transaction: the rollups then hold exactly what the rows say, in every grain and
in the local days of every registered report zone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from postback.domain.report import TEXTS, click_figures, conversion_figures
from postback.store.rollups import Change, Deltas, Texts, texts_of
from postback.store.schema import clicks, conversions

#: Rows read per page (and counted per rollup write).
PAGE = 20_000


def _texts(row: Row[Any], first: int) -> Texts:
    """The texts of a row whose columns from `first` on are those of TEXTS."""
    found = tuple(row)[first : first + len(TEXTS)]
    return texts_of(found[:5], *found[5:])


def count_clicks(conn: Connection, page: int = PAGE) -> None:
    columns = [
        clicks.c.click_id,
        clicks.c.offer_id,
        clicks.c.affiliate_id,
        clicks.c.created_at,
        clicks.c.is_unique,
        clicks.c.is_bot,
        clicks.c.cost,
        *(clicks.c[name] for name in TEXTS),
    ]
    after = ""
    while True:
        found = conn.execute(
            select(*columns)
            .where(clicks.c.click_id > after)
            .order_by(clicks.c.click_id)
            .limit(page)
        ).all()
        if not found:
            return
        deltas = Deltas()
        for row in found:
            figures = click_figures(row.is_unique, row.is_bot, row.cost or 0)
            texts = _texts(row, 7)
            deltas.add(Change(row.offer_id, row.affiliate_id, "", texts, row.created_at, figures))
        deltas.write(conn)
        after = found[-1].click_id


def count_conversions(conn: Connection, page: int = PAGE) -> None:
    columns = [
        conversions.c.id,
        conversions.c.offer_id,
        conversions.c.affiliate_id,
        conversions.c.event,
        conversions.c.status,
        conversions.c.revenue,
        conversions.c.payout,
        conversions.c.created_at,
        *(clicks.c[name] for name in TEXTS),
    ]
    source = conversions.outerjoin(clicks, clicks.c.click_id == conversions.c.click_id)
    after = 0
    while True:
        found = conn.execute(
            select(*columns)
            .select_from(source)
            .where(conversions.c.id > after)
            .order_by(conversions.c.id)
            .limit(page)
        ).all()
        if not found:
            return
        deltas = Deltas()
        for row in found:
            figures = conversion_figures(row.status, row.revenue, row.payout)
            texts = _texts(row, 8)
            change = Change(
                row.offer_id, row.affiliate_id, row.event, texts, row.created_at, figures
            )
            deltas.add(change)
        deltas.write(conn)
        after = found[-1].id


def count_all(conn: Connection, page: int = PAGE) -> None:
    """Count every stored click and conversion into the (empty) rollups."""
    count_clicks(conn, page)
    count_conversions(conn, page)
