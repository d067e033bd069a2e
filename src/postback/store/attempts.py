"""Recording a delivery attempt and the delivery's new state, on a synchronous
connection (see store/postbacks.py for why)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, insert, update

from postback.domain.records import ClaimedDelivery
from postback.store import rows
from postback.store.base import AttemptResult
from postback.store.schema import deliveries, delivery_attempts, postback_configs


def record_attempt(conn: Connection, claim: ClaimedDelivery, result: AttemptResult) -> bool:
    """Log the attempt; move the delivery on only if this claim still holds its lease."""
    if result.success:
        state, next_at = "delivered", None
    elif result.next_attempt_at is None:
        state, next_at = "failed", None
    else:
        state, next_at = "pending", rows.to_us(result.next_attempt_at)
    # Logged even when the lease was lost: the request did go out.
    conn.execute(
        insert(delivery_attempts).values(
            delivery_id=claim.delivery.id,
            attempt_no=result.attempt_no,
            started_at=rows.to_us(result.started_at),
            duration_ms=result.duration_ms,
            url=result.url,
            method=result.method,
            status_code=result.status_code,
            response_excerpt=result.response_excerpt,
            error=result.error,
            success=result.success,
        )
    )
    stmt = (
        update(deliveries)
        .where(deliveries.c.id == claim.delivery.id, deliveries.c.claim_token == claim.claim_token)
        .values(
            state=state,
            attempts=result.attempt_no,
            next_attempt_at=next_at,
            claim_token=None,
            claimed_until=None,
            last_error=None if result.success else result.error,
            updated_at=rows.to_us(rows.utc_now()),
        )
    )
    recorded = conn.execute(stmt).rowcount > 0
    track_config_health(conn, claim.delivery.postback_id, result)
    return recorded


def track_config_health(conn: Connection, config_id: int, result: AttemptResult) -> None:
    """Keep when the config's run of failures began; switch it off when told to."""
    config = postback_configs.c
    if result.success:
        conn.execute(
            update(postback_configs)
            .where(config.id == config_id, config.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return
    conn.execute(
        update(postback_configs)
        .where(config.id == config_id, config.failing_since.is_(None))
        .values(failing_since=rows.to_us(result.started_at))
    )
    if result.disable_config is not None:
        disable_config(conn, config_id, result.disable_config)


def disable_config(conn: Connection, config_id: int, reason: str) -> bool:
    """Switch a config off and hold its pending deliveries (no next attempt) until it is
    re-enabled; False when it was already off."""
    now = rows.to_us(rows.utc_now())
    config = postback_configs.c
    switched = conn.execute(
        update(postback_configs)
        .where(config.id == config_id, config.disabled_at.is_(None), config.deleted_at.is_(None))
        .values(active=False, disabled_reason=reason, disabled_at=now, updated_at=now)
    ).rowcount
    if not switched:
        return False
    conn.execute(
        update(deliveries)
        .where(
            deliveries.c.postback_id == config_id,
            deliveries.c.state == "pending",
            deliveries.c.claim_token.is_(None),
        )
        .values(next_attempt_at=None, updated_at=now)
    )
    return True


def record_attempts(
    conn: Connection, finished: Sequence[tuple[ClaimedDelivery, AttemptResult]]
) -> list[bool | BaseException]:
    return [record_attempt(conn, claim, result) for claim, result in finished]
