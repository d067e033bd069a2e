"""Bearer keys: the admin key, affiliate keys, and refusals."""

from __future__ import annotations

import httpx

from postback.app import create_web
from postback.settings import Settings
from postback.store.sql import Store
from tests.api.conftest import ADMIN_KEY, Api, error_of


async def test_missing_and_wrong_keys_are_401(api: Api) -> None:
    missing = await api.client.get("/api/v1/advertisers")
    error_of(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    error_of(await api.as_key("nope", "GET", "/api/v1/advertisers"), 401, "unauthorized")
    error_of(await api.as_key(ADMIN_KEY + "x", "GET", "/api/v1/offers"), 401, "unauthorized")
    basic = await api.client.get("/api/v1/offers", headers={"Authorization": f"Basic {ADMIN_KEY}"})
    error_of(basic, 401, "unauthorized")
    error_of(await api.as_key("k" * 2000, "GET", "/api/v1/offers"), 401, "unauthorized")


async def test_admin_key_works(api: Api) -> None:
    answer = await api.admin("GET", "/api/v1/advertisers")
    assert answer.status_code == 200
    assert set(answer.json()) == {"items", "next_cursor"}


async def test_no_admin_key_configured_refuses_every_key(store: Store) -> None:
    app = create_web(Settings(), store, admin_key_hash=lambda: None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        answer = await client.get(
            "/api/v1/advertisers", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    error_of(answer, 401, "unauthorized")


async def test_affiliate_key_cannot_reach_admin_resources(api: Api) -> None:
    key = (await api.affiliate())["api_key"]
    advertiser = await api.advertiser()
    for method, path in [
        ("GET", "/api/v1/advertisers"),
        ("GET", f"/api/v1/advertisers/{advertiser['id']}"),
        ("POST", "/api/v1/advertisers"),
        ("GET", "/api/v1/affiliates"),
        ("POST", "/api/v1/affiliates"),
        ("POST", "/api/v1/offers"),
        ("GET", "/api/v1/incoming"),
    ]:
        answer = await api.as_key(key, method, path, json={"name": "x"})
        error_of(answer, 404, "not_found")


async def test_paused_affiliate_key_is_refused(api: Api) -> None:
    created = await api.affiliate()
    key = created["api_key"]
    assert (await api.as_key(key, "GET", "/api/v1/offers")).status_code == 200
    paused = await api.admin(
        "PATCH", f"/api/v1/affiliates/{created['id']}", json={"status": "paused"}
    )
    assert paused.status_code == 200
    error_of(await api.as_key(key, "GET", "/api/v1/offers"), 401, "unauthorized")
    await api.admin("PATCH", f"/api/v1/affiliates/{created['id']}", json={"status": "active"})
    assert (await api.as_key(key, "GET", "/api/v1/offers")).status_code == 200
