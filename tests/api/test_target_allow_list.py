"""Saving a postback config honours POSTBACK_ALLOWED_TARGETS, not only the all-or-nothing
POSTBACK_ALLOW_PRIVATE_TARGETS."""

from __future__ import annotations

import httpx

from postback.app import create_web
from postback.domain.ids import hash_key
from postback.settings import Settings
from postback.store.sql import Store
from tests.api.conftest import ADMIN_KEY, Api, error_of


async def test_listed_networks_and_names_may_be_saved_others_not(store: Store) -> None:
    settings = Settings(allowed_targets="10.0.0.0/8,hooks.internal")
    app = create_web(settings, store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        api = Api(client, store)
        affiliate = await api.affiliate()
        for url in ("http://10.1.2.3/pb", "http://0x0a010203/pb", "http://hooks.internal/pb"):
            answer = await api.admin(
                "POST", "/api/v1/postbacks", json={"affiliate_id": affiliate["id"], "url": url}
            )
            assert answer.status_code == 201, (url, answer.text)
        for url in ("http://192.168.1.1/pb", "http://localhost/pb", "http://[::1]/pb"):
            refused = await api.admin(
                "POST", "/api/v1/postbacks", json={"affiliate_id": affiliate["id"], "url": url}
            )
            error = error_of(refused, 400, "invalid_param")
            assert "POSTBACK_ALLOWED_TARGETS" in error["message"], url
