"""The store interface: everything the edge, the API and the workers ask of the database."""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from postback.domain.conversion import Outcome
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
from postback.domain.report import Report, ReportQuery

# The most rows one page of any list may hold.
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class IncomingEntry:
    """One incoming postback request as it goes into the incoming log."""

    received_at: datetime
    method: str
    ip: str | None
    query: str
    body: str | None
    http_status: int
    result: str
    message: str | None = None
    click_id: str | None = None
    conversion_id: int | None = None
    advertiser_id: int | None = None


@dataclass(frozen=True, slots=True)
class PostbackCommand:
    """An authenticated, validated postback to apply in one transaction."""

    click: Click
    offer: Offer
    event: str
    txid: str | None
    # None: a lifecycle event that keeps the order's status (domain/lifecycle.py).
    status: str | None
    revenue: Decimal | None
    currency: str | None
    received_at: datetime
    log: IncomingEntry
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostbackResult:
    outcome: Outcome
    conversion: Conversion
    deliveries: int


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What a worker learned from one attempt, to record with the delivery's new state."""

    attempt_no: int
    started_at: datetime
    duration_ms: int
    url: str
    method: str
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    success: bool
    next_attempt_at: datetime | None  # None with success=False means: give up
    # Switch the delivery's postback config off, for this reason (its partner is gone,
    # or it has failed for too long); its pending deliveries wait until it is re-enabled.
    disable_config: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryHealth:
    """How outgoing postbacks fare: deliveries created since a moment, by state, and the
    configs the workers switched off (paused endpoints)."""

    delivered: int
    retrying: int  # pending after at least one failed attempt
    waiting: int  # pending, not tried yet
    failed: int
    paused_configs: int


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None


