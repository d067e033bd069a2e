"""Retention's deletes, one small batch per transaction (store/sql_purge.py runs them).

Each step removes at most `limit` rows that are older than their kind's cutoff and
answers how many went, so no transaction holds the write lock (SQLite) or many row locks
(PostgreSQL) for long, and a purge stopped anywhere (even killed) leaves whole batches:
the next purge carries on where it stopped. Clicks with a conversion are first copied to
`kept_clicks` (without the visitor's address, User-Agent, referrer and hash) in the same
transaction that deletes them: a conversion keeps its click's subs, place, device and
time, and a click is never gone without its copy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    BindParameter,
    Column,
    Connection,
    bindparam,
    delete,
    exists,
    func,
    insert,
    null,
    select,
    text,
    tuple_,
    update,
)

from postback.domain.conversion import ATTRIBUTION_DAYS
from postback.store.schema import (
    click_visitors,
    clicks,
    conversions,
    deliveries,
    delivery_attempts,
    incoming_log,
    kept_clicks,
    offers,
    postback_tests,
)

#: Rows removed per transaction.
BATCH = 2_000

#: What a kept click no longer says of its visitor.
FORGOTTEN = frozenset({"ip", "user_agent", "referrer", "visitor"})

_IDS: BindParameter[list[Any]] = bindparam("ids", expanding=True)
_KEPT_COLUMNS = [column.name for column in kept_clicks.columns]
_KEEP = insert(kept_clicks).from_select(
    _KEPT_COLUMNS,
    select(
        *(null().label(name) if name in FORGOTTEN else clicks.c[name] for name in _KEPT_COLUMNS)
    ).where(
        clicks.c.click_id.in_(_IDS),
        exists().where(conversions.c.click_id == clicks.c.click_id),
    ),
)
# Literal, so that both databases match the partial index it is written for.
_DELIVERED_WITH_BODY = text("deliveries.state = 'delivered' AND deliveries.body IS NOT NULL")


@dataclass
class Purged:
    """Rows removed (or, in a dry run, that would be) per kind."""

    clicks: int = 0
    kept_clicks: int = 0  # of those clicks, copied for their conversions
    visitors: int = 0  # unique-click memories past the unique window
    incoming: int = 0
    attempts: int = 0
    tests: int = 0  # the Test button's sends, with the attempts
    bodies: int = 0  # delivered postbacks' bodies

    def add(self, other: Purged) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    @property
    def total(self) -> int:
        return sum(getattr(self, item.name) for item in fields(self) if item.name != "kept_clicks")


def longest_window(conn: Connection) -> int:
    """The longest attribution window of any offer, in days (the default without one)."""
    found = conn.execute(select(func.max(offers.c.attribution_days))).scalar()
    return int(found) if found is not None else ATTRIBUTION_DAYS


def _oldest(
    conn: Connection, key: Column[object], time: Column[int], before: int, limit: int
) -> list[object]:
    query = select(key).where(time < before).order_by(time).limit(limit)
    return list(conn.execute(query).scalars())


def purge_clicks(conn: Connection, before: int, limit: int = BATCH) -> Purged:
    ids = _oldest(conn, clicks.c.click_id, clicks.c.created_at, before, limit)
    if not ids:
        return Purged()
    kept = conn.execute(_KEEP, {"ids": ids}).rowcount
    gone = conn.execute(delete(clicks).where(clicks.c.click_id.in_(_IDS)), {"ids": ids}).rowcount
    return Purged(clicks=gone, kept_clicks=kept)


_VISITOR_KEY = tuple_(click_visitors.c.visitor, click_visitors.c.offer_id)

VisitorKey = tuple[str, int]


def stale_visitors(
    conn: Connection, before: int, after: VisitorKey | None, limit: int = BATCH
) -> tuple[list[VisitorKey], VisitorKey | None]:
    """One page of the unique-click memories in key order after `after`: those last seen
    before `before`, and the next page's start (None: the end). Read outside any write:
    a memory older than the unique window decides nothing (without it the next click is
    unique as well), so most pages remove nothing."""
    page = select(click_visitors.c.visitor, click_visitors.c.offer_id, click_visitors.c.last_at)
    if after is not None:
        page = page.where(tuple_(*after) < _VISITOR_KEY)
    found = conn.execute(page.order_by(*_VISITOR_KEY.clauses).limit(limit)).all()
    stale = [(row.visitor, row.offer_id) for row in found if row.last_at < before]
    following = (found[-1].visitor, found[-1].offer_id) if len(found) == limit else None
    return stale, following


def purge_visitors(conn: Connection, stale: list[VisitorKey], before: int) -> Purged:
    # Checked again as they go: a click may have just come back.
    gone = conn.execute(
        delete(click_visitors).where(_VISITOR_KEY.in_(stale), click_visitors.c.last_at < before)
    )
    return Purged(visitors=gone.rowcount)


def purge_incoming(conn: Connection, before: int, limit: int = BATCH) -> Purged:
    ids = _oldest(conn, incoming_log.c.id, incoming_log.c.received_at, before, limit)
    if not ids:
        return Purged()
    gone = conn.execute(delete(incoming_log).where(incoming_log.c.id.in_(_IDS)), {"ids": ids})
    return Purged(incoming=gone.rowcount)


def purge_attempts(
    conn: Connection, before: int | None, tests_before: int, limit: int = BATCH
) -> Purged:
    """Delivery attempts started before `before` (None: none; see sql_purge) and the Test
    button's sends before `tests_before`."""
    gone = 0
    if before is not None:
        table = delivery_attempts
        ids = _oldest(conn, table.c.id, table.c.started_at, before, limit)
        if ids:
            gone = conn.execute(delete(table).where(table.c.id.in_(_IDS)), {"ids": ids}).rowcount
    tests = _oldest(conn, postback_tests.c.id, postback_tests.c.started_at, tests_before, limit)
    sent = 0
    if tests:
        table = postback_tests
        sent = conn.execute(delete(table).where(table.c.id.in_(_IDS)), {"ids": tests}).rowcount
    return Purged(attempts=gone, tests=sent)


