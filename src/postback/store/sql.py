"""The SQL store: one implementation over SQLAlchemy Core, specialised per backend."""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from postback.batching import Batcher
from postback.domain.buckets import DAY, Piece, plan, plan_zone_days
from postback.domain.records import (
    Advertiser,
    Affiliate,
    Alert,
    Attempt,
    ClaimedDelivery,
    Click,
    Conversion,
    Delivery,
    Incident,
    Offer,
    PostbackConfig,
    StatusChange,
    TrialSend,
)
from postback.domain.report import Report, ReportQuery, build_report
from postback.errors import DuplicateKey, InUse, StoreError
from postback.store import alerts as alert_checks
from postback.store import rows, zones
from postback.store.attempts import record_attempt
from postback.store.base import (
    MAX_PAGE,
    AttemptResult,
    DeliveryHealth,
    IncomingEntry,
    Page,
    PostbackCommand,
    PostbackResult,
)
from postback.store.cache import TtlCache
from postback.store.failures import translated
from postback.store.migrate import head_revision, upgrade
from postback.store.postbacks import apply_postback
from postback.store.replay import replay_config
from postback.store.reports import read_groups, report_select
from postback.store.rollups import Deltas
from postback.store.schema import (
    advertisers,
    affiliates,
    alert_incidents,
    alerts,
    clicks,
    conversion_history,
    conversions,
    deliveries,
    delivery_attempts,
    incoming_log,
    meta,
    offers,
    postback_configs,
    postback_tests,
)

log = logging.getLogger(__name__)

FIND_CLICKS = select(clicks).where(clicks.c.click_id.in_(bindparam("ids", expanding=True)))


# How each table's records are written: their field types say it (store/rows.py).
ENCODERS = {
    advertisers.name: rows.column_encoder(Advertiser),
    offers.name: rows.column_encoder(Offer),
    affiliates.name: rows.column_encoder(Affiliate),
    postback_configs.name: rows.column_encoder(PostbackConfig),
    postback_tests.name: rows.column_encoder(TrialSend),
    alerts.name: rows.column_encoder(Alert),
}


def _encode(table: Table, fields: Mapping[str, Any]) -> dict[str, Any]:
    return ENCODERS[table.name](fields)


def write_clicks(conn: Connection, batch: Sequence[Click]) -> None:
    """A batch of clicks and what it adds to the report rollups, on one connection."""
    deltas = Deltas()
    deltas.add_clicks(batch)
    conn.execute(insert(clicks), [rows.click_values(item) for item in batch])
    deltas.write(conn)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside. Reports overlapping in time may turn it back on
    early (the first to finish does), never leave it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _now_us() -> int:
    return rows.to_us(datetime.now().astimezone())


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


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 19:
        raise ValueError("malformed cursor")
    return int(value)