class Store(abc.ABC):
    """One interface; SqliteStore and PostgresStore implement it."""

    # lifecycle
    @abc.abstractmethod
    async def migrate(self) -> None: ...

    @abc.abstractmethod
    async def add_report_zones(self, names: Sequence[str]) -> list[str]:
        """Keep the local days of these IANA zones in the rollups too (backfilled from
        what is stored), so reports grouped by day there read one bucket per day;
        returns the names that were not kept before."""

    @abc.abstractmethod
    async def is_ready(self) -> bool: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # settings kept in the database
    @abc.abstractmethod
    async def get_meta(self, key: str) -> str | None: ...

    @abc.abstractmethod
    async def put_meta_once(self, key: str, value: str) -> str:
        """Store value under key unless one is there; return the value that is kept."""

    # advertisers
    @abc.abstractmethod
    async def create_advertiser(self, fields: Mapping[str, Any]) -> Advertiser: ...

    @abc.abstractmethod
    async def get_advertiser(self, advertiser_id: int) -> Advertiser | None: ...

    @abc.abstractmethod
    async def list_advertisers(self, *, limit: int = MAX_PAGE, cursor: str | None = None) -> Page:
        """Newest first, like every list; `cursor` is the previous page's next_cursor."""

    @abc.abstractmethod
    async def update_advertiser(
        self, advertiser_id: int, changes: Mapping[str, Any]
    ) -> Advertiser | None: ...

    # offers
    @abc.abstractmethod
    async def create_offer(self, fields: Mapping[str, Any]) -> Offer: ...

    @abc.abstractmethod
    async def get_offer(self, offer_id: int) -> Offer | None: ...

    @abc.abstractmethod
    async def list_offers(
        self,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page: ...

    @abc.abstractmethod
    async def update_offer(self, offer_id: int, changes: Mapping[str, Any]) -> Offer | None: ...

    # affiliates
    @abc.abstractmethod
    async def create_affiliate(self, name: str, api_key_hash: str) -> Affiliate: ...

    @abc.abstractmethod
    async def get_affiliate(self, affiliate_id: int) -> Affiliate | None: ...

    @abc.abstractmethod
    async def find_affiliate_by_key_hash(self, api_key_hash: str) -> Affiliate | None: ...

    @abc.abstractmethod
    async def list_affiliates(
        self,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page: ...

    @abc.abstractmethod
    async def update_affiliate(
        self, affiliate_id: int, changes: Mapping[str, Any]
    ) -> Affiliate | None: ...

    # postback configs
    @abc.abstractmethod
    async def create_postback(self, fields: Mapping[str, Any]) -> PostbackConfig: ...

    @abc.abstractmethod
    async def get_postback(
        self, postback_id: int, *, include_deleted: bool = False
    ) -> PostbackConfig | None: ...

    @abc.abstractmethod
    async def list_postbacks(
        self,
        affiliate_id: int | None = None,
        *,
        offer_id: int | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page: ...

    @abc.abstractmethod
    async def update_postback(
        self, postback_id: int, changes: Mapping[str, Any]
    ) -> PostbackConfig | None: ...

    @abc.abstractmethod
    async def delete_postback(self, postback_id: int) -> bool: ...

    @abc.abstractmethod
    async def record_trial(self, fields: Mapping[str, Any]) -> TrialSend:
        """Log one Test-button send of a config."""

    @abc.abstractmethod
    async def list_trials(
        self, postback_id: int, *, limit: int = MAX_PAGE, cursor: str | None = None
    ) -> Page: ...

    @abc.abstractmethod
    async def delete_advertiser(self, advertiser_id: int) -> bool:
        """False when there is no such advertiser; InUse while it has offers."""

    # clicks
    @abc.abstractmethod
    async def insert_clicks(self, clicks: Sequence[Click]) -> None:
        """Store a batch of clicks durably in one transaction."""

    @abc.abstractmethod
    async def get_click(self, click_id: str) -> Click | None: ...

    # incoming postbacks and conversions
    @abc.abstractmethod
    async def record_postback(self, command: PostbackCommand) -> PostbackResult:
        """Apply a postback: conversion, history, deliveries and log in one transaction.

        Raises InvalidTransition (nothing written) when the state machine refuses.
        """

    @abc.abstractmethod
    async def log_incoming(self, entries: Sequence[IncomingEntry]) -> None: ...

    @abc.abstractmethod
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

    @abc.abstractmethod
    async def get_conversion(self, conversion_id: int) -> Conversion | None: ...

    @abc.abstractmethod
    async def list_conversions(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page: ...

    @abc.abstractmethod
    async def conversion_history(self, conversion_id: int) -> list[StatusChange]: ...

    # deliveries
    @abc.abstractmethod
    async def list_deliveries(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page: ...

    @abc.abstractmethod
    async def get_delivery(self, delivery_id: int) -> Delivery | None: ...

    @abc.abstractmethod
    async def delivery_health(
        self, *, since: datetime, affiliate_id: int | None = None
    ) -> DeliveryHealth:
        """Deliveries created at or after `since` by state (of one affiliate's configs when
        `affiliate_id` is given), and how many configs are switched off."""

    @abc.abstractmethod
    async def list_attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[Attempt]]: ...

    @abc.abstractmethod
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

    @abc.abstractmethod
    async def finish_attempt(self, claim: ClaimedDelivery, result: AttemptResult) -> bool:
        """Record an attempt and the delivery's new state; False when the lease was lost."""

    @abc.abstractmethod
    async def postpone_claims(self, claims: Sequence[ClaimedDelivery], until: datetime) -> None:
        """Give claimed deliveries back unsent, due again at `until` (no attempt counted)."""

    async def postpone_claim(self, claim: ClaimedDelivery, until: datetime) -> None:
        await self.postpone_claims([claim], until)

    @abc.abstractmethod
    async def retry_failed(
        self, postback_id: int, since: datetime | None, until: datetime | None, now: datetime
    ) -> int:
        """Make every delivery of a config that gave up (created in [since, until)) due now."""

    @abc.abstractmethod
    async def retry_delivery(self, delivery_id: int, now: datetime) -> bool:
        """Make a delivery due now again, whatever its state; False if it does not exist."""

    # reports
    @abc.abstractmethod
    async def report(self, query: ReportQuery) -> Report:
        """Figures grouped as asked, read from the rollups; InvalidInput when the time
        zone cannot be bucketed exactly over those dates or the answer is too large."""

    # alerts
    @abc.abstractmethod
    async def create_alert(self, fields: Mapping[str, Any]) -> Alert: ...

    @abc.abstractmethod
    async def get_alert(self, alert_id: int) -> Alert | None: ...

    @abc.abstractmethod
    async def list_alerts(self, *, limit: int = MAX_PAGE, cursor: str | None = None) -> Page: ...

    @abc.abstractmethod
    async def update_alert(self, alert_id: int, changes: Mapping[str, Any]) -> Alert | None: ...

    @abc.abstractmethod
    async def delete_alert(self, alert_id: int) -> bool:
        """Deletes the rule and its incidents."""

    @abc.abstractmethod
    async def list_incidents(
        self, *, alert_id: int | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page: ...

    @abc.abstractmethod
    async def check_alerts(self, now: datetime, interval: float) -> list[Incident]:
        """Check the rules not checked for `interval` seconds; each change of state is
        recorded once as an incident (also with several workers)."""

    @abc.abstractmethod
    async def claim_notifications(
        self, now: datetime, lease_seconds: float
    ) -> list[tuple[Alert, Incident]]:
        """Lease incidents whose webhook call is due."""

    @abc.abstractmethod
    async def finish_notification(
        self,
        incident_id: int,
        success: bool,
        status_code: int | None,
        error: str | None,
        now: datetime,
    ) -> None: ...

    # replays
    @abc.abstractmethod
    async def replay(
        self, postback_id: int, since: datetime, until: datetime | None, now: datetime
    ) -> tuple[int, int]:
        """Conversions created in [since, until): their deliveries for this config are due
        now; those that never had one get one rendered now. Returns (requeued, created)."""