def purge_bodies(conn: Connection, before: int, now: int, limit: int = BATCH) -> Purged:
    """Delivered postbacks last changed before `before` lose their bodies (GET ones have
    none: their URL says it all); a resend of one is then refused."""
    ids = list(
        conn.execute(
            select(deliveries.c.id)
            .where(_DELIVERED_WITH_BODY, deliveries.c.updated_at < before)
            .order_by(deliveries.c.updated_at)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return Purged()
    gone = conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(_IDS), _DELIVERED_WITH_BODY, deliveries.c.updated_at < before)
        .values(body=None, body_purged_at=now),
        {"ids": ids},
    )
    return Purged(bodies=gone.rowcount)


def count_due(
    conn: Connection,
    clicks_before: int | None,
    visitors_before: int | None,
    incoming_before: int | None,
    attempts_before: int | None,
    tests_before: int | None,
) -> Purged:
    """What a purge with these cutoffs would remove now (a dry run)."""

    def count(table: object, *where: object) -> int:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]

    due = Purged()
    if clicks_before is not None:
        old = clicks.c.created_at < clicks_before
        due.clicks = count(clicks, old)
        due.kept_clicks = count(
            clicks, old, exists().where(conversions.c.click_id == clicks.c.click_id)
        )
    if visitors_before is not None:
        due.visitors = count(click_visitors, click_visitors.c.last_at < visitors_before)
    if incoming_before is not None:
        due.incoming = count(incoming_log, incoming_log.c.received_at < incoming_before)
    if attempts_before is not None:
        due.attempts = count(delivery_attempts, delivery_attempts.c.started_at < attempts_before)
    if tests_before is not None:
        due.tests = count(postback_tests, postback_tests.c.started_at < tests_before)
        due.bodies = count(deliveries, _DELIVERED_WITH_BODY, deliveries.c.updated_at < tests_before)
    return due
