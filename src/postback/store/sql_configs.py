"""The store's postback configs and their Test-button sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, update

from postback.domain.records import PostbackConfig, TrialSend
from postback.store import rows
from postback.store.base import MAX_PAGE, Page
from postback.store.schema import deliveries, postback_configs, postback_tests
from postback.store.sql_base import SqlBase, encode, now_us


class ConfigsMixin(SqlBase):
    """Postback configs (soft-deleted) and the log of their test sends."""

    # ---- postback configs ----------------------------------------------------------

    async def create_postback(self, fields: Mapping[str, Any]) -> PostbackConfig:
        return rows.postback_config(await self._create(postback_configs, fields))

    async def get_postback(
        self, postback_id: int, *, include_deleted: bool = False
    ) -> PostbackConfig | None:
        stmt = select(postback_configs).where(postback_configs.c.id == postback_id)
        if not include_deleted:
            stmt = stmt.where(postback_configs.c.deleted_at.is_(None))
        async with self._read() as conn:
            row = (await conn.execute(stmt)).first()
        return rows.postback_config(row) if row else None

    async def list_postbacks(
        self,
        affiliate_id: int | None = None,
        *,
        offer_id: int | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(postback_configs).where(postback_configs.c.deleted_at.is_(None))
        if affiliate_id is not None:
            stmt = stmt.where(postback_configs.c.affiliate_id == affiliate_id)
        if offer_id is not None:
            stmt = stmt.where(postback_configs.c.offer_id == offer_id)
        return await self._page(stmt, postback_configs, limit, cursor, rows.postback_config)

    async def update_postback(
        self, postback_id: int, changes: Mapping[str, Any]
    ) -> PostbackConfig | None:
        """Change a config. Switching it on (active=true) after the workers switched it
        off clears the reason and makes every delivery it still owes due now."""
        now = now_us()
        values = {**encode(postback_configs, changes), "updated_at": now}
        if changes.get("active") is True:
            values.update(disabled_reason=None, disabled_at=None, failing_since=None)
        async with self._write() as conn:
            config = postback_configs.c
            was_held = await conn.scalar(
                select(config.disabled_at.is_not(None)).where(config.id == postback_id)
            )
            stmt = (
                update(postback_configs)
                .where(config.id == postback_id, config.deleted_at.is_(None))
                .values(values)
                .returning(postback_configs)
            )
            row = (await conn.execute(stmt)).first()
            if row is not None and was_held and row.active:
                await conn.execute(
                    update(deliveries)
                    .where(deliveries.c.postback_id == postback_id, deliveries.c.state == "pending")
                    .values(next_attempt_at=now, updated_at=now)
                )
        return rows.postback_config(row) if row else None

    async def delete_postback(self, postback_id: int) -> bool:
        now = now_us()
        async with self._write() as conn:
            stmt = (
                update(postback_configs)
                .where(
                    postback_configs.c.id == postback_id, postback_configs.c.deleted_at.is_(None)
                )
                .values(deleted_at=now, active=False, updated_at=now)
            )
            return (await conn.execute(stmt)).rowcount > 0

    # ---- test sends -------------------------------------------------------------------

    async def record_trial(self, fields: Mapping[str, Any]) -> TrialSend:
        """Log one Test-button send of a config."""
        values = encode(postback_tests, fields)
        async with self._write() as conn:
            stmt = insert(postback_tests).values(values).returning(postback_tests)
            return rows.trial_send((await conn.execute(stmt)).one())

    async def list_trials(
        self, postback_id: int, *, limit: int = MAX_PAGE, cursor: str | None = None
    ) -> Page:
        stmt = select(postback_tests).where(postback_tests.c.postback_id == postback_id)
        return await self._page(stmt, postback_tests, limit, cursor, rows.trial_send)
