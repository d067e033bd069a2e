"""What a running server holds: the store, group committers, workers, the admin key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

from postback.alerting import AlertChecker
from postback.batching import GroupCommitter
from postback.dispatch.worker import Dispatcher
from postback.domain.ids import hash_key, new_api_key
from postback.domain.records import Click
from postback.metrics import Metrics
from postback.services.ratelimit import failure_limiter
from postback.settings import Settings
from postback.store.base import IncomingEntry
from postback.store.sql import Store
from postback.visitors.reader import reader_for

log = logging.getLogger(__name__)

ADMIN_KEY_META = "admin_key_hash"
# The key of visitors' hashes (unique clicks): one per database, so every process agrees.
VISITOR_KEY_META = "visitor_key"


async def ensure_admin_key(
    settings: Settings, store: Store, announce: Callable[[str], None] | None
) -> str:
    """The admin key's hash: from the setting, or generated once, shown once, kept hashed."""
    if settings.admin_key is not None:
        return hash_key(settings.admin_key.get_secret_value())
    existing = await store.get_meta(ADMIN_KEY_META)
    if existing is not None:
        return existing
    key = new_api_key("adm")
    kept = await store.put_meta_once(ADMIN_KEY_META, hash_key(key))
    if kept == hash_key(key) and announce is not None:
        announce(key)
    return kept


class Runtime:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        run_worker: bool = True,
        announce_key: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = Metrics()
        batches = store.write_batches
        # What each click tells of its visitor (geo, device, bot), read in the process.
        self.visitors = reader_for(settings)
        self.clicks: GroupCommitter[Click] = GroupCommitter(
            store.insert_clicks, concurrency=batches
        )
        self.incoming: GroupCommitter[IncomingEntry] = GroupCommitter(
            store.log_incoming, concurrency=batches
        )
        self.dispatcher = Dispatcher(store, settings, self.metrics) if run_worker else None
        # One count of failed authentications for the API and /postback alike (shared
        # with the other server processes on PostgreSQL).
        self.auth_failures = failure_limiter(settings, store)
        self.announce_key = announce_key
        self.admin_key_hash: str | None = None
        self._stop = asyncio.Event()
        self._worker_task: asyncio.Task[None] | None = None
        self.alert_checker = AlertChecker(store, settings) if run_worker else None
        self._alerts_task: asyncio.Task[None] | None = None
        self._fold_task: asyncio.Task[None] | None = None
        self._limits_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.migrate()
        self.admin_key_hash = await ensure_admin_key(self.settings, self.store, self.announce_key)
        key = await self.store.put_meta_once(VISITOR_KEY_META, secrets.token_hex(32))
        self.visitors.visitor_key = bytes.fromhex(key)
        self.clicks.start()
        self.incoming.start()
        self._stop.clear()
        self._fold_task = asyncio.create_task(self.store.keep_rollups_folded(self._stop))
        self._limits_task = asyncio.create_task(self.auth_failures.run(self._stop))
        if self.dispatcher is not None:
            self._worker_task = asyncio.create_task(self.dispatcher.run(self._stop))
        if self.alert_checker is not None:
            self._alerts_task = asyncio.create_task(self.alert_checker.run(self._stop))
            # Retention's purge runs where the workers do (one process at a time).
            self._purge_task = asyncio.create_task(
                self.store.keep_purged(self.settings.retention, self._stop)
            )
        log.info("started", extra={"action": "started"})

    async def stop(self) -> None:
        self._stop.set()
        if self._worker_task is not None:
            with contextlib.suppress(Exception):
                await self._worker_task
            self._worker_task = None
        for task in (self._alerts_task, self._fold_task, self._limits_task, self._purge_task):
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
        self._alerts_task = self._fold_task = self._limits_task = self._purge_task = None
        await self.clicks.stop()
        await self.incoming.stop()
        await self.store.close()

    def wake_dispatch(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()
