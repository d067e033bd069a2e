"""Rows <-> domain records, times <-> integer microseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from postback.domain.money import from_units
from postback.domain.records import (
    Advertiser,
    Affiliate,
    Alert,
    Attempt,
    Click,
    Conversion,
    Delivery,
    Incident,
    Offer,
    PostbackConfig,
    StatusChange,
    TrialSend,
)
from postback.store.base import IncomingEntry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, tz=UTC).replace(microsecond=value % 1_000_000)


def maybe_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def advertiser(row: Any) -> Advertiser:
    return Advertiser(
        id=row.id,
        name=row.name,
        postback_token=row.postback_token,
        require_token=bool(row.require_token),
        allowed_ips=tuple(orjson.loads(row.allowed_ips)),
        status_map=dict(orjson.loads(row.status_map)),
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
        previous_token=row.previous_token,
        previous_token_until=maybe_from_us(row.previous_token_until),
        field_map=dict(orjson.loads(row.field_map or "{}")),
        event_map=dict(orjson.loads(row.event_map or "{}")),
    )


def offer(row: Any) -> Offer:
    return Offer(
        id=row.id,
        advertiser_id=row.advertiser_id,
        name=row.name,
        destination_url=row.destination_url,
        fallback_url=row.fallback_url,
        revenue=from_units(row.revenue),
        payout=from_units(row.payout),
        currency=row.currency,
        status=row.status,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
        lifecycle_events=tuple(orjson.loads(row.lifecycle_events or "[]")),
        affiliate_events=_maybe_tuple(row.affiliate_events),
        affiliate_personal_data=bool(row.affiliate_personal_data),
    )


def _maybe_tuple(text: str | None) -> tuple[str, ...] | None:
    found = None if text is None else orjson.loads(text)
    return None if found is None else tuple(found)


def affiliate(row: Any) -> Affiliate:
    return Affiliate(
        id=row.id,
        name=row.name,
        status=row.status,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
    )


def click(row: Any) -> Click:
    return Click(
        click_id=row.click_id,
        offer_id=row.offer_id,
        affiliate_id=row.affiliate_id,
        subs=(row.sub1, row.sub2, row.sub3, row.sub4, row.sub5),
        ip=row.ip,
        user_agent=row.user_agent,
        referrer=row.referrer,
        country=row.country,
        created_at=from_us(row.created_at),
    )


def click_values(record: Click) -> dict[str, Any]:
    values: dict[str, Any] = {
        "click_id": record.click_id,
        "offer_id": record.offer_id,
        "affiliate_id": record.affiliate_id,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "referrer": record.referrer,
        "country": record.country,
        "created_at": to_us(record.created_at),
    }
    for index, sub in enumerate(record.subs, start=1):
        values[f"sub{index}"] = sub
    return values


def conversion(row: Any) -> Conversion:
    return Conversion(
        id=row.id,
        click_id=row.click_id,
        offer_id=row.offer_id,
        affiliate_id=row.affiliate_id,
        advertiser_id=row.advertiser_id,
        event=row.event,
        txid=row.txid,
        status=row.status,
        revenue=from_units(row.revenue),
        payout=from_units(row.payout),
        currency=row.currency,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
        stage=row.stage,
        attributes=dict(orjson.loads(row.attributes)) if row.attributes else {},
    )


def status_change(row: Any) -> StatusChange:
    return StatusChange(
        conversion_id=row.conversion_id,
        from_status=row.from_status,
        to_status=row.to_status,
        created_at=from_us(row.created_at),
        stage=row.stage,
    )


def alert(row: Any) -> Alert:
    return Alert(
        id=row.id,
        name=row.name,
        kind=row.kind,
        offer_id=row.offer_id,
        postback_id=row.postback_id,
        threshold=row.threshold,
        percent=row.percent,
        window_seconds=row.window_seconds,
        webhook_url=row.webhook_url,
        secret=row.secret,
        active=bool(row.active),
        state=row.state,
        state_since=maybe_from_us(row.state_since),
        checked_at=maybe_from_us(row.checked_at),
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
    )


def incident(row: Any) -> Incident:
    return Incident(
        id=row.id,
        alert_id=row.alert_id,
        kind=row.kind,
        detail=dict(orjson.loads(row.detail)),
        created_at=from_us(row.created_at),
        notify_state=row.notify_state,
        notify_attempts=row.notify_attempts,
        status_code=row.status_code,
        last_error=row.last_error,
        notified_at=maybe_from_us(row.notified_at),
    )


def postback_config(row: Any) -> PostbackConfig:
    return PostbackConfig(
        id=row.id,
        affiliate_id=row.affiliate_id,
        offer_id=row.offer_id,
        url=row.url,
        method=row.method,
        body=row.body,
        content_type=row.content_type,
        events=tuple(orjson.loads(row.events)),
        statuses=tuple(orjson.loads(row.statuses)),
        active=bool(row.active),
        secret=row.secret,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
        previous_secret=row.previous_secret,
        previous_secret_until=maybe_from_us(row.previous_secret_until),
        sign_get=bool(row.sign_get),
        disabled_reason=row.disabled_reason,
        disabled_at=maybe_from_us(row.disabled_at),
        failing_since=maybe_from_us(row.failing_since),
    )


def delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        message_id=row.message_id,
        conversion_id=row.conversion_id,
        postback_id=row.postback_id,
        event=row.event,
        status=row.status,
        method=row.method,
        url=row.url,
        body=row.body,
        content_type=row.content_type,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=maybe_from_us(row.next_attempt_at),
        last_error=row.last_error,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
    )


def attempt(row: Any) -> Attempt:
    return Attempt(
        id=row.id,
        delivery_id=row.delivery_id,
        attempt_no=row.attempt_no,
        started_at=from_us(row.started_at),
        duration_ms=row.duration_ms,
        url=row.url,
        method=row.method,
        status_code=row.status_code,
        response_excerpt=row.response_excerpt,
        error=row.error,
        success=bool(row.success),
    )


def trial_send(row: Any) -> TrialSend:
    return TrialSend(
        id=row.id,
        postback_id=row.postback_id,
        conversion_id=row.conversion_id,
        started_at=from_us(row.started_at),
        duration_ms=row.duration_ms,
        method=row.method,
        url=row.url,
        body=row.body,
        content_type=row.content_type,
        status_code=row.status_code,
        response_excerpt=row.response_excerpt,
        error=row.error,
        kind=row.kind,
        success=bool(row.success),
    )


def incoming_values(entry: IncomingEntry) -> dict[str, Any]:
    return {
        "received_at": to_us(entry.received_at),
        "method": entry.method,
        "ip": entry.ip,
        "query": entry.query,
        "body": entry.body,
        "http_status": entry.http_status,
        "result": entry.result,
        "message": entry.message,
        "click_id": entry.click_id,
        "conversion_id": entry.conversion_id,
        "advertiser_id": entry.advertiser_id,
    }


def utc_now() -> datetime:
    return datetime.now(UTC)