class Store:
    """The store: everything the edge, the services and the workers ask of the database,
    in SQL shared by both backends; SqliteStore and PostgresStore set up the engine and
    its quirks."""

    #: PostgreSQL takes row locks; SQLite serialises writers instead.
    row_locks = False

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

    # ---- transactions -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with self._translate():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        with self._translate():
            async with self.engine.begin() as conn:
                yield conn

    #: Driver exceptions that mean "connection lost" but can escape SQLAlchemy's wrapping.
    connection_errors: tuple[type[BaseException], ...] = ()

    def _translate(self) -> contextlib.AbstractContextManager[None]:
        return translated(self.connection_errors)

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
            return await conn.run_sync(zones.register, names, _now_us())

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

    # ---- generic record helpers ---------------------------------------------------

    async def _create(self, table: Table, fields: Mapping[str, Any]) -> Any:
        now = _now_us()
        values = {**_encode(table, fields), "created_at": now, "updated_at": now}
        async with self._write() as conn:
            return (await conn.execute(insert(table).values(values).returning(table))).one()

    async def _get(self, table: Table, record_id: int) -> Any:
        async with self._read() as conn:
            return (await conn.execute(select(table).where(table.c.id == record_id))).first()

    async def _update(self, table: Table, record_id: int, changes: Mapping[str, Any]) -> Any:
        values = {**_encode(table, changes), "updated_at": _now_us()}
        async with self._write() as conn:
            stmt = update(table).where(table.c.id == record_id).values(values).returning(table)
            return (await conn.execute(stmt)).first()

    # ---- advertisers, offers, affiliates ------------------------------------------

    async def create_advertiser(self, fields: Mapping[str, Any]) -> Advertiser:
        created = rows.advertiser(await self._create(advertisers, fields))
        self._advertisers.drop(created.id)
        return created

    async def get_advertiser(self, advertiser_id: int) -> Advertiser | None:
        async def load() -> Advertiser | None:
            row = await self._get(advertisers, advertiser_id)
            return rows.advertiser(row) if row else None

        return await self._advertisers.get_or_load(advertiser_id, load)

    async def list_advertisers(self, *, limit: int = MAX_PAGE, cursor: str | None = None) -> Page:
        """Newest first, like every list; `cursor` is the previous page's next_cursor."""
        return await self._page(select(advertisers), advertisers, limit, cursor, rows.advertiser)

    async def update_advertiser(
        self, advertiser_id: int, changes: Mapping[str, Any]
    ) -> Advertiser | None:
        row = await self._update(advertisers, advertiser_id, changes)
        self._advertisers.drop(advertiser_id)
        return rows.advertiser(row) if row else None

    async def create_offer(self, fields: Mapping[str, Any]) -> Offer:
        created = rows.offer(await self._create(offers, fields))
        self._offers.drop(created.id)
        return created

    async def get_offer(self, offer_id: int) -> Offer | None:
        async def load() -> Offer | None:
            row = await self._get(offers, offer_id)
            return rows.offer(row) if row else None

        return await self._offers.get_or_load(offer_id, load)

    async def list_offers(
        self,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(offers)
        if statuses is not None:
            stmt = stmt.where(offers.c.status.in_(list(statuses)))
        return await self._page(stmt, offers, limit, cursor, rows.offer)

    async def update_offer(self, offer_id: int, changes: Mapping[str, Any]) -> Offer | None:
        row = await self._update(offers, offer_id, changes)
        self._offers.drop(offer_id)
        return rows.offer(row) if row else None

    async def create_affiliate(self, name: str, api_key_hash: str) -> Affiliate:
        fields = {"name": name, "api_key_hash": api_key_hash, "status": "active"}
        created = rows.affiliate(await self._create(affiliates, fields))
        self._affiliates.drop(created.id)
        return created

    async def get_affiliate(self, affiliate_id: int) -> Affiliate | None:
        async def load() -> Affiliate | None:
            row = await self._get(affiliates, affiliate_id)
            return rows.affiliate(row) if row else None

        return await self._affiliates.get_or_load(affiliate_id, load)

    async def find_affiliate_by_key_hash(self, api_key_hash: str) -> Affiliate | None:
        async with self._read() as conn:
            stmt = select(affiliates).where(affiliates.c.api_key_hash == api_key_hash)
            row = (await conn.execute(stmt)).first()
        return rows.affiliate(row) if row else None

    async def list_affiliates(
        self,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(affiliates)
        if statuses is not None:
            stmt = stmt.where(affiliates.c.status.in_(list(statuses)))
        return await self._page(stmt, affiliates, limit, cursor, rows.affiliate)

    async def update_affiliate(
        self, affiliate_id: int, changes: Mapping[str, Any]
    ) -> Affiliate | None:
        row = await self._update(affiliates, affiliate_id, changes)
        self._affiliates.drop(affiliate_id)
        return rows.affiliate(row) if row else None

    async def delete_advertiser(self, advertiser_id: int) -> bool:
        """False when there is no such advertiser; InUse while it has offers."""
        async with self._write() as conn:
            used = select(offers.c.id).where(offers.c.advertiser_id == advertiser_id).limit(1)
            if (await conn.execute(used)).first() is not None:
                raise InUse(
                    f"advertiser {advertiser_id} has offers; archive them and keep the advertiser"
                )
            gone = delete(advertisers).where(advertisers.c.id == advertiser_id)
            deleted = (await conn.execute(gone)).rowcount > 0
        self._advertisers.drop(advertiser_id)
        return deleted

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
        now = _now_us()
        values = {**_encode(postback_configs, changes), "updated_at": now}
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
        now = _now_us()
        async with self._write() as conn:
            stmt = (
                update(postback_configs)
                .where(
                    postback_configs.c.id == postback_id, postback_configs.c.deleted_at.is_(None)
                )
                .values(deleted_at=now, active=False, updated_at=now)
            )
            return (await conn.execute(stmt)).rowcount > 0

    # ---- clicks ---------------------------------------------------------------------

    async def insert_clicks(self, batch: Sequence[Click]) -> None:
        """Store a batch of clicks durably in one transaction."""
        if batch:
            async with self._write() as conn:
                await conn.run_sync(write_clicks, batch)

    async def get_click(self, click_id: str) -> Click | None:
        return await self._click_lookups.submit(click_id)

    async def _find_clicks(self, click_ids: list[str]) -> list[Click | None]:
        async with self._read() as conn:
            found = await conn.execute(FIND_CLICKS, {"ids": sorted(set(click_ids))})
            by_id = {row.click_id: rows.click(row) for row in found}
        return [by_id.get(click_id) for click_id in click_ids]

    # ---- incoming postbacks -----------------------------------------------------------

    async def record_postback(self, command: PostbackCommand) -> PostbackResult:
        """Apply a postback: conversion, history, deliveries and log in one transaction.

        Raises InvalidTransition (nothing written) when the state machine refuses.
        """
        # A unique violation means a concurrent request created the same identity first;
        # running again finds it and answers duplicate or updated.
        for attempt in range(3):
            try:
                return await self._record_postback(command)
            except DuplicateKey:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _record_postback(self, command: PostbackCommand) -> PostbackResult:
        async with self._write() as conn:
            return await conn.run_sync(apply_postback, command, self.row_locks)

    async def log_incoming(self, entries: Sequence[IncomingEntry]) -> None:
        if entries:
            async with self._write() as conn:
                await conn.execute(insert(incoming_log), [rows.incoming_values(e) for e in entries])

    async def list_incoming(
        self,
        *,
        result: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        conversion_id: int | None = None,
        advertiser_id: int | None = None,
        click_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Newest first; `since` inclusive, `until` exclusive."""
        stmt = select(incoming_log)
        if result is not None:
            stmt = stmt.where(incoming_log.c.result == result)
        if since is not None:
            stmt = stmt.where(incoming_log.c.received_at >= rows.to_us(since))
        if until is not None:
            stmt = stmt.where(incoming_log.c.received_at < rows.to_us(until))
        for name, value in (
            ("conversion_id", conversion_id),
            ("advertiser_id", advertiser_id),
            ("click_id", click_id),
        ):
            if value is not None:
                stmt = stmt.where(incoming_log.c[name] == value)
        return await self._page(stmt, incoming_log, limit, cursor, lambda row: row._asdict())

    # ---- conversions --------------------------------------------------------------------

    async def get_conversion(self, conversion_id: int) -> Conversion | None:
        row = await self._get(conversions, conversion_id)
        return rows.conversion(row) if row else None

    async def list_conversions(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(conversions)
        for name, value in (filters or {}).items():
            if name == "from":
                stmt = stmt.where(conversions.c.created_at >= rows.to_us(value))
            elif name == "to":
                stmt = stmt.where(conversions.c.created_at < rows.to_us(value))
            elif value is not None:
                stmt = stmt.where(conversions.c[name] == value)
        return await self._page(stmt, conversions, limit, cursor, rows.conversion)

    async def conversion_history(self, conversion_id: int) -> list[StatusChange]:
        async with self._read() as conn:
            stmt = (
                select(conversion_history)
                .where(conversion_history.c.conversion_id == conversion_id)
                .order_by(conversion_history.c.id)
            )
            return [rows.status_change(row) for row in await conn.execute(stmt)]

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
        stmt = stmt.values(state="pending", next_attempt_at=rows.to_us(now), updated_at=_now_us())
        async with self._write() as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def retry_delivery(self, delivery_id: int, now: datetime) -> bool:
        """Make a delivery due now again, whatever its state; False if it does not exist."""
        async with self._write() as conn:
            stmt = (
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(state="pending", next_attempt_at=rows.to_us(now), updated_at=_now_us())
            )
            return (await conn.execute(stmt)).rowcount > 0

    # ---- test sends -------------------------------------------------------------------

    async def record_trial(self, fields: Mapping[str, Any]) -> TrialSend:
        """Log one Test-button send of a config."""
        values = _encode(postback_tests, fields)
        async with self._write() as conn:
            stmt = insert(postback_tests).values(values).returning(postback_tests)
            return rows.trial_send((await conn.execute(stmt)).one())

    async def list_trials(
        self, postback_id: int, *, limit: int = MAX_PAGE, cursor: str | None = None
    ) -> Page:
        stmt = select(postback_tests).where(postback_tests.c.postback_id == postback_id)
        return await self._page(stmt, postback_tests, limit, cursor, rows.trial_send)

    # ---- reports --------------------------------------------------------------------

    async def report(self, query: ReportQuery) -> Report:
        """Figures grouped as asked, read from the rollups; InvalidInput when the time
        zone cannot be bucketed exactly over those dates or the answer is too large."""
        if query.matches_nothing:
            return build_report(query, [])
        zone = None
        if query.period == DAY and query.tz != "UTC":
            zone = await self._report_zone(query.tz)
        if zone is not None:
            pieces = plan_zone_days(query.tz, zone.grain, query.first, query.last)
        else:
            pieces = plan(query.tz, query.first, query.last, query.period)
        if not pieces:
            return build_report(query, [])
        # Tens of thousands of small objects that all live on (the driver's records, then
        # the groups), and no cycles among them: meanwhile the cyclic collector would walk
        # them several times, and now and then the whole heap.
        with _collector_paused():
            found = await self._report_rows(query, pieces)
            groups, totals = read_groups(query, found)
            del found  # freed now, so the next collection does not walk the records
            return build_report(query, groups, in_key_order=True, totals=totals)

    async def _report_zone(self, name: str) -> zones.ReportZone | None:
        """The registered report zone `name`, if any. Zones are only ever added, so one
        found stays valid for the life of the process."""
        zone = self._report_zones_found.get(name)
        if zone is None:
            async with self._read() as conn:
                zone = await conn.run_sync(zones.zone_for_reading, name)
            if zone is not None:
                self._report_zones_found[name] = zone
        return zone

    async def _report_rows(self, query: ReportQuery, pieces: Sequence[Piece]) -> Sequence[Any]:
        """The grouped rows of report_select: group_by keys, then the counters."""
        async with self._read() as conn:
            found: Sequence[Any] = (await conn.execute(report_select(query, pieces))).all()
        return found

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

    # ---- replays ------------------------------------------------------------------------

    async def replay(
        self, postback_id: int, since: datetime, until: datetime | None, now: datetime
    ) -> tuple[int, int]:
        """Conversions created in [since, until): their deliveries for this config are due
        now; those that never had one get one rendered now. Returns (requeued, created)."""
        async with self._write() as conn:
            return await conn.run_sync(replay_config, postback_id, since, until, now)

    # ---- pagination -----------------------------------------------------------------

    async def _page(
        self, stmt: Any, table: Table, limit: int, cursor: str | None, build: Any
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        after = _cursor(cursor)
        if after is not None:
            stmt = stmt.where(table.c.id < after)
        stmt = stmt.order_by(table.c.id.desc()).limit(limit + 1)
        async with self._read() as conn:
            found = list(await conn.execute(stmt))
        more = len(found) > limit
        found = found[:limit]
        next_cursor = str(found[-1].id) if more else None
        return Page([build(row) for row in found], next_cursor)
