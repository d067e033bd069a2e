"""Recording a delivery attempt and the delivery's new state, on a synchronous
connection (see store/postbacks.py for why)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, bindparam, insert, select, update

from postback.domain.records import ClaimedDelivery
from postback.store import rows
from postback.store.base import AttemptResult
from postback.store.schema import deliveries, delivery_attempts, postback_configs

# Built once and run with parameters: a worker records thousands of attempts a second.
INSERT_ATTEMPT = insert(delivery_attempts)
MOVE_DELIVERY = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.claim_token == bindparam("b_token"))
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next"),
        claim_token=None,
        claimed_until=None,
        last_error=bindparam("b_error"),
        updated_at=bindparam("b_now"),
    )
)


def _unless_locked(*where: ColumnElement[bool]) -> ColumnElement[bool]:
    """The config row, unless another transaction holds it (PostgreSQL; SQLite has one
    writer and no row locks). Two workers' attempts of one partner move its run of
    failures at once: the one that finds the row taken leaves it, instead of waiting for
    the other's commit, since the next attempt moves it again anyway."""
    config = postback_configs.c
    return config.id.in_(
        select(config.id)
        .where(config.id == bindparam("b_id"), *where)
        .with_for_update(skip_locked=True, key_share=True)  # the lock an UPDATE takes
        .scalar_subquery()
    )


CONFIG_SUCCEEDED = (
    update(postback_configs)
    .where(_unless_locked(postback_configs.c.failing_since.is_not(None)))
    .values(failing_since=None)
)
CONFIG_FAILED = (
    update(postback_configs)
    .where(_unless_locked(postback_configs.c.failing_since.is_(None)))
    .values(failing_since=bindparam("b_since"))
)


def record_attempt(
    conn: Connection,
    claim: ClaimedDelivery,
    result: AttemptResult,
    *,
    health: bool = True,
    logged: bool = False,
) -> bool:
    """Log the attempt (unless the caller `logged` it already); move the delivery on only
    if this claim still holds its lease. Then keep the config's run of failures (unless
    `health` is False)."""
    if result.success:
        state, next_at = "delivered", None
    elif result.next_attempt_at is None:
        state, next_at = "failed", None
    else:
        state, next_at = "pending", rows.to_us(result.next_attempt_at)
    # Logged even when the lease was lost: the request did go out.
    if not logged:
        conn.execute(INSERT_ATTEMPT, _attempt_row(claim, result))
    moved = conn.execute(
        MOVE_DELIVERY,
        {
            "b_id": claim.delivery.id,
            "b_token": claim.claim_token,
            "b_state": state,
            "b_attempts": result.attempt_no,
            "b_next": next_at,
            "b_error": None if result.success else result.error,
            "b_now": rows.to_us(rows.utc_now()),
        },
    )
    if health:
        track_config_health(conn, claim.delivery.postback_id, result)
    return bool(moved.rowcount > 0)


def _attempt_row(claim: ClaimedDelivery, result: AttemptResult) -> dict[str, object]:
    return {
        "delivery_id": claim.delivery.id,
        "attempt_no": result.attempt_no,
        "started_at": rows.to_us(result.started_at),
        "duration_ms": result.duration_ms,
        "url": result.url,
        "method": result.method,
        "status_code": result.status_code,
        "response_excerpt": result.response_excerpt,
        "error": result.error,
        "success": result.success,
    }


def track_config_health(conn: Connection, config_id: int, result: AttemptResult) -> None:
    """Keep when the config's run of failures began; switch it off when told to."""
    if result.success:
        conn.execute(CONFIG_SUCCEEDED, {"b_id": config_id})
        return
    conn.execute(CONFIG_FAILED, {"b_id": config_id, "b_since": rows.to_us(result.started_at)})
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
    """Many attempts in one transaction. Configs in postback_id order, so two workers'
    batches take the config row locks in one order; each config's attempts in the order
    they finished. A success right after a success of the same config finds nothing to
    clear, so it is not asked again."""
    recorded: dict[int, bool] = {}
    # Every attempt's log row in one statement (executemany): nothing needs their ids.
    conn.execute(INSERT_ATTEMPT, [_attempt_row(claim, result) for claim, result in finished])
    order = sorted(range(len(finished)), key=lambda n: finished[n][0].delivery.postback_id)
    last_succeeded: int | None = None
    for n in order:
        claim, result = finished[n]
        config_id = claim.delivery.postback_id
        again = result.success and last_succeeded == config_id
        recorded[n] = record_attempt(conn, claim, result, health=not again, logged=True)
        last_succeeded = config_id if result.success else None
    return [recorded[n] for n in range(len(finished))]
