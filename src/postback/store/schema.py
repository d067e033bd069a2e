"""The one schema both backends share.

Times are integer microseconds since the Unix epoch (UTC) and money is integer
ten-thousandths of the currency unit: both exact and identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
    true,
)

from postback.domain.report import COUNTERS

metadata = MetaData()

# SQLite only makes INTEGER PRIMARY KEY an alias of its rowid (autoincrement).
Id = BigInteger().with_variant(Integer(), "sqlite")

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

advertisers = Table(
    "advertisers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("postback_token", String(128), nullable=False),
    # After a rotation the old token keeps working until `previous_token_until`.
    Column("previous_token", String(128)),
    Column("previous_token_until", BigInteger),
    Column("require_token", Boolean, nullable=False),
    Column("allowed_ips", Text, nullable=False),  # JSON list of CIDRs
    Column("status_map", Text, nullable=False),  # JSON object
    # Their field names -> ours (`click_id`, ..., `attr.<name>`), and their event names ->
    # ours, both JSON objects; set by a partner template or by hand.
    Column("field_map", Text, nullable=False, server_default="{}"),
    Column("event_map", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # A sales platform's template and the secret it proves its postbacks with (instead of
    # our token); whether our own signed postbacks (`signature`, `ts`) are recognised.
    Column("template", String(32)),
    Column("partner_secret", String(255)),
    Column("signed_postbacks", Boolean, nullable=False, server_default=false()),
)

offers = Table(
    "offers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("advertiser_id", BigInteger, ForeignKey("advertisers.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("destination_url", Text, nullable=False),
    Column("fallback_url", Text),
    Column("revenue", BigInteger, nullable=False),
    Column("payout", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Sale lifecycle (domain/lifecycle.py): the events this offer's orders go through
    # (JSON list), those its affiliates may receive (JSON list; null: the default rule),
    # and whether affiliates may receive the buyer's personal data (attributes).
    Column("lifecycle_events", Text, nullable=False, server_default="[]"),
    Column("affiliate_events", Text),
    Column("affiliate_personal_data", Boolean, nullable=False, server_default=false()),
    Column("bot_url", Text),
    # Days after its click a postback may still create a conversion (migration 0013).
    Column("attribution_days", Integer, nullable=False, server_default="30"),
)

affiliates = Table(
    "affiliates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("api_key_hash", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

clicks = Table(
    "clicks",
    metadata,
    Column("click_id", String(64), primary_key=True),
    Column("offer_id", BigInteger, nullable=False),
    Column("affiliate_id", BigInteger, nullable=False),
    Column("sub1", String(255)),
    Column("sub2", String(255)),
    Column("sub3", String(255)),
    Column("sub4", String(255)),
    Column("sub5", String(255)),
    Column("ip", String(45)),
    Column("user_agent", Text),
    Column("referrer", Text),
    Column("country", String(2)),
    Column("created_at", BigInteger, nullable=False),
    Column("region", String(128)),
    Column("city", String(128)),
    Column("device", String(16)),
    Column("os", String(64)),
    Column("browser", String(64)),
    Column("is_bot", Boolean, nullable=False, server_default=false()),
    Column("is_unique", Boolean, nullable=False, server_default=true()),
    Column("cost", BigInteger),  # ten-thousandths of the offer's currency
    Column("visitor", String(32)),
    Index("ix_clicks_created_at", "created_at"),
    # A day of one offer's clicks from one affiliate: what an imported cost is spread over.
    Index("ix_clicks_offer_affiliate_created", "offer_id", "affiliate_id", "created_at"),
)

# What a conversion keeps of its click once the click's retention has passed and the raw
# click is purged (store/purge.py): the same columns, without the visitor's address,
# User-Agent, referrer and hash. Click lookups fall back to it.
kept_clicks = Table(
    "kept_clicks",
    metadata,
    *(column._copy() for column in clicks.columns),
    # `postback export clicks` reads a time range of kept clicks with the raw ones.
    Index("ix_kept_clicks_created_at", "created_at"),
)

# The last click of each visitor (a keyed hash of IP and User-Agent, never the pair) on
# each offer: a click is unique when the one before it is older than the unique window.
# `previous_at` is the last click before the latest, returned by the upsert that sets it.
click_visitors = Table(
    "click_visitors",
    metadata,
    Column("visitor", String(32), primary_key=True),
    Column("offer_id", BigInteger, primary_key=True),
    Column("last_at", BigInteger, nullable=False),
    Column("previous_at", BigInteger),
)

conversions = Table(
    "conversions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("identity_key", Text, nullable=False, unique=True),
    Column("click_id", String(64), nullable=False),
    Column("offer_id", BigInteger, nullable=False),
    Column("affiliate_id", BigInteger, nullable=False),
    Column("advertiser_id", BigInteger, nullable=False),
    Column("event", String(64), nullable=False),
    Column("txid", String(255)),
    Column("status", String(16), nullable=False),
    Column("revenue", BigInteger, nullable=False),
    Column("payout", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # The last lifecycle event of an order (null for plain conversions) and the fields the
    # platform sent along (JSON object: customer, product, tracking code ...).
    Column("stage", String(64)),
    Column("attributes", Text),
    Index("ix_conversions_click_id", "click_id"),
    Index("ix_conversions_created_at", "created_at"),
)

conversion_history = Table(
    "conversion_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversion_id", BigInteger, ForeignKey("conversions.id"), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("revenue", BigInteger, nullable=False),
    Column("incoming_id", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("stage", String(64)),
    Index("ix_conversion_history_conversion_id", "conversion_id"),
    # Alerts ask "any approval since T?" (store/alerts.py).
    Index("ix_conversion_history_created_at", "created_at", "to_status"),
)

postback_configs = Table(
    "postback_configs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("affiliate_id", BigInteger),
    Column("offer_id", BigInteger),
    Column("url", Text, nullable=False),
    Column("method", String(8), nullable=False),
    Column("body", Text),
    Column("content_type", String(64), nullable=False),
    Column("events", Text, nullable=False),  # JSON list
    Column("statuses", Text, nullable=False),  # JSON list
    Column("active", Boolean, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Deleted configs stay so that their past deliveries remain readable.
    Column("deleted_at", BigInteger),
    # After a secret rotation the old secret also signs until `previous_secret_until`.
    Column("previous_secret", String(128)),
    Column("previous_secret_until", BigInteger),
    Column("sign_get", Boolean, nullable=False, default=False, server_default=false()),
    # Switched off by the workers (partner gone, or failing for days); PATCH active=true
    # clears it and resends what the config still owes.
    Column("disabled_reason", Text),
    Column("disabled_at", BigInteger),
    Column("failing_since", BigInteger),
    # A tracker's words for our statuses (JSON object), parameters left out when empty,
    # and nothing sent for a lifecycle stage that keeps the status (tracker templates).
    Column("status_map", Text, nullable=False, server_default="{}"),
    Column("omit_empty", Boolean, nullable=False, server_default=false()),
    Column("status_changes_only", Boolean, nullable=False, server_default=false()),
    Index("ix_postback_configs_affiliate_id", "affiliate_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("conversion_id", BigInteger, ForeignKey("conversions.id"), nullable=False),
    Column("postback_id", BigInteger, nullable=False),
    Column("event", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("method", String(8), nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text),
    Column("content_type", String(64)),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger),
    Column("claim_token", String(64)),
    Column("claimed_until", BigInteger),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Set when retention removed a delivered postback's body (store/purge.py).
    Column("body_purged_at", BigInteger),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
    Index("ix_deliveries_conversion_id", "conversion_id"),
    Index("ix_deliveries_postback_id", "postback_id"),
    # The delivered postbacks whose bodies retention has still to remove, oldest first.
    Index(
        "ix_deliveries_delivered_body",
        "updated_at",
        sqlite_where=text("state = 'delivered' AND body IS NOT NULL"),
        postgresql_where=text("state = 'delivered' AND body IS NOT NULL"),
    ),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", BigInteger, ForeignKey("deliveries.id"), nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("url", Text, nullable=False),
    Column("method", String(8), nullable=False),
    Column("status_code", Integer),
    Column("response_excerpt", Text),
    Column("error", Text),
    Column("success", Boolean, nullable=False),
    Index("ix_delivery_attempts_delivery_id", "delivery_id"),
    Index("ix_delivery_attempts_started_at", "started_at"),
)

incoming_log = Table(
    "incoming_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("ip", String(45)),
    Column("query", Text, nullable=False),
    Column("body", Text),
    Column("http_status", Integer, nullable=False),
    Column("result", String(32), nullable=False),  # created | updated | duplicate | error code
    Column("message", Text),
    Column("click_id", String(64)),
    Column("conversion_id", BigInteger),
    Column("advertiser_id", BigInteger),
    Index("ix_incoming_log_received_at", "received_at"),
    Index("ix_incoming_log_conversion_id", "conversion_id"),
)

postback_tests = Table(
    "postback_tests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("postback_id", BigInteger, nullable=False),
    Column("conversion_id", BigInteger),  # null: sample values
    Column("started_at", BigInteger, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("method", String(8), nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text),
    Column("content_type", String(64)),
    Column("status_code", Integer),
    Column("response_excerpt", Text),
    Column("error", Text),
    Column("kind", String(32), nullable=False),
    Column("success", Boolean, nullable=False),
    Index("ix_postback_tests_postback_id", "postback_id"),
    Index("ix_postback_tests_started_at", "started_at"),
)


# ---- alerts -----------------------------------------------------------------------------
# Rules checked by the workers (domain/alerts.py, store/alerts.py); each change of state
# is an incident, sent once to the rule's webhook.

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("offer_id", BigInteger),
    Column("postback_id", BigInteger),
    Column("threshold", Integer, nullable=False),
    Column("percent", Integer, nullable=False),
    Column("window_seconds", Integer, nullable=False),
    Column("webhook_url", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("state", String(16), nullable=False),  # ok | firing
    Column("state_since", BigInteger),
    Column("checked_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # fired | recovered
    Column("detail", Text, nullable=False),  # JSON: what was measured
    Column("created_at", BigInteger, nullable=False),
    Column("notify_state", String(16), nullable=False),  # pending | sent | failed
    Column("notify_attempts", Integer, nullable=False),
    Column("notify_next_at", BigInteger),
    Column("claimed_until", BigInteger),
    Column("status_code", Integer),
    Column("last_error", Text),
    Column("notified_at", BigInteger),
    Index("ix_alert_incidents_alert_id", "alert_id"),
    Index("ix_alert_incidents_notify", "notify_state", "notify_next_at"),
)


# ---- report rollups ---------------------------------------------------------------------
# Counters per UTC time bucket (`grain` seconds: 900, 3600, 21600, 86400 or 604800, from
# `bucket_at` microseconds), one table per set of dimensions kept ("cube"). They are
# written in the transaction that writes the clicks or conversions they count
# (store/rollups.py); reports read them (store/reports.py). A missing sub or event is ''.
# SQLite keeps them as clustered (WITHOUT ROWID) tables: the key is the table. PostgreSQL
# keeps the counters in the primary key too (INCLUDE), so a report reads the key alone
# (index-only), and vacuums these upserted tables often enough that the visibility map
# lets it skip the heap (migration 0006).

#: Per-table autovacuum settings of the rollups on PostgreSQL (the defaults wait for a
#: fifth of the table to change).
ROLLUP_STORAGE = {
    "autovacuum_vacuum_scale_factor": 0.01,
    "autovacuum_vacuum_insert_scale_factor": 0.01,
    "autovacuum_analyze_scale_factor": 0.02,
}


def _counters() -> list[Column[int]]:
    return [Column(name, BigInteger, nullable=False) for name in COUNTERS]


def _rollup_key(*names: str) -> PrimaryKeyConstraint:
    return PrimaryKeyConstraint(*names, postgresql_include=list(COUNTERS))


rollup_base = Table(
    "rollup_base",
    metadata,
    Column("grain", Integer, nullable=False),
    Column("bucket_at", BigInteger, nullable=False),
    Column("offer_id", BigInteger, nullable=False),
    Column("affiliate_id", BigInteger, nullable=False),
    *_counters(),
    _rollup_key("grain", "bucket_at", "offer_id", "affiliate_id"),
    sqlite_with_rowid=False,
    postgresql_with=ROLLUP_STORAGE,
)

rollup_events = Table(
    "rollup_events",
    metadata,
    Column("grain", Integer, nullable=False),
    Column("bucket_at", BigInteger, nullable=False),
    Column("offer_id", BigInteger, nullable=False),
    Column("affiliate_id", BigInteger, nullable=False),
    Column("event", String(64), nullable=False),
    *_counters(),
    _rollup_key("grain", "bucket_at", "offer_id", "affiliate_id", "event"),
    sqlite_with_rowid=False,
    postgresql_with=ROLLUP_STORAGE,
)

# One text dimension at a time (`slot` 1..9: sub1..sub5, country, device, os, browser):
# an affiliate's values of it without the other dimensions.
rollup_subs = Table(
    "rollup_subs",
    metadata,
    Column("slot", SmallInteger, nullable=False),
    Column("grain", Integer, nullable=False),
    Column("bucket_at", BigInteger, nullable=False),
    Column("affiliate_id", BigInteger, nullable=False),
    Column("value", String(255), nullable=False),
    *_counters(),
    _rollup_key("slot", "grain", "bucket_at", "affiliate_id", "value"),
    sqlite_with_rowid=False,
    postgresql_with=ROLLUP_STORAGE,
)

# Every dimension. Nine texts (five subs of up to 255 characters, then the visitor's
# country, device, os, browser) are too long for one index entry, so the key holds
# `subs_key`, a 128-bit digest of the nine.
rollup_all = Table(
    "rollup_all",
    metadata,
    Column("grain", Integer, nullable=False),
    Column("bucket_at", BigInteger, nullable=False),
    Column("offer_id", BigInteger, nullable=False),
    Column("affiliate_id", BigInteger, nullable=False),
    Column("event", String(64), nullable=False),
    Column("subs_key", String(32), nullable=False),
    Column("sub1", String(255), nullable=False),
    Column("sub2", String(255), nullable=False),
    Column("sub3", String(255), nullable=False),
    Column("sub4", String(255), nullable=False),
    Column("sub5", String(255), nullable=False),
    Column("country", String(2), nullable=False),
    Column("device", String(16), nullable=False),
    Column("os", String(64), nullable=False),
    Column("browser", String(64), nullable=False),
    *_counters(),
    _rollup_key("grain", "bucket_at", "offer_id", "affiliate_id", "event", "subs_key"),
    sqlite_with_rowid=False,
    postgresql_with=ROLLUP_STORAGE,
)

# Rollup changes not yet in the rollups, on PostgreSQL: a transaction that writes clicks
# or conversions appends its changes as one row (inserts only, so concurrent writers share
# no row) and a folder moves them into the rollups in one transaction of its own; a report
# folds what is pending before it reads (store/pending.py). SQLite, one writer at a time,
# writes the rollups directly and leaves this table empty.
rollup_pending = Table(
    "rollup_pending",
    metadata,
    Column("id", Id, primary_key=True),
    Column("cells", LargeBinary, nullable=False),
    postgresql_with={
        "autovacuum_vacuum_scale_factor": 0.0,
        "autovacuum_vacuum_threshold": 5000,
        "autovacuum_vacuum_insert_scale_factor": 0.0,
        "autovacuum_vacuum_insert_threshold": 5000,
    },
)

# Zones whose local days the rollups also keep (grain `-id`, bucket_at the local midnight
# in UTC microseconds), so a day there is one bucket, as a UTC day is. Rows are only
# added, each with the backfill of its days, in one transaction (store/zones.py).
report_zones = Table(
    "report_zones",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

# Limits shared by every process (store/sql_limits.py).
#: The longest client address and endpoint the two tables below hold.
CLIENT_CHARS = 255
ENDPOINT_CHARS = 512

# Failed authentications, one row each (inserts only: concurrent failures share no row),
# counted per client address over the last minute on PostgreSQL; rows older than that
# are purged every minute by each server process (services/ratelimit.py).
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("id", Id, primary_key=True),
    Column("client", String(CLIENT_CHARS), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_auth_failures_client_at", "client", "at"),
)

# Client addresses past the failed-authentication limit, and until when: written when a
# failure reaches the limit, read every second by each server process.
auth_blocks = Table(
    "auth_blocks",
    metadata,
    Column("client", String(CLIENT_CHARS), primary_key=True),
    Column("blocked_until", BigInteger, nullable=False),
)

# Partner endpoints (scheme://host:port) a worker's circuit breaker paused: until when,
# how long the pause was (milliseconds; a failed probe doubles it), and until when one
# worker holds the right to send the probe (dispatch/pauses.py). Written when a breaker
# opens or closes, read every second by each worker; a success deletes the row.
endpoint_pauses = Table(
    "endpoint_pauses",
    metadata,
    Column("endpoint", String(ENDPOINT_CHARS), primary_key=True),
    Column("paused_until", BigInteger, nullable=False),
    Column("pause_ms", BigInteger, nullable=False),
    Column("probe_until", BigInteger, nullable=False),
)
