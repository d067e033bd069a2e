"""Building test records through the Store interface."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from postback.domain.ids import hash_key, new_api_key, new_click_id, new_webhook_secret
from postback.domain.records import Advertiser, Affiliate, Click, Offer, PostbackConfig
from postback.store.base import IncomingEntry, PostbackCommand
from postback.store.sql import Store


def now() -> datetime:
    return datetime.now(UTC)


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


async def advertiser(store: Store, **fields: Any) -> Advertiser:
    values: dict[str, Any] = {
        "name": unique("adv"),
        "postback_token": secrets.token_urlsafe(18),
        "require_token": True,
        "allowed_ips": [],
        "status_map": {},
    }
    values.update(fields)
    return await store.create_advertiser(values)


async def offer(store: Store, advertiser_id: int | None = None, **fields: Any) -> Offer:
    if advertiser_id is None:
        advertiser_id = (await advertiser(store)).id
    values: dict[str, Any] = {
        "advertiser_id": advertiser_id,
        "name": unique("offer"),
        "destination_url": "https://adv.example/land?c={click_id}",
        "fallback_url": None,
        "revenue": Decimal("10"),
        "payout": Decimal("7.5"),
        "currency": "USD",
        "status": "active",
    }
    values.update(fields)
    return await store.create_offer(values)


async def affiliate(store: Store, name: str | None = None) -> Affiliate:
    return await store.create_affiliate(name or unique("aff"), hash_key(new_api_key("aff")))


async def postback(
    store: Store, affiliate_id: int | None, offer_id: int | None, **fields: Any
) -> PostbackConfig:
    values: dict[str, Any] = {
        "affiliate_id": affiliate_id,
        "offer_id": offer_id,
        "url": "https://aff.example/pb?cid={click_id}&p={payout}&s={status}",
        "method": "GET",
        "body": None,
        "content_type": "application/json",
        "events": ["*"],
        "statuses": ["approved"],
        "active": True,
        "secret": new_webhook_secret(),
    }
    values.update(fields)
    return await store.create_postback(values)


def click(
    offer_record: Offer,
    affiliate_id: int,
    created_at: datetime | None = None,
    subs: tuple[str | None, str | None, str | None, str | None, str | None] = (
        "s1",
        None,
        None,
        None,
        None,
    ),
) -> Click:
    at = created_at or now()
    return Click(
        click_id=new_click_id(at),
        offer_id=offer_record.id,
        affiliate_id=affiliate_id,
        subs=subs,
        ip="203.0.113.7",
        user_agent="Mozilla/5.0",
        referrer="https://ref.example/",
        country="DE",
        created_at=at,
    )


async def stored_click(
    store: Store, offer_record: Offer, affiliate_id: int, created_at: datetime | None = None
) -> Click:
    made = click(offer_record, affiliate_id, created_at)
    await store.insert_clicks([made])
    return made


def command(
    click_record: Click,
    offer_record: Offer,
    *,
    status: str = "approved",
    event: str = "conversion",
    txid: str | None = None,
    revenue: Decimal | None = None,
    currency: str | None = None,
    received_at: datetime | None = None,
) -> PostbackCommand:
    at = received_at or now()
    entry = IncomingEntry(
        received_at=at,
        method="GET",
        ip="198.51.100.1",
        query=f"click_id={click_record.click_id}&status={status}",
        body=None,
        http_status=200,
        result="pending",
        click_id=click_record.click_id,
    )
    return PostbackCommand(
        click=click_record,
        offer=offer_record,
        event=event,
        txid=txid,
        status=status,
        revenue=revenue,
        currency=currency,
        received_at=at,
        log=entry,
    )


async def all_pages(list_page: Any, limit: int = 1000, **kwargs: Any) -> list[Any]:
    """Every item of a cursor-paginated listing."""
    items: list[Any] = []
    cursor = None
    for _ in range(10_000):
        page = await list_page(limit=limit, cursor=cursor, **kwargs)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise AssertionError("the cursor does not advance")


async def incoming_for(store: Store, click_id: str) -> list[dict[str, Any]]:
    rows = await all_pages(store.list_incoming)
    return sorted((r for r in rows if r["click_id"] == click_id), key=lambda r: r["id"])


async def deliveries_for(store: Store, conversion_id: int) -> list[Any]:
    found = await all_pages(store.list_deliveries, filters={"conversion_id": conversion_id})
    return sorted(found, key=lambda d: d.id)
