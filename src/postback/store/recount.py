"""Counting the stored clicks and conversions into empty rollups, page by page.

A migration that changes what the rollups keep empties them and counts the raw rows
again with the same code that keeps them up to date afterwards (store/rollups.py), in
its own transaction: the rollups then hold exactly what the rows say, in every grain and
in the local days of every registered report zone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Row, Select, func, inspect, select

from postback.domain.report import TEXTS, click_figures, conversion_figures
from postback.store.rollups import Change, Deltas, Texts, texts_of
from postback.store.schema import clicks, conversions, kept_clicks

#: Rows read per page (and counted per rollup write).
PAGE = 20_000


def _texts(row: Row[Any], first: int) -> Texts:
    """The texts of a row whose columns from `first` on are those of TEXTS."""
    found = tuple(row)[first : first + len(TEXTS)]
    return texts_of(found[:5], *found[5:])


def _count_pages(
    conn: Connection,
    query: Select[Any],
    key: Column[Any],
    start: Any,
    change: Callable[[Row[Any]], Change],
    page: int,
) -> None:
    """Every row of `query` in `key` order, a page at a time, each page's changes written
    to the rollups together."""
    after = start
    while True:
        found = conn.execute(query.where(key > after).order_by(key).limit(page)).all()
        if not found:
            return
        deltas = Deltas()
        for row in found:
            deltas.add(change(row))
        deltas.write(conn)
        after = found[-1][0]


def _click_change(row: Row[Any]) -> Change:
    figures = click_figures(row.is_unique, row.is_bot, row.cost or 0)
    return Change(row.offer_id, row.affiliate_id, "", _texts(row, 7), row.created_at, figures)


def _conversion_change(row: Row[Any]) -> Change:
    figures = conversion_figures(row.status, row.revenue, row.payout)
    texts = _texts(row, 8)
    return Change(row.offer_id, row.affiliate_id, row.event, texts, row.created_at, figures)


def count_clicks(conn: Connection, page: int = PAGE) -> None:
    query = select(
        clicks.c.click_id,
        clicks.c.offer_id,
        clicks.c.affiliate_id,
        clicks.c.created_at,
        clicks.c.is_unique,
        clicks.c.is_bot,
        clicks.c.cost,
        *(clicks.c[name] for name in TEXTS),
    )
    _count_pages(conn, query, clicks.c.click_id, "", _click_change, page)


def count_conversions(conn: Connection, page: int = PAGE) -> None:
    joined = conversions.outerjoin(clicks, clicks.c.click_id == conversions.c.click_id)
    texts: list[ColumnElement[Any]] = [clicks.c[name] for name in TEXTS]
    # A purged click's texts are kept for its conversions (from migration 0014 on).
    if inspect(conn).has_table(kept_clicks.name):
        joined = joined.outerjoin(kept_clicks, kept_clicks.c.click_id == conversions.c.click_id)
        texts = [func.coalesce(clicks.c[name], kept_clicks.c[name]) for name in TEXTS]
    query = select(
        conversions.c.id,
        conversions.c.offer_id,
        conversions.c.affiliate_id,
        conversions.c.event,
        conversions.c.status,
        conversions.c.revenue,
        conversions.c.payout,
        conversions.c.created_at,
        *texts,
    ).select_from(joined)
    _count_pages(conn, query, conversions.c.id, 0, _conversion_change, page)


def count_all(conn: Connection, page: int = PAGE) -> None:
    """Count every stored click and conversion into the (empty) rollups."""
    count_clicks(conn, page)
    count_conversions(conn, page)
