"""The alert checker: every POSTBACK_ALERT_INTERVAL seconds, check the rules that are due
and send each new incident to its alert's webhook (signed like a POST delivery, through
the same SSRF-guarded sender). Runs in `postback worker` and in `postback serve`'s
worker; the store makes several of them safe (store/alerts.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from postback.dispatch.sender import Sender
from postback.domain import alerts as rules
from postback.domain.payload import dumps
from postback.errors import StoreError
from postback.settings import Settings
from postback.store.sql import Store

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 10.0


class AlertChecker:
    def __init__(self, store: Store, settings: Settings, *, sender: Sender | None = None) -> None:
        self._store = store
        self._settings = settings
        self._sender = sender

    async def run(self, stop: asyncio.Event) -> None:
        own_sender = self._sender is None
        sender = self._sender or Sender(self._settings)
        try:
            while not stop.is_set():
                try:
                    await self.round(sender)
                except StoreError as exc:
                    log.warning(
                        "alert check failed: %s", exc, extra={"action": "alert_check_failed"}
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._settings.alert_interval)
        finally:
            if own_sender:
                await sender.close()

    async def round(self, sender: Sender) -> int:
        """One check of the due rules, then the due notifications; returns those sent."""
        now = datetime.now(UTC)
        for incident in await self._store.check_alerts(now, self._settings.alert_interval):
            log.info(
                "alert %s %s",
                incident.alert_id,
                incident.kind,
                extra={"action": "alert_" + incident.kind, "alert_id": incident.alert_id},
            )
        lease = self._settings.delivery_timeout + LEASE_MARGIN_SECONDS
        sent = 0
        for alert, incident in await self._store.claim_notifications(now, lease):
            outcome = await sender.send_request(
                method="POST",
                url=alert.webhook_url,
                body=dumps(rules.notification(alert, incident)).decode(),
                content_type="application/json",
                message_id=f"incident_{incident.id}",
                secret=alert.secret,
            )
            await self._store.finish_notification(
                incident.id, outcome.success, outcome.status_code, outcome.error, datetime.now(UTC)
            )
            sent += int(outcome.success)
        return sent
