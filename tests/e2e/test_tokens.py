"""Advertiser postback tokens: rotation with a grace period, through the real server."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.harness import ServerProcess
from tests.e2e.network import Network, click, create_network

pytestmark = pytest.mark.e2e


async def _send(client: httpx.AsyncClient, net: Network, token: str) -> httpx.Response:
    cid = await click(client, net)
    return await client.get("/postback", params={"click_id": cid, "token": token})


async def test_rotation_keeps_the_old_token_for_the_grace_period(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        path = f"/advertisers/{net.advertiser['id']}"
        first = net.token

        graced = await admin.post(f"{path}/token", json={"grace_seconds": 3600})
        assert graced.status_code == 200, graced.text
        second = graced.json()["postback_token"]
        assert second != first
        assert graced.json()["previous_token_valid_until"] is not None

        for token in (first, second):
            answer = await _send(client, net, token)
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"] == "created"

        # No grace: the token replaced just now stops at once, and so does the older one.
        abrupt = await admin.post(f"{path}/token", json={"grace_seconds": 0})
        assert abrupt.status_code == 200, abrupt.text
        third = abrupt.json()["postback_token"]
        assert abrupt.json()["previous_token_valid_until"] is None
        for stale in (first, second):
            refused = await _send(client, net, stale)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "bad_token"
        assert (await _send(client, net, third)).status_code == 200

        # PATCH rotate_token is the abrupt form.
        patched = await admin.patch(path, json={"rotate_token": True})
        assert (await _send(client, net, third)).status_code == 401
        assert (await _send(client, net, patched.json()["postback_token"])).status_code == 200


async def test_rotation_refusals(server: ServerProcess) -> None:
    async with server.admin() as admin:
        net = await create_network(admin)
        path = f"/advertisers/{net.advertiser['id']}/token"
        for body in ({"grace_seconds": -1}, {"grace_seconds": 31 * 86400}, {"grace": 5}):
            answer = await admin.post(path, json=body)
            assert answer.status_code == 400, body
            assert answer.json()["error"]["code"] == "invalid_param"
        missing = await admin.post("/advertisers/999999/token", json={})
        assert missing.status_code == 404
