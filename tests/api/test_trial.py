"""POST /postbacks/{id}/test: one real send to a local receiver, kept in the test log only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from postback.app import create_web
from postback.domain.ids import hash_key, new_webhook_secret
from postback.settings import Settings
from postback.store.sql import Store
from tests.api.conftest import ADMIN_KEY, Api, convert, error_of


class Receiver:
    """A minimal HTTP server that records each request and answers 200 "ok"."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((lines[0], headers, body))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    found.server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    yield found
    found.server.close()
    await found.server.wait_closed()


@pytest.fixture
async def open_api(store: Store) -> AsyncIterator[Api]:
    """The API of a deployment that lets postbacks reach private addresses."""
    settings = Settings(allow_private_targets=True, delivery_timeout=5)
    app = create_web(settings, store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Api(client, store)


async def test_sample_send(open_api: Api, receiver: Receiver) -> None:
    api = open_api
    affiliate = await api.affiliate()
    config = await api.created(
        "/api/v1/postbacks",
        {
            "affiliate_id": affiliate["id"],
            "url": receiver.url + "/hook?c={click_id}&p={payout}",
            "method": "POST",
            "body": '{"event": "{event}", "sub1": "{sub1}"}',
            "events": ["sale"],
        },
    )
    answer = await api.admin("POST", f"/api/v1/postbacks/{config['id']}/test")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["sample"] is True
    assert result["success"] is True and result["kind"] == "success"
    assert result["status_code"] == 200 and result["response_excerpt"] == "ok"
    assert result["url"] == receiver.url + "/hook?c=test_click_0000000000&p=7.5"
    assert result["body"] == '{"event": "sale", "sub1": "sub1_value"}'
    ((line, headers, body),) = receiver.requests
    assert line.startswith("POST /hook?c=test_click_0000000000&p=7.5 ")
    assert headers["webhook-signature"].startswith("v1,")
    assert body == result["body"].encode()
    deliveries = await api.admin("GET", "/api/v1/deliveries", params={"postback_id": config["id"]})
    assert deliveries.json()["items"] == []

    log = await api.admin("GET", f"/api/v1/postbacks/{config['id']}/tests")
    assert log.status_code == 200, log.text
    assert log.json() == {"items": [result], "next_cursor": None}
    again = (await api.admin("POST", f"/api/v1/postbacks/{config['id']}/test")).json()
    newest_first = (await api.admin("GET", f"/api/v1/postbacks/{config['id']}/tests")).json()
    assert [t["id"] for t in newest_first["items"]] == [again["id"], result["id"]]


async def test_real_conversion_and_isolation(open_api: Api, receiver: Receiver) -> None:
    api = open_api
    offer = await api.offer()
    alice = await api.affiliate("Alice")
    bob = await api.affiliate("Bob")
    url = receiver.url + "/pb?c={click_id}"
    config = await api.as_key(alice["api_key"], "POST", "/api/v1/postbacks", json={"url": url})
    config_id = config.json()["id"]
    mine = (await convert(api.store, offer["id"], alice["id"])).conversion
    theirs = (await convert(api.store, offer["id"], bob["id"])).conversion
    path = f"/api/v1/postbacks/{config_id}/test"

    answer = await api.as_key(alice["api_key"], "POST", path, json={"conversion_id": mine.id})
    assert answer.status_code == 200, answer.text
    assert answer.json()["sample"] is False
    assert answer.json()["url"] == receiver.url + f"/pb?c={mine.click_id}"
    assert receiver.requests[0][0].startswith("GET /pb?c=")

    other = await api.admin("POST", path, json={"conversion_id": theirs.id})
    assert error_of(other, 400, "invalid_param")["param"] == "conversion_id"
    error_of(await api.as_key(bob["api_key"], "POST", path), 404, "not_found")
    log_path = f"/api/v1/postbacks/{config_id}/tests"
    error_of(await api.as_key(bob["api_key"], "GET", log_path), 404, "not_found")
    assert len((await api.as_key(alice["api_key"], "GET", log_path)).json()["items"]) == 1
    error_of(await api.admin("POST", "/api/v1/postbacks/999999/test"), 404, "not_found")
    assert len(receiver.requests) == 1


async def test_private_target_refused_by_default(api: Api, receiver: Receiver) -> None:
    for url in (receiver.url + "/x", "http://2130706433/x", "http://[::1]/x", "http://10.1.2.3/"):
        refused = await api.admin("POST", "/api/v1/postbacks", json={"url": url})
        assert refused.status_code == 400, url
        assert refused.json()["error"]["param"] == "url"
        assert "POSTBACK_ALLOW_PRIVATE_TARGETS" in refused.json()["error"]["message"]
    # A config saved before the policy changed is still refused when it is sent.
    config = await api.store.create_postback(
        {
            "affiliate_id": None,
            "offer_id": None,
            "url": receiver.url + "/x",
            "method": "GET",
            "body": None,
            "content_type": "application/json",
            "events": ["*"],
            "statuses": ["approved"],
            "active": True,
            "secret": new_webhook_secret(),
        }
    )
    answer = await api.admin("POST", f"/api/v1/postbacks/{config.id}/test")
    assert answer.status_code == 200
    assert answer.json()["success"] is False
    assert answer.json()["kind"] == "blocked"
    assert receiver.requests == []
