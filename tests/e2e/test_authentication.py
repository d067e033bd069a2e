"""Authentication at the door, through the real server: signed postbacks instead of a
token, and a bound on failed attempts per client address (API keys and tokens alike)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import orjson
import pytest

from tests.e2e.harness import ServerProcess
from tests.e2e.network import click, create_network
from tests.reliability_report import record

pytestmark = pytest.mark.e2e

LIMIT = 5


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Clients are told apart by X-Forwarded-For, which 127.0.0.1 is trusted to set.
    process = ServerProcess(
        database_url,
        Path(tmp_path_factory.mktemp("auth")),
        POSTBACK_AUTH_FAILURES_PER_MINUTE=str(LIMIT),
        POSTBACK_TRUSTED_PROXIES="127.0.0.1/32",
    )
    process.start()
    yield process
    process.stop()


def signed_query(token: str, **fields: str) -> str:
    """The advertiser's side, as the documentation describes it."""
    query = urlencode({**fields, "ts": str(int(time.time()))})
    signature = hmac.new(token.encode(), query.encode() + b"\n", hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


def as_client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_signed_postbacks_instead_of_a_token(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin, advertiser={"signed_postbacks": True})
        cid = await click(client, net)
        ok = await client.get(
            "/postback?" + signed_query(net.token, click_id=cid, txid="S1"),
            headers=as_client("203.0.113.1"),
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["result"] == "created"

        # The body is signed too; the signature may come as a header.
        body = orjson.dumps({"click_id": cid, "txid": "S2", "ts": int(time.time())})
        signature = hmac.new(net.token.encode(), b"\n" + body, hashlib.sha256).hexdigest()
        posted = await client.post(
            "/postback",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Postback-Signature": signature,
                **as_client("203.0.113.1"),
            },
        )
        assert posted.status_code == 200, posted.text

        tampered = await client.post(
            "/postback",
            content=body.replace(b'"txid":"S2"', b'"txid":"S3"'),
            headers={
                "Content-Type": "application/json",
                "X-Postback-Signature": signature,
                **as_client("203.0.113.2"),
            },
        )
        assert tampered.status_code == 401
        assert tampered.json()["error"] == {"code": "bad_token", "message": "signature is wrong"}

        stale = signed_query(net.token, click_id=cid, txid="S4").replace(
            "ts=", "ts=1", 1
        )  # a timestamp far in the future, correctly signed or not: refused
        refused = await client.get("/postback?" + stale, headers=as_client("203.0.113.3"))
        assert refused.status_code == 401
        assert "ts is more than 300 seconds" in refused.json()["error"]["message"]


async def test_signature_is_plain_data_unless_the_advertiser_signs(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        cid = await click(client, net)
        # A partner's own `signature` (Kiwify adds one) does not stand in for our token...
        signed = signed_query(net.token, click_id=cid, txid="P1")
        unsigned = await client.get("/postback?" + signed, headers=as_client("203.0.113.20"))
        assert unsigned.status_code == 401
        assert unsigned.json()["error"]["message"] == "token is required"
        # ...nor refuses a postback that carries the token.
        with_token = await client.get(
            f"/postback?{signed}&token={net.token}", headers=as_client("203.0.113.21")
        )
        assert with_token.status_code == 200, with_token.text
        assert with_token.json()["result"] == "created"


async def test_failed_authentications_are_limited_per_client(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        cid = await click(client, net)
        guesser, bystander = as_client("198.51.100.66"), as_client("198.51.100.77")

        for guess in range(LIMIT):
            wrong = await client.get(
                "/postback", params={"click_id": cid, "token": f"guess{guess}"}, headers=guesser
            )
            assert wrong.status_code == 401

        # Now even the right token is refused from that address, in the error shape.
        blocked = await client.get(
            "/postback", params={"click_id": cid, "token": net.token}, headers=guesser
        )
        assert blocked.status_code == 429, blocked.text
        error = blocked.json()["error"]
        assert error["code"] == "too_many_requests"
        assert 1 <= error["retry_after"] <= 60
        assert blocked.headers["retry-after"] == str(error["retry_after"])
        # The API shares the count: the same address cannot go on guessing keys there.
        api_guess = await client.get(
            "/api/v1/offers", headers={**guesser, "Authorization": "Bearer adm_guess"}
        )
        assert api_guess.status_code == 429
        assert api_guess.json()["error"]["code"] == "too_many_requests"
        assert "retry-after" in api_guess.headers

        # Another client is not concerned, and nothing was stored from the refusals.
        fine = await client.get(
            "/postback", params={"click_id": cid, "token": net.token}, headers=bystander
        )
        assert fine.status_code == 200, fine.text
        conversions = (await admin.get("/conversions", params={"limit": 1000})).json()["items"]
        assert [c["click_id"] for c in conversions].count(cid) == 1
        logged = (await admin.get("/incoming", params={"result": "too_many_requests"})).json()
        assert len(logged["items"]) == 1
        record("hostile_input", auth_failures_limited=LIMIT + 2)


async def test_api_key_guessing_is_limited(server: ServerProcess) -> None:
    async with server.client() as client:
        headers = as_client("192.0.2.200")
        for _ in range(LIMIT):
            answer = await client.get(
                "/api/v1/offers", headers={**headers, "Authorization": "Bearer nope-nope"}
            )
            assert answer.status_code == 401
        blocked = await client.get(
            "/api/v1/offers", headers={**headers, "Authorization": "Bearer nope-nope"}
        )
        assert blocked.status_code == 429
    async with server.admin() as admin:
        assert (await admin.get("/offers")).status_code == 200
