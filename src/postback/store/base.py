"""What goes into the store and comes out of it besides the domain records: log entries,
postback commands and results, attempt results, pages (the store itself: store/sql.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from postback.domain.conversion import Outcome
from postback.domain.records import (
    Click,
    Conversion,
    Offer,
)

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
class EndpointPause:
    """A partner endpoint a worker's circuit breaker paused, as every worker reads it."""

    endpoint: str
    paused_until: datetime
    # Seconds: how long the pause was (a failed probe doubles it).
    pause: float
    # Until when one worker holds the right to send the probe; None: nobody does.
    probe_until: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None
