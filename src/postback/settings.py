"""Typed settings read from POSTBACK_* environment variables, validated at start-up."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from urllib.parse import urlsplit

import maxminddb
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from postback.domain.buckets import zone_names
from postback.domain.retention import MAX_RETENTION_DAYS, Retention
from postback.domain.targets import TargetPolicy, parse_allowed_targets

DEFAULT_RETRY_SCHEDULE = "5,300,1800,7200,18000,36000,50400,72000,86400"
MIN_ADMIN_KEY_LENGTH = 16
MIN_SESSION_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTBACK_", frozen=True, extra="ignore")

    database_url: str = "sqlite:///./postback.db"
    admin_key: SecretStr | None = None
    base_url: str | None = None
    allow_private_targets: bool = False
    # CIDRs, addresses and host names outgoing postbacks may reach even though they are
    # not global (comma-separated), for partners inside the operator's own network.
    allowed_targets: str = ""
    # Kept as the raw comma-separated text so the environment format is the contract's.
    retry_schedule: str = DEFAULT_RETRY_SCHEDULE
    delivery_timeout: float = Field(default=10.0, gt=0, le=300)
    # Proxies whose X-Forwarded-For is believed (CIDRs, comma-separated); none by default.
    trusted_proxies: str = ""
    worker_concurrency: int = Field(default=64, ge=1, le=10_000)
    worker_per_endpoint: int = Field(default=8, ge=1, le=1_000)
    worker_poll_interval: float = Field(default=0.5, gt=0, le=60)
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=10_485_760)
    max_api_body_bytes: int = Field(default=1_048_576, ge=1_024, le=104_857_600)
    # Failed authentications (API keys, postback tokens) one client address may make per
    # minute before it is answered 429; 0 turns the limit off.
    auth_failures_per_minute: int = Field(default=30, ge=0, le=1_000_000)
    # Consecutive failed attempts that pause an endpoint, and how long the first pause
    # lasts (each failed probe doubles it, up to the maximum).
    breaker_threshold: int = Field(default=5, ge=1, le=10_000)
    breaker_pause: float = Field(default=30.0, gt=0, le=86_400)
    breaker_max_pause: float = Field(default=900.0, gt=0, le=86_400)
    # A postback config failing without a single success for this long is disabled.
    disable_failing_after: float = Field(default=5 * 86_400.0, gt=0, le=365 * 86_400.0)
    # Seconds between two checks of an alert rule (and between rounds of the checker).
    alert_interval: float = Field(default=60.0, gt=0, le=86_400)
    # Signs the web console's session cookies. Unset: one is generated on first use and
    # kept in the database, so every process of one installation shares it.
    session_secret: SecretStr | None = None
    # Console sessions last this long (seconds) from login.
    session_ttl: int = Field(default=12 * 3600, ge=300, le=30 * 86_400)
    # The session cookie is sent over HTTPS only. Browsers also keep Secure cookies for
    # http://localhost and http://127.0.0.1; turn it off only for plain HTTP elsewhere.
    cookie_secure: bool = True
    # Time zones (IANA names, comma-separated) whose local days the report rollups keep
    # too, so a report by day there reads one bucket per day; added zones are filled
    # from what is stored when the database is migrated.
    report_zones: str = ""
    # Click intelligence: an .mmdb file (MaxMind GeoLite2/GeoIP2 or DB-IP format) used
    # instead of the bundled IP-to-country data; seconds within which the same visitor's
    # click on the same offer is not unique again; store IPv4 /24 and IPv6 /48 only.
    geoip_db: str | None = None
    unique_window: int = Field(default=86_400, ge=0, le=366 * 86_400)
    anonymize_ip: bool = False
    # Data lifecycle: days raw clicks, the incoming log and delivery attempts (with
    # delivered bodies) are kept; 0 keeps them for ever. Clicks unset: the longest
    # attribution window of any offer plus 30 days.
    retain_clicks_days: int | None = Field(default=None, ge=0, le=MAX_RETENTION_DAYS)
    retain_incoming_days: int = Field(default=30, ge=0, le=MAX_RETENTION_DAYS)
    retain_attempts_days: int = Field(default=30, ge=0, le=MAX_RETENTION_DAYS)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = value.split(":", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres", "postgresql+asyncpg"}:
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("admin_key")
    @classmethod
    def _check_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_ADMIN_KEY_LENGTH} characters")
        return value

    @field_validator("session_secret")
    @classmethod
    def _check_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SESSION_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SESSION_SECRET_LENGTH} characters")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("retry_schedule")
    @classmethod
    def _check_retry_schedule(cls, value: str) -> str:
        parse_retry_schedule(value)
        return value

    @field_validator("allowed_targets")
    @classmethod
    def _check_allowed_targets(cls, value: str) -> str:
        parse_allowed_targets(value.split(","))
        return value

    @field_validator("report_zones")
    @classmethod
    def _check_report_zones(cls, value: str) -> str:
        parse_report_zones(value)
        return value

    @field_validator("geoip_db")
    @classmethod
    def _check_geoip_db(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            maxminddb.open_database(value).close()
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
        except (maxminddb.InvalidDatabaseError, ValueError) as exc:
            raise ValueError(f"{value} is not a MaxMind DB (.mmdb) file: {exc}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @cached_property
    def report_zone_names(self) -> tuple[str, ...]:
        return parse_report_zones(self.report_zones)

    @cached_property
    def retry_delays(self) -> tuple[float, ...]:
        return parse_retry_schedule(self.retry_schedule)

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    @cached_property
    def target_policy(self) -> TargetPolicy:
        """Which non-global addresses outgoing postbacks may reach."""
        listed = parse_allowed_targets(self.allowed_targets.split(","))
        return TargetPolicy(self.allow_private_targets, listed.networks, listed.hosts)

    @property
    def retention(self) -> Retention:
        return Retention(
            self.retain_clicks_days, self.retain_incoming_days, self.retain_attempts_days
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def public_base_url(self, host: str, port: int) -> str:
        return self.base_url or f"http://{host}:{port}"


def parse_retry_schedule(text: str) -> tuple[float, ...]:
    """'5,300,1800' -> (5.0, 300.0, 1800.0); an empty text means no retries."""
    if not text.strip():
        return ()
    delays = []
    for part in text.split(","):
        try:
            delay = float(part.strip())
        except ValueError:
            raise ValueError(f"not a number of seconds: {part.strip()!r}") from None
        if not 0 <= delay <= 30 * 86_400:
            raise ValueError(f"delay out of range (0..2592000 s): {part.strip()}")
        delays.append(delay)
    if len(delays) > 50:
        raise ValueError("at most 50 retries")
    return tuple(delays)


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    )


#: More zones than this multiplies every rollup write for little gain.
MAX_REPORT_ZONES = 8


def parse_report_zones(text: str) -> tuple[str, ...]:
    """Distinct IANA zone names from comma-separated text; UTC needs no listing."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for name in names:
        if name not in zone_names():
            raise ValueError(f"{name!r} is not an IANA time zone name (such as Europe/Berlin)")
    names = tuple(name for name in names if name != "UTC")
    if len(names) > MAX_REPORT_ZONES:
        raise ValueError(f"at most {MAX_REPORT_ZONES} report zones")
    return names
