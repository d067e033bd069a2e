"""The store's alert rules, their incidents and the incidents' webhook calls."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from postback.domain.records import Alert, Incident
from postback.store import alerts as alert_checks
from postback.store import rows
from postback.store.base import MAX_PAGE, Page
from postback.store.schema import alert_incidents, alerts
from postback.store.sql_base import SqlBase


class AlertsMixin(SqlBase):
    """Alert rules, checked by the workers; each change of state an incident."""

    # ---- alerts -----------------------------------------------------------------------

    async def create_alert(self, fields: Mapping[str, Any]) -> Alert:
        values = {**fields, "state": "ok", "state_since": None, "checked_at": None}
        return rows.alert(await self._create(alerts, values))

    async def get_alert(self, alert_id: int) -> Alert | None:
        row = await self._get(alerts, alert_id)
        return rows.alert(row) if row else None

    async def list_alerts(self, *, limit: int = MAX_PAGE, cursor: str | None = None) -> Page:
        return await self._page(select(alerts), alerts, limit, cursor, rows.alert)

    async def update_alert(self, alert_id: int, changes: Mapping[str, Any]) -> Alert | None:
        row = await self._update(alerts, alert_id, changes)
        return rows.alert(row) if row else None

    async def delete_alert(self, alert_id: int) -> bool:
        """Deletes the rule and its incidents."""
        async with self._write() as conn:
            await conn.execute(
                delete(alert_incidents).where(alert_incidents.c.alert_id == alert_id)
            )
            return (await conn.execute(delete(alerts).where(alerts.c.id == alert_id))).rowcount > 0

    async def list_incidents(
        self, *, alert_id: int | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page:
        stmt = select(alert_incidents)
        if alert_id is not None:
            stmt = stmt.where(alert_incidents.c.alert_id == alert_id)
        return await self._page(stmt, alert_incidents, limit, cursor, rows.incident)

    async def check_alerts(self, now: datetime, interval: float) -> list[Incident]:
        """Check the rules not checked for `interval` seconds; each change of state is
        recorded once as an incident (also with several workers)."""
        async with self._write() as conn:
            return await conn.run_sync(alert_checks.check_due, now, interval, self.row_locks)

    async def claim_notifications(
        self, now: datetime, lease_seconds: float
    ) -> list[tuple[Alert, Incident]]:
        """Lease incidents whose webhook call is due."""
        async with self._write() as conn:
            return await conn.run_sync(
                alert_checks.claim_notifications, now, lease_seconds, self.row_locks
            )

    async def finish_notification(
        self,
        incident_id: int,
        success: bool,
        status_code: int | None,
        error: str | None,
        now: datetime,
    ) -> None:
        async with self._write() as conn:
            await conn.run_sync(
                alert_checks.finish_notification, incident_id, success, status_code, error, now
            )
