"""Alert rules: what each kind measures, when it is breached, and what an incident says.

Three kinds:
- `no_conversions`: at least `threshold` clicks (on `offer_id`, or any offer) and no
  approved conversion in the last `window_seconds`;
- `delivery_failures`: deliveries of postback config `postback_id` failed in more than
  `percent` % of at least `threshold` attempts in the window;
- `bad_tokens`: more than `threshold` incoming postbacks refused for a bad token in it.
An alert fires once when its rule becomes breached and recovers once when it no longer is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from postback.domain.records import Alert, Incident

KINDS: Final = ("no_conversions", "delivery_failures", "bad_tokens")
OK: Final = "ok"
FIRING: Final = "firing"
FIRED: Final = "fired"
RECOVERED: Final = "recovered"
# Sending an incident to the webhook: seconds before each retry.
NOTIFY_RETRIES: Final = (5.0, 30.0, 120.0, 600.0)


@dataclass(frozen=True, slots=True)
class Measurement:
    clicks: int = 0
    approved: int = 0
    attempts: int = 0
    failures: int = 0
    refusals: int = 0

    def as_detail(self, kind: str) -> dict[str, int]:
        if kind == "no_conversions":
            return {"clicks": self.clicks, "approved": self.approved}
        if kind == "delivery_failures":
            return {"attempts": self.attempts, "failures": self.failures}
        return {"refusals": self.refusals}


def window_start(alert: Alert, now: datetime) -> datetime:
    return now - timedelta(seconds=alert.window_seconds)


def breached(alert: Alert, measured: Measurement) -> bool:
    if alert.kind == "no_conversions":
        return measured.clicks >= alert.threshold and measured.approved == 0
    if alert.kind == "delivery_failures":
        return (
            measured.attempts >= max(alert.threshold, 1)
            and measured.failures * 100 > alert.percent * measured.attempts
        )
    if alert.kind == "bad_tokens":
        return measured.refusals > alert.threshold
    raise ValueError(f"unknown alert kind {alert.kind!r}")


def transition(state: str, is_breached: bool) -> tuple[str, str | None]:
    """The alert's next state and the incident it makes (None: nothing changed)."""
    if is_breached and state != FIRING:
        return FIRING, FIRED
    if not is_breached and state == FIRING:
        return OK, RECOVERED
    return state, None


def notification(alert: Alert, incident: Incident) -> dict[str, Any]:
    """The JSON an incident sends to the alert's webhook."""
    return {
        "type": f"alert.{incident.kind}",
        "alert_id": alert.id,
        "alert": alert.name,
        "kind": alert.kind,
        "offer_id": alert.offer_id,
        "postback_id": alert.postback_id,
        "threshold": alert.threshold,
        "percent": alert.percent,
        "window_seconds": alert.window_seconds,
        "incident_id": incident.id,
        "state": FIRING if incident.kind == FIRED else OK,
        "measured": incident.detail,
        "at": incident.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def next_notify_delay(attempts: int) -> float | None:
    """Seconds before the next try after `attempts` failed ones; None: give up."""
    if attempts - 1 < len(NOTIFY_RETRIES):
        return NOTIFY_RETRIES[attempts - 1]
    return None
