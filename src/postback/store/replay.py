"""Replaying a postback config: send again what it owed for conversions of a period, and
what it would have owed had it existed then (a config added later, or switched off)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, select, update

from postback.domain.records import PostbackConfig
from postback.errors import NotFound
from postback.store import rows
from postback.store.clicks import find_clicks
from postback.store.postbacks import insert_deliveries
from postback.store.schema import conversions, deliveries, offers, postback_configs


def replay_config(
    conn: Connection, postback_id: int, since: datetime, until: datetime | None, now: datetime
) -> tuple[int, int]:
    found = conn.execute(
        select(postback_configs).where(
            postback_configs.c.id == postback_id, postback_configs.c.deleted_at.is_(None)
        )
    ).first()
    if found is None:
        raise NotFound(f"no postback {postback_id}")
    config = rows.postback_config(found)
    now_us = rows.to_us(now)
    period = [conversions.c.created_at >= rows.to_us(since)]
    if until is not None:
        period.append(conversions.c.created_at < rows.to_us(until))
    in_period = select(conversions.c.id).where(*period)
    # A delivered postback whose body retention removed is rendered again, as new.
    whole = deliveries.c.body_purged_at.is_(None)
    requeued = conn.execute(
        update(deliveries)
        .where(
            deliveries.c.postback_id == postback_id,
            deliveries.c.conversion_id.in_(in_period),
            whole,
        )
        .values(state="pending", next_attempt_at=now_us, claimed_until=None, updated_at=now_us)
    ).rowcount

    delivered = select(deliveries.c.conversion_id).where(
        deliveries.c.postback_id == postback_id, whole
    )
    missing = select(conversions).where(*period, conversions.c.id.not_in(delivered))
    if config.affiliate_id is not None:
        missing = missing.where(conversions.c.affiliate_id == config.affiliate_id)
    if config.offer_id is not None:
        missing = missing.where(conversions.c.offer_id == config.offer_id)
    created = 0
    # Rendered as for an active config: a replay is asked for on purpose.
    active = config if config.active else _switched_on(config)
    for row in conn.execute(missing.order_by(conversions.c.id)).all():
        conversion = rows.conversion(row)
        click = find_clicks(conn, [conversion.click_id]).get(conversion.click_id)
        offer_row = conn.execute(select(offers).where(offers.c.id == conversion.offer_id)).first()
        if click is None or offer_row is None:
            continue
        created += insert_deliveries(conn, [active], conversion, click, rows.offer(offer_row), now)
    return int(requeued), created


def _switched_on(config: PostbackConfig) -> PostbackConfig:
    return replace(config, active=True)
