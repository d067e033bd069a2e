"""Secret rotation and signed GET postbacks: the API, and what the workers then send
(checked with the `standardwebhooks` reference verifier and the documented GET recipe)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from postback.app import create_web
from postback.domain.ids import hash_key
from postback.settings import Settings
from postback.store.sql import Store
from tests.api.conftest import ADMIN_KEY, Api, convert, error_of
from tests.dispatch.test_sender import Receiver
from tests.dispatch.test_signing import partner_check
from tests.dispatch.test_worker import dispatching, make_settings


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    """The API of tests/api/conftest.py, allowed to target the receivers on 127.0.0.1."""
    settings = Settings(allowed_targets="127.0.0.1")
    app = create_web(settings, store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Api(client, store)


async def test_rotation_answers_the_new_secret_and_the_grace_period(api: Api) -> None:
    affiliate = await api.affiliate()
    config = await api.created(
        "/api/v1/postbacks", {"affiliate_id": affiliate["id"], "url": "https://t.example/pb"}
    )
    path = f"/api/v1/postbacks/{config['id']}"
    before = datetime.now(UTC)

    rotated = await api.admin("POST", f"{path}/secret", json={"grace_seconds": 3600})
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["postback_id"] == config["id"]
    assert body["secret"].startswith("whsec_") and body["secret"] != config["secret"]
    until = datetime.fromisoformat(body["previous_secret_valid_until"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=3590) < until < before + timedelta(seconds=3610)
    assert (await api.admin("GET", path)).json()["secret"] == body["secret"]

    # Without a body: one day of grace. With 0: the old secret stops at once.
    default = (await api.admin("POST", f"{path}/secret")).json()
    assert default["previous_secret_valid_until"] is not None
    abrupt = (await api.admin("POST", f"{path}/secret", json={"grace_seconds": 0})).json()
    assert abrupt["previous_secret_valid_until"] is None
    assert (await api.admin("GET", f"{path}/signing")).json() == abrupt


async def test_rotation_and_signing_refusals(api: Api) -> None:
    owner = await api.affiliate("Owner")
    other_key = (await api.affiliate("Other"))["api_key"]
    config = await api.created(
        "/api/v1/postbacks", {"affiliate_id": owner["id"], "url": "https://t.example/pb"}
    )
    path = f"/api/v1/postbacks/{config['id']}"
    for body in ({"grace_seconds": -1}, {"grace_seconds": 31 * 86400}, {"grace": 5}):
        error_of(await api.admin("POST", f"{path}/secret", json=body), 400, "invalid_param")
    for signing in ({"sign_get": "yes"}, {}, {"sign_get": True, "x": 1}):
        error_of(await api.admin("PATCH", f"{path}/signing", json=signing), 400, "invalid_param")
    error_of(await api.admin("POST", "/api/v1/postbacks/999999/secret"), 404, "not_found")
    # Another affiliate's config does not exist for this key.
    error_of(await api.as_key(other_key, "POST", f"{path}/secret"), 404, "not_found")
    error_of(await api.as_key(other_key, "GET", f"{path}/signing"), 404, "not_found")
    # Its owner manages it.
    mine = await api.as_key(owner["api_key"], "PATCH", f"{path}/signing", json={"sign_get": True})
    assert mine.status_code == 200 and mine.json()["sign_get"] is True


async def deliver_one(api: Api, store: Store, database_url: str, config: dict[str, Any]) -> None:
    offer = await api.offer()
    await convert(store, offer["id"], config["affiliate_id"])
    async with dispatching(store, make_settings(database_url)):
        for _ in range(200):
            page = await store.list_deliveries(filters={"postback_id": config["id"]})
            if page.items and all(d.state == "delivered" for d in page.items):
                return
            await asyncio.sleep(0.02)
    raise AssertionError("not delivered")


@pytest.fixture
async def receiver() -> Any:
    started = await Receiver().start()
    yield started
    await started.stop()


async def test_both_secrets_sign_during_the_grace_period_then_only_the_new(
    api: Api, store: Store, database_url: str, receiver: Receiver
) -> None:
    affiliate = await api.affiliate()
    config = await api.created(
        "/api/v1/postbacks",
        {"affiliate_id": affiliate["id"], "url": receiver.url("/hook"), "method": "POST"},
    )
    path = f"/api/v1/postbacks/{config['id']}/secret"
    old = config["secret"]
    new = (await api.admin("POST", path, json={"grace_seconds": 2})).json()["secret"]

    await deliver_one(api, store, database_url, config)
    seen = receiver.requests[-1]
    Webhook(new).verify(seen.body, seen.headers)
    Webhook(old).verify(seen.body, seen.headers)

    await asyncio.sleep(2.1)  # the grace period is over
    await deliver_one(api, store, database_url, config)
    seen = receiver.requests[-1]
    Webhook(new).verify(seen.body, seen.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(seen.body, seen.headers)


async def test_signed_get_postbacks_carry_a_verifiable_signature(
    api: Api, store: Store, database_url: str, receiver: Receiver
) -> None:
    affiliate = await api.affiliate()
    template = "/pb?cid={click_id}&p={payout}"
    config = await api.created(
        "/api/v1/postbacks", {"affiliate_id": affiliate["id"], "url": receiver.url(template)}
    )
    path = f"/api/v1/postbacks/{config['id']}"

    await deliver_one(api, store, database_url, config)
    assert "signature=" not in receiver.requests[-1].path_qs  # off by default

    signing = await api.admin("PATCH", f"{path}/signing", json={"sign_get": True})
    assert signing.json()["sign_get"] is True
    await deliver_one(api, store, database_url, config)
    sent = receiver.url(receiver.requests[-1].path_qs)
    assert partner_check(sent, config["secret"])
    assert not partner_check(sent.replace("p=1.75", "p=9.75"), config["secret"])

    rotated = (await api.admin("POST", f"{path}/secret", json={"grace_seconds": 60})).json()
    await deliver_one(api, store, database_url, config)
    sent = receiver.url(receiver.requests[-1].path_qs)
    assert partner_check(sent, rotated["secret"]) and partner_check(sent, config["secret"])
