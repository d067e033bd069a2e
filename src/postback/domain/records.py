"""Domain records: frozen dataclasses built by the store from rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from postback.domain.conversion import ATTRIBUTION_DAYS


@dataclass(frozen=True, slots=True)
class Advertiser:
    id: int
    name: str
    postback_token: str
    require_token: bool
    allowed_ips: tuple[str, ...]
    status_map: dict[str, str]
    created_at: datetime
    updated_at: datetime
    # The token replaced by the last rotation, still accepted until `previous_token_until`.
    previous_token: str | None = None
    previous_token_until: datetime | None = None
    # Their field names -> ours, and their event names -> ours (partner templates).
    field_map: dict[str, str] = field(default_factory=dict)
    event_map: dict[str, str] = field(default_factory=dict)
    # A sales platform's template (domain/catalog.py) and the secret it proves its
    # postbacks with, accepted instead of our token; never shown back.
    template: str | None = None
    partner_secret: str | None = None
    # Whether `signature` and `ts` are our signed postback (else they are plain data).
    signed_postbacks: bool = False

    def tokens_accepted(self, now: datetime) -> tuple[str, ...]:
        """The current token, and the previous one while its grace period lasts."""
        if (
            self.previous_token is not None
            and self.previous_token_until is not None
            and now < self.previous_token_until
        ):
            return (self.postback_token, self.previous_token)
        return (self.postback_token,)


@dataclass(frozen=True, slots=True)
class Offer:
    id: int
    advertiser_id: int
    name: str
    destination_url: str
    fallback_url: str | None
    revenue: Decimal
    payout: Decimal
    currency: str
    status: str
    created_at: datetime
    updated_at: datetime
    # The sale lifecycle events its orders go through (domain/lifecycle.py), those its
    # affiliates receive (None: the default rule), and whether they get personal data.
    lifecycle_events: tuple[str, ...] = ()
    affiliate_events: tuple[str, ...] | None = None
    affiliate_personal_data: bool = False
    # Where clicks flagged as bots go instead of the destination (None: the destination).
    bot_url: str | None = None
    # How many days after its click a postback may still create a conversion
    # (domain/conversion.py `click_expired`); status changes are accepted at any age.
    attribution_days: int = ATTRIBUTION_DAYS

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Affiliate:
    id: int
    name: str
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Click:
    click_id: str
    offer_id: int
    affiliate_id: int
    subs: tuple[str | None, str | None, str | None, str | None, str | None]
    ip: str | None
    user_agent: str | None
    referrer: str | None
    country: str | None
    created_at: datetime
    # Where and on what the visitor clicked (domain/visitor.py), whether it was a bot,
    # the first click of this visitor on this offer within the unique window, and what
    # the click cost (in the offer's currency).
    region: str | None = None
    city: str | None = None
    device: str | None = None
    os: str | None = None
    browser: str | None = None
    is_bot: bool = False
    is_unique: bool = True
    cost: Decimal | None = None
    # The visitor: a keyed hash of IP and User-Agent (domain/visitor.py), never the pair.
    visitor: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    id: int
    click_id: str
    offer_id: int
    affiliate_id: int
    advertiser_id: int
    event: str
    txid: str | None
    status: str
    revenue: Decimal
    payout: Decimal
    currency: str
    created_at: datetime
    updated_at: datetime
    # A lifecycle order's last event (None for a plain conversion), and the extra fields
    # the platform sent (customer, product, tracking code ...).
    stage: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def outgoing_event(self) -> str:
        """The event outgoing postbacks carry: an order's stage, else the event."""
        return self.stage or self.event


@dataclass(frozen=True, slots=True)
class StatusChange:
    conversion_id: int
    from_status: str | None
    to_status: str
    created_at: datetime
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class PostbackConfig:
    id: int
    affiliate_id: int | None
    offer_id: int | None
    url: str
    method: str
    body: str | None
    content_type: str
    events: tuple[str, ...]
    statuses: tuple[str, ...]
    active: bool
    secret: str
    created_at: datetime
    updated_at: datetime
    # The secret replaced by the last rotation, still signing until `previous_secret_until`.
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None
    # GET deliveries carry a `signature` parameter (see dispatch/signing.py).
    sign_get: bool = False
    # Set when the config was switched off because its partner is gone or kept failing.
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    # The first failed attempt since the last success; None while it succeeds.
    failing_since: datetime | None = None
    # The tracker's words for our statuses, sent as `{status}` (outgoing templates).
    status_map: dict[str, str] = field(default_factory=dict)
    # A URL query parameter whose value comes out empty is left out (`tid=`).
    omit_empty: bool = False
    # A lifecycle stage that keeps the order's status sends nothing (no second approved).
    status_changes_only: bool = False

    @property
    def network_level(self) -> bool:
        return self.affiliate_id is None

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The current secret, and the previous one while its grace period lasts."""
        if (
            self.previous_secret is not None
            and self.previous_secret_until is not None
            and now < self.previous_secret_until
        ):
            return (self.secret, self.previous_secret)
        return (self.secret,)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    message_id: str
    conversion_id: int
    postback_id: int
    event: str
    status: str
    method: str
    url: str
    body: str | None
    content_type: str | None
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    # When retention removed the body of this delivered postback (it can then not be
    # sent again as it was).
    body_purged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    delivery_id: int
    attempt_no: int
    started_at: datetime
    duration_ms: int
    url: str
    method: str
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    success: bool


@dataclass(frozen=True, slots=True)
class TrialSend:
    """One send of a config by its Test button: logged apart from real deliveries."""

    id: int
    postback_id: int
    conversion_id: int | None  # None: sample values
    started_at: datetime
    duration_ms: int
    method: str
    url: str
    body: str | None
    content_type: str | None
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    kind: str
    success: bool


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds under a lease, with what it needs to send it."""

    delivery: Delivery
    claim_token: str
    secret: str
    extra_headers: dict[str, str] = field(default_factory=dict)
    # During a secret rotation's grace period: the old secret, which signs as well.
    previous_secret: str | None = None
    sign_get: bool = False
    # When the config's current run of failures began (None: its last attempt succeeded).
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule the workers check on a schedule (domain/alerts.py)."""

    id: int
    name: str
    kind: str
    offer_id: int | None
    postback_id: int | None
    threshold: int
    percent: int
    window_seconds: int
    webhook_url: str
    secret: str
    active: bool
    state: str
    state_since: datetime | None
    checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Incident:
    """One change of an alert's state, and how sending it to the webhook went."""

    id: int
    alert_id: int
    kind: str
    detail: dict[str, int]
    created_at: datetime
    notify_state: str
    notify_attempts: int
    status_code: int | None
    last_error: str | None
    notified_at: datetime | None
