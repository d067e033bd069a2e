"""The API over the real store (SQLite and PostgreSQL), driven in-process with httpx."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from postback.app import create_web
from postback.domain.ids import hash_key
from postback.settings import Settings
from postback.store.base import IncomingEntry, PostbackCommand, PostbackResult
from postback.store.sql import Store

ADMIN_KEY = "admin-test-key-0123456789"
BASE_URL = "https://track.example"


@dataclass
class Api:
    """An in-process client; `admin` carries the admin key, `as_key` any other."""

    client: httpx.AsyncClient
    store: Store
    wakes: list[int] = field(default_factory=list)

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.as_key(ADMIN_KEY, method, path, **kwargs)

    async def as_key(self, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self.auth(key)}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.admin("POST", path, json=body)
        assert answer.status_code == 201, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def advertiser(self, **fields: Any) -> dict[str, Any]:
        return await self.created("/api/v1/advertisers", {"name": "Adv", **fields})

    async def offer(self, **fields: Any) -> dict[str, Any]:
        if "advertiser_id" not in fields:
            fields["advertiser_id"] = (await self.advertiser())["id"]
        body = {
            "name": "Offer",
            "destination_url": "https://shop.example/land?c={click_id}",
            "revenue": "2.5",
            "payout": "1.75",
            **fields,
        }
        return await self.created("/api/v1/offers", body)

    async def affiliate(self, name: str = "Aff") -> dict[str, Any]:
        return await self.created("/api/v1/affiliates", {"name": name})


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    wakes: list[int] = []
    app = create_web(
        Settings(base_url=BASE_URL),
        store,
        admin_key_hash=lambda: hash_key(ADMIN_KEY),
        wake_dispatch=lambda: wakes.append(1),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Api(client, store, wakes)


async def convert(
    store: Store,
    offer_id: int,
    affiliate_id: int,
    *,
    status: str = "approved",
    event: str = "sale",
    txid: str | None = None,
    revenue: Decimal | None = None,
    click_id: str | None = None,
    when: datetime | None = None,
) -> PostbackResult:
    """A click (unless click_id names one) and an incoming postback on it, via the store."""
    from postback.domain.records import Click

    now = when or datetime.now(UTC)
    offer = await store.get_offer(offer_id)
    assert offer is not None
    click = await store.get_click(click_id) if click_id else None
    if click is None:
        click = Click(
            click_id=click_id or secrets.token_urlsafe(16),
            offer_id=offer_id,
            affiliate_id=affiliate_id,
            subs=("s1", None, None, None, None),
            ip="203.0.113.9",
            user_agent="test",
            referrer=None,
            country="DE",
            # Five minutes earlier, but never on the day before: reports of "today" must
            # count the click with its conversion, whatever time the tests run.
            created_at=max(
                now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=0, microsecond=0)
            ),
        )
        await store.insert_clicks([click])
    log = IncomingEntry(
        received_at=now,
        method="GET",
        ip="198.51.100.1",
        query=f"click_id={click.click_id}&status={status}",
        body=None,
        http_status=200,
        result="pending",
        click_id=click.click_id,
    )
    command = PostbackCommand(
        click=click,
        offer=offer,
        event=event,
        txid=txid,
        status=status,
        revenue=revenue,
        currency=None,
        received_at=now,
        log=log,
    )
    return await store.record_postback(command)


def error_of(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error object of a refusal, after checking its status, shape and code."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error
