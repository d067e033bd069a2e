"""Alert checks in one transaction per round: due rules are locked (SKIP LOCKED on
PostgreSQL, so several workers never check one rule at once), measured, moved to their
next state, and each change recorded as an incident in the same transaction. So an
incident is recorded exactly once however many workers run; sending it to the webhook
is a leased job of its own (`claim_notifications`, `finish_notification`).

Written against a synchronous connection, run through `AsyncConnection.run_sync`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from postback.domain import alerts as rules
from postback.domain.records import Alert, Incident
from postback.store import pending, rows
from postback.store.schema import (
    alert_incidents,
    alerts,
    conversion_history,
    conversions,
    deliveries,
    delivery_attempts,
    incoming_log,
    rollup_base,
)

# Click counts come from the quarter-hour rollups overlapping the window.
CLICK_GRAIN_SECONDS = 900
NOTIFY_BATCH = 20


def measure(conn: Connection, alert: Alert, now: datetime) -> rules.Measurement:
    since = rows.to_us(rules.window_start(alert, now))
    if alert.kind == "no_conversions":
        return _no_conversions(conn, alert, since)
    if alert.kind == "delivery_failures":
        attempt = delivery_attempts.c
        failed = func.coalesce(func.sum(case((attempt.success.is_(False), 1), else_=0)), 0)
        stmt = (
            select(func.count(), failed)
            .select_from(delivery_attempts.join(deliveries, deliveries.c.id == attempt.delivery_id))
            .where(deliveries.c.postback_id == alert.postback_id, attempt.started_at >= since)
        )
        total, failures = conn.execute(stmt).one()
        return rules.Measurement(attempts=int(total), failures=int(failures))
    stmt = select(func.count()).where(
        incoming_log.c.result == "bad_token", incoming_log.c.received_at >= since
    )
    return rules.Measurement(refusals=int(conn.execute(stmt).scalar_one()))


def _no_conversions(conn: Connection, alert: Alert, since: int) -> rules.Measurement:
    rollup = rollup_base.c
    clicks = select(func.coalesce(func.sum(rollup.clicks), 0)).where(
        rollup.grain == CLICK_GRAIN_SECONDS,
        rollup.bucket_at > since - CLICK_GRAIN_SECONDS * 1_000_000,
    )
    approved = (
        select(func.count())
        .select_from(
            conversion_history.join(
                conversions, conversions.c.id == conversion_history.c.conversion_id
            )
        )
        .where(
            conversion_history.c.created_at >= since,
            conversion_history.c.to_status == "approved",
        )
    )
    if alert.offer_id is not None:
        clicks = clicks.where(rollup.offer_id == alert.offer_id)
        approved = approved.where(conversions.c.offer_id == alert.offer_id)
    return rules.Measurement(
        clicks=int(conn.execute(clicks).scalar_one()),
        approved=int(conn.execute(approved).scalar_one()),
    )


def check_due(conn: Connection, now: datetime, interval: float, row_locks: bool) -> list[Incident]:
    """Check every active rule not checked for `interval` seconds; record the incidents."""
    now_us = rows.to_us(now)
    due = select(alerts).where(
        alerts.c.active.is_(True),
        or_(alerts.c.checked_at.is_(None), alerts.c.checked_at <= now_us - int(interval * 1e6)),
    )
    if row_locks:
        due = due.with_for_update(skip_locked=True)
    made: list[Incident] = []
    found = conn.execute(due.order_by(alerts.c.id)).all()
    if found:
        pending.fold_all(conn)  # the click counts below read the rollups
    for row in found:
        alert = rows.alert(row)
        measured = measure(conn, alert, now)
        state, incident_kind = rules.transition(alert.state, rules.breached(alert, measured))
        changes: dict[str, Any] = {"checked_at": now_us, "state": state}
        if incident_kind is not None:
            changes["state_since"] = now_us
            made.append(_record(conn, alert, incident_kind, measured, now_us))
        conn.execute(update(alerts).where(alerts.c.id == alert.id).values(changes))
    return made


def _record(
    conn: Connection, alert: Alert, kind: str, measured: rules.Measurement, now_us: int
) -> Incident:
    values = {
        "alert_id": alert.id,
        "kind": kind,
        "detail": orjson.dumps(measured.as_detail(alert.kind)).decode(),
        "created_at": now_us,
        "notify_state": "pending",
        "notify_attempts": 0,
        "notify_next_at": now_us,
    }
    row = conn.execute(insert(alert_incidents).values(values).returning(alert_incidents)).one()
    return rows.incident(row)


def claim_notifications(
    conn: Connection, now: datetime, lease_seconds: float, row_locks: bool
) -> list[tuple[Alert, Incident]]:
    """Lease incidents due to be sent, with their alerts."""
    now_us = rows.to_us(now)
    incident = alert_incidents.c
    due = (
        select(incident.id)
        .where(
            incident.notify_state == "pending",
            incident.notify_next_at <= now_us,
            or_(incident.claimed_until.is_(None), incident.claimed_until < now_us),
        )
        .order_by(incident.id)
        .limit(NOTIFY_BATCH)
    )
    if row_locks:
        due = due.with_for_update(skip_locked=True)
    claim = (
        update(alert_incidents)
        .where(incident.id.in_(due.scalar_subquery()))
        .values(claimed_until=now_us + int(lease_seconds * 1e6))
        .returning(alert_incidents)
    )
    claimed = [rows.incident(row) for row in conn.execute(claim)]
    if not claimed:
        return []
    found = conn.execute(select(alerts).where(alerts.c.id.in_({i.alert_id for i in claimed})))
    by_id = {row.id: rows.alert(row) for row in found}
    return [
        (by_id[i.alert_id], i) for i in sorted(claimed, key=lambda i: i.id) if i.alert_id in by_id
    ]


def finish_notification(
    conn: Connection,
    incident_id: int,
    success: bool,
    status_code: int | None,
    error: str | None,
    now: datetime,
) -> None:
    now_us = rows.to_us(now)
    current = conn.execute(
        select(alert_incidents.c.notify_attempts).where(alert_incidents.c.id == incident_id)
    ).scalar_one_or_none()
    if current is None:
        return
    attempts = int(current) + 1
    changes: dict[str, Any] = {
        "notify_attempts": attempts,
        "status_code": status_code,
        "last_error": error,
        "claimed_until": None,
    }
    if success:
        changes.update(notify_state="sent", notified_at=now_us)
    else:
        delay = rules.next_notify_delay(attempts)
        if delay is None:
            changes["notify_state"] = "failed"
        else:
            changes["notify_next_at"] = now_us + int(delay * 1e6)
    conn.execute(
        update(alert_incidents).where(and_(alert_incidents.c.id == incident_id)).values(changes)
    )
