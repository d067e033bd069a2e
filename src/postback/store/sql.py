"""The SQL store: one implementation over SQLAlchemy Core, specialised per backend.

`Store` puts together one part per concern (store/sql_*.py), each written once for both
backends, and keeps the engine, the caches, the lifecycle and the meta values."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from postback.batching import Batcher
from postback.domain.records import Advertiser, Affiliate, Click, Offer
from postback.errors import DuplicateKey, StoreError
from postback.store import zones
from postback.store.cache import TtlCache
from postback.store.migrate import head_revision, upgrade
from postback.store.schema import meta
from postback.store.sql_alerts import AlertsMixin
from postback.store.sql_base import now_us
from postback.store.sql_configs import ConfigsMixin
from postback.store.sql_costs import CostsMixin
from postback.store.sql_deliveries import DeliveriesMixin
from postback.store.sql_exports import ExportsMixin
from postback.store.sql_limits import LimitsMixin
from postback.store.sql_partners import PartnersMixin
from postback.store.sql_purge import PurgeMixin
from postback.store.sql_reports import ReportsMixin
from postback.store.sql_traffic import TrafficMixin

log = logging.getLogger(__name__)


class Store(
    PartnersMixin,
    ConfigsMixin,
    TrafficMixin,
    CostsMixin,
    DeliveriesMixin,
    ReportsMixin,
    AlertsMixin,
    LimitsMixin,
    PurgeMixin,
    ExportsMixin,
):
    """The store: everything the edge, the services and the workers ask of the database,
    in SQL shared by both backends; SqliteStore and PostgresStore set up the engine and
    its quirks."""

    def __init__(self, engine: AsyncEngine, report_zones: Sequence[str] = ()) -> None:
        self.engine = engine
        #: Zones whose local days the rollups should keep: registered when migrating.
        self.report_zones = tuple(report_zones)
        self._report_zones_found: dict[str, zones.ReportZone] = {}
        self._offers: TtlCache[int, Offer] = TtlCache()
        self._affiliates: TtlCache[int, Affiliate] = TtlCache()
        self._advertisers: TtlCache[int, Advertiser] = TtlCache()
        # Every postback looks up its click first: lookups that arrive together share
        # one query (and one pooled connection) instead of one each.
        self._click_lookups: Batcher[str, Click | None] = Batcher(self._find_clicks, max_batch=500)

    # ---- lifecycle ----------------------------------------------------------------

    async def migrate(self) -> None:
        async with self._write() as conn:
            await conn.run_sync(upgrade)
        await self.add_report_zones(self.report_zones)

    async def add_report_zones(self, names: Sequence[str]) -> list[str]:
        """Keep the local days of these IANA zones in the rollups too (backfilled from
        what is stored), so reports grouped by day there read one bucket per day;
        returns the names that were not kept before."""
        if not any(name != "UTC" for name in names):
            return []
        async with self._write() as conn:
            return await conn.run_sync(zones.register, names, now_us())

    async def is_ready(self) -> bool:
        try:
            async with self._read() as conn:
                result = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
                versions = {row[0] for row in result}
        except (StoreError, DBAPIError):
            return False
        return versions == {head_revision()}

    async def close(self) -> None:
        await self._click_lookups.stop()
        await self.engine.dispose()

    # ---- meta ---------------------------------------------------------------------

    async def listen_for_deliveries(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call `wake()` whenever another process writes deliveries, until `stop` (each
        backend has its signal: store/wakeups.py)."""
        await stop.wait()

    async def get_meta(self, key: str) -> str | None:
        async with self._read() as conn:
            value = await conn.scalar(select(meta.c.value).where(meta.c.key == key))
        return None if value is None else str(value)

    async def put_meta_once(self, key: str, value: str) -> str:
        """Store value under key unless one is there; return the value that is kept."""
        try:
            async with self._write() as conn:
                await conn.execute(insert(meta).values(key=key, value=value))
            return value
        except DuplicateKey:
            existing = await self.get_meta(key)
            assert existing is not None
            return existing
