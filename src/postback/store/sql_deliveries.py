"""The store's deliveries: listing them, leasing due ones to the workers, recording
attempts, and making them due again (retries, replays)."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update

from postback.domain.records import Attempt, ClaimedDelivery, Delivery, PostbackConfig
from postback.store import rows
from postback.store.attempts import record_attempt
from postback.store.base import AttemptResult, DeliveryHealth, Page
from postback.store.replay import replay_config
from postback.store.schema import conversions, deliveries, delivery_attempts, postback_configs
from postback.store.sql_base import SqlBase, now_us


def _claimed(
    delivery: Delivery, token: str, config: PostbackConfig, now: datetime
) -> ClaimedDelivery:
    """A leased delivery with what sending it needs from its config."""
    secrets_now = config.signing_secrets(now)
    return ClaimedDelivery(
        delivery=delivery,
        claim_token=token,
        secret=secrets_now[0],
        previous_secret=secrets_now[1] if len(secrets_now) > 1 else None,
        sign_get=config.sign_get,
        failing_since=config.failing_since,
    )


class DeliveriesMixin(SqlBase):
    """Deliveries and their attempts: claimed, finished, postponed, retried, replayed."""

    # ---- deliveries ---------------------------------------------------------------------

    async def list_deliveries(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(deliveries)
        for name, value in (filters or {}).items():
            if value is None:
                continue
            if name == "affiliate_id":
                owned = select(postback_configs.c.id).where(
                    postback_configs.c.affiliate_id == value
                )
                stmt = stmt.where(deliveries.c.postback_id.in_(owned))
            elif name == "offer_id":
                of_offer = select(conversions.c.id).where(conversions.c.offer_id == value)
                stmt = stmt.where(deliveries.c.conversion_id.in_(of_offer))
            elif name == "from":
                stmt = stmt.where(deliveries.c.created_at >= rows.to_us(value))
            elif name == "to":
                stmt = stmt.where(deliveries.c.created_at < rows.to_us(value))
            else:
                stmt = stmt.where(deliveries.c[name] == value)
        return await self._page(stmt, deliveries, limit, cursor, rows.delivery)

    async def delivery_health(
        self, *, since: datetime, affiliate_id: int | None = None
    ) -> DeliveryHealth:
        """Deliveries created at or after `since` by state (of one affiliate's configs when
        `affiliate_id` is given), and how many configs are switched off."""
        tried = deliveries.c.attempts > 0
        counted = (
            select(deliveries.c.state, tried.label("tried"), func.count().label("n"))
            .where(deliveries.c.created_at >= rows.to_us(since))
            .group_by(deliveries.c.state, tried)
        )
        paused = select(func.count()).where(
            postback_configs.c.disabled_at.is_not(None), postback_configs.c.deleted_at.is_(None)
        )
        if affiliate_id is not None:
            owned = select(postback_configs.c.id).where(
                postback_configs.c.affiliate_id == affiliate_id
            )
            counted = counted.where(deliveries.c.postback_id.in_(owned))
            paused = paused.where(postback_configs.c.affiliate_id == affiliate_id)
        by_state = {"delivered": 0, "retrying": 0, "waiting": 0, "failed": 0}
        async with self._read() as conn:
            for state, was_tried, n in await conn.execute(counted):
                if state == "pending":
                    state = "retrying" if was_tried else "waiting"
                if state in by_state:
                    by_state[state] += int(n)
            paused_configs = int((await conn.execute(paused)).scalar_one())
        return DeliveryHealth(
            delivered=by_state["delivered"],
            retrying=by_state["retrying"],
            waiting=by_state["waiting"],
            failed=by_state["failed"],
            paused_configs=paused_configs,
        )

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = await self._get(deliveries, delivery_id)
        return rows.delivery(row) if row else None

    async def list_attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[Attempt]]:
        found: dict[int, list[Attempt]] = {delivery_id: [] for delivery_id in delivery_ids}
        if not delivery_ids:
            return found
        async with self._read() as conn:
            stmt = (
                select(delivery_attempts)
                .where(delivery_attempts.c.delivery_id.in_(list(delivery_ids)))
                .order_by(delivery_attempts.c.id)
            )
            for row in await conn.execute(stmt):
                found[row.delivery_id].append(rows.attempt(row))
        return found

    async def claim_deliveries(
        self,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        skip_postbacks: Collection[int] = (),
    ) -> list[ClaimedDelivery]:
        """Lease due deliveries to this caller; no two callers hold the same one. Those of
        the configs in `skip_postbacks` stay where they are (the caller cannot send them
        now, and they would crowd out the ones it can)."""
        now_us = rows.to_us(now)
        token = secrets.token_hex(16)
        # A config the workers switched off holds its deliveries until it is re-enabled.
        held = select(postback_configs.c.id).where(postback_configs.c.disabled_at.is_not(None))
        due = (
            select(deliveries.c.id)
            .where(
                deliveries.c.state == "pending",
                deliveries.c.next_attempt_at <= now_us,
                or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now_us),
                deliveries.c.postback_id.not_in(held),
            )
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if skip_postbacks:
            due = due.where(deliveries.c.postback_id.not_in(sorted(skip_postbacks)))
        claim = (
            update(deliveries)
            .where(deliveries.c.id.in_(due.scalar_subquery()))
            .values(
                claim_token=token,
                claimed_until=now_us + int(lease_seconds * 1_000_000),
            )
            .returning(deliveries)
        )
        async with self._write() as conn:
            claimed = [rows.delivery(row) for row in await conn.execute(claim)]
            if not claimed:
                return []
            result = await conn.execute(
                select(postback_configs).where(
                    postback_configs.c.id.in_({d.postback_id for d in claimed})
                )
            )
            configs = {row.id: rows.postback_config(row) for row in result}
        claimed.sort(key=lambda d: (d.next_attempt_at or now, d.id))
        return [_claimed(d, token, configs[d.postback_id], now) for d in claimed]

    async def finish_attempt(self, claim: ClaimedDelivery, result: AttemptResult) -> bool:
        """Record an attempt and the delivery's new state; False when the lease was lost."""
        async with self._write() as conn:
            return await conn.run_sync(record_attempt, claim, result)

    async def postpone_claims(self, claims: Sequence[ClaimedDelivery], until: datetime) -> None:
        """Give claimed deliveries back unsent, due again at `until` (no attempt counted)."""
        if not claims:
            return
        stmt = (
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .where(deliveries.c.claim_token == bindparam("b_token"))
            .values(next_attempt_at=rows.to_us(until), claim_token=None, claimed_until=None)
        )
        params = [{"b_id": c.delivery.id, "b_token": c.claim_token} for c in claims]
        async with self._write() as conn:
            await conn.execute(stmt, params)

    async def postpone_claim(self, claim: ClaimedDelivery, until: datetime) -> None:
        await self.postpone_claims([claim], until)

    async def retry_failed(
        self, postback_id: int, since: datetime | None, until: datetime | None, now: datetime
    ) -> int:
        """Make every delivery of a config that gave up (created in [since, until)) due now."""
        stmt = update(deliveries).where(
            deliveries.c.postback_id == postback_id, deliveries.c.state == "failed"
        )
        if since is not None:
            stmt = stmt.where(deliveries.c.created_at >= rows.to_us(since))
        if until is not None:
            stmt = stmt.where(deliveries.c.created_at < rows.to_us(until))
        stmt = stmt.values(state="pending", next_attempt_at=rows.to_us(now), updated_at=now_us())
        async with self._write() as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def retry_delivery(self, delivery_id: int, now: datetime) -> bool:
        """Make a delivery due now again, whatever its state; False if it does not exist
        (or retention has removed its body)."""
        async with self._write() as conn:
            stmt = (
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.body_purged_at.is_(None))
                .values(state="pending", next_attempt_at=rows.to_us(now), updated_at=now_us())
            )
            return (await conn.execute(stmt)).rowcount > 0

    # ---- replays ------------------------------------------------------------------------

    async def replay(
        self, postback_id: int, since: datetime, until: datetime | None, now: datetime
    ) -> tuple[int, int]:
        """Conversions created in [since, until): their deliveries for this config are due
        now; those that never had one get one rendered now. Returns (requeued, created)."""
        async with self._write() as conn:
            return await conn.run_sync(replay_config, postback_id, since, until, now)
