"""Click -> conversion -> outgoing postback, through the real server process."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from postback.settings import Settings
from postback.store.factory import open_store
from tests.e2e.harness import Receiver, ServerProcess, eventually
from tests.e2e.network import add_postback, click, create_network
from tests.store import factories as make

pytestmark = pytest.mark.e2e

AWKWARD = "a b&c=d#e%f\"g'h ü 日本"


async def incoming_results(admin: httpx.AsyncClient) -> list[str]:
    answer = await admin.get("/incoming", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return [item["result"] for item in answer.json()["items"]]


async def test_click_redirect_carries_encoded_click_id_and_subs(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(
            admin, destination="https://shop.example/lp?cid={click_id}&s1={sub1}&o={offer_id}"
        )
        answer = await client.get(
            "/click",
            params={"offer_id": net.offer["id"], "aff_id": net.affiliate["id"], "sub1": AWKWARD},
        )
        assert answer.status_code == 302
        location = answer.headers["location"]
        assert location.startswith("https://shop.example/lp?")
        query = parse_qs(urlsplit(location).query)
        assert query["s1"] == [AWKWARD]
        assert query["o"] == [str(net.offer["id"])]
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,64}", query["cid"][0])


async def test_click_refusals(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        ids = {"offer_id": net.offer["id"], "aff_id": net.affiliate["id"]}
        refused: list[dict[str, str | int]] = [
            {"offer_id": "x", "aff_id": 1},
            {"aff_id": 1},
            {**ids, "sub2": "y" * 256},
        ]
        for params in refused:
            answer = await client.get("/click", params=params)
            assert answer.status_code == 400, params
            assert answer.json()["error"]["code"] == "invalid_param"
        missing = await client.get("/click", params={"offer_id": 999999, "aff_id": 1})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"

        paused = await admin.patch(
            f"/offers/{net.offer['id']}",
            json={"status": "paused", "fallback_url": "https://other.example/?s={sub1}"},
        )
        assert paused.status_code == 200, paused.text
        fallback = await client.get("/click", params={**ids, "sub1": "x y"})
        assert fallback.status_code == 302
        assert fallback.headers["location"] == "https://other.example/?s=x%20y"


async def test_postback_lifecycle_and_refusals(server: ServerProcess, receiver: Receiver) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin, advertiser={"allowed_ips": ["127.0.0.0/8"]})
        await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            url=receiver.url("/aff?cid={click_id}&status={status}&payout={payout}"),
            statuses=["approved", "rejected"],
        )
        cid = await click(client, net)
        base = {"click_id": cid, "token": net.token}

        created = await client.get("/postback", params={**base, "status": "pending"})
        assert created.status_code == 200, created.text
        assert created.json()["result"] == "created"
        conversion_id = created.json()["conversion_id"]

        repeat = await client.get("/postback", params={**base, "status": "pending"})
        assert repeat.json() == {"result": "duplicate", "conversion_id": conversion_id}

        updated = await client.get("/postback", params={**base, "status": "approved"})
        assert updated.json() == {
            "result": "updated",
            "conversion_id": conversion_id,
            "status": "approved",
        }
        arrived = await eventually(lambda: receiver.at("/aff"))
        assert arrived[0].query == {"cid": cid, "status": "approved", "payout": "7.25"}

        invalid = await client.get("/postback", params={**base, "status": "pending"})
        assert invalid.status_code == 409
        assert invalid.json()["error"]["code"] == "invalid_transition"
        assert invalid.json()["error"]["status"] == "approved"

        wrong_token = await client.get("/postback", params={"click_id": cid, "token": "nope"})
        assert wrong_token.status_code == 401
        assert wrong_token.json()["error"]["code"] == "bad_token"
        no_token = await client.get("/postback", params={"click_id": cid})
        assert no_token.status_code == 401

        unknown = await client.get("/postback", params={"click_id": "nosuchclick", "token": "x"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "unknown_click"

        bad = await client.get("/postback", params={**base, "revenue": "abc"})
        assert bad.status_code == 400
        assert bad.json()["error"] == {
            "code": "invalid_param",
            "param": "revenue",
            "message": bad.json()["error"]["message"],
        }
        missing = await client.get("/postback", params={"token": net.token})
        assert missing.status_code == 400
        assert missing.json()["error"]["param"] == "click_id"

        moved = await admin.patch(
            f"/advertisers/{net.advertiser['id']}", json={"allowed_ips": ["203.0.113.0/24"]}
        )
        assert moved.status_code == 200, moved.text
        foreign = await client.get("/postback", params={**base, "status": "rejected"})
        assert foreign.status_code == 403
        assert foreign.json()["error"]["code"] == "ip_not_allowed"

        results = await incoming_results(admin)
        for expected in (
            "created",
            "duplicate",
            "updated",
            "invalid_transition",
            "bad_token",
            "unknown_click",
            "invalid_param",
            "ip_not_allowed",
        ):
            assert expected in results, expected
        # Only the approved change matched the config: exactly one delivery went out.
        assert len(receiver.at("/aff")) == 1


async def test_attribution_window(server: ServerProcess, database_url: str) -> None:
    """A click older than its offer's window earns no new conversion (410 click_expired,
    logged, nothing recorded); a conversion that exists changes at any age."""
    store = open_store(Settings(database_url=database_url))
    try:
        async with server.admin() as admin, server.client() as client:
            net = await create_network(admin)
            assert net.offer["attribution_days"] == 30
            offer = await store.get_offer(net.offer["id"])
            assert offer is not None
            clicked = make.now() - timedelta(days=3)
            old = await make.stored_click(store, offer, net.affiliate["id"], created_at=clicked)
            base = {"click_id": old.click_id, "token": net.token}

            created = await client.get("/postback", params={**base, "status": "pending"})
            assert created.status_code == 200, created.text
            conversion_id = created.json()["conversion_id"]

            patched = await admin.patch(f"/offers/{offer.id}", json={"attribution_days": 2})
            assert patched.status_code == 200, patched.text
            assert patched.json()["attribution_days"] == 2

            expired = await client.get("/postback", params={**base, "event": "sale"})
            assert expired.status_code == 410, expired.text
            assert expired.json()["error"]["code"] == "click_expired"
            assert expired.json()["error"]["attribution_days"] == 2

            updated = await client.get("/postback", params={**base, "status": "approved"})
            assert updated.status_code == 200, updated.text
            assert updated.json() == {
                "result": "updated",
                "conversion_id": conversion_id,
                "status": "approved",
            }

            found = await make.all_pages(store.list_conversions, filters={"click_id": old.click_id})
            assert [(c.id, c.event, c.status) for c in found] == [
                (conversion_id, "conversion", "approved")
            ]
            answer = await admin.get("/incoming", params={"click_id": old.click_id})
            logged = [(r["result"], r["http_status"]) for r in answer.json()["items"]]
            assert logged == [("updated", 200), ("click_expired", 410), ("created", 200)]
    finally:
        await store.close()


async def test_post_json_and_form_postbacks(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin, advertiser={"status_map": {"1": "approved"}})
        cid = await click(client, net)
        as_json = await client.post(
            "/postback",
            json={"clickid": cid, "tid": "T-1", "cnv_status": "1", "amount": 3.5},
            headers={"X-Postback-Token": net.token},
        )
        assert as_json.status_code == 200, as_json.text
        assert as_json.json()["result"] == "created"
        as_form = await client.post(
            "/postback",
            data={"cid": cid, "order_id": "T-2", "token": net.token, "status": "pending"},
        )
        assert as_form.json()["result"] == "created"
        conversion = await admin.get(f"/conversions/{as_json.json()['conversion_id']}")
        assert conversion.status_code == 200, conversion.text
        body = conversion.json()
        assert body["status"] == "approved"
        assert body["revenue"] == 3.5
        assert body["payout"] == 7.25
        assert [h["to_status"] for h in body["history"]] == ["approved"]


async def test_local_beats_global_and_network_gets_revenue(
    server: ServerProcess, receiver: Receiver
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        aff = net.affiliate["id"]
        await add_postback(admin, affiliate_id=aff, url=receiver.url("/global?c={click_id}"))
        await add_postback(
            admin,
            affiliate_id=aff,
            offer_id=net.offer["id"],
            url=receiver.url("/local?c={click_id}"),
        )
        await add_postback(
            admin,
            affiliate_id=None,
            url=receiver.url("/network?r={revenue}&p={profit}&c={click_id}"),
            statuses=["*"],
        )
        cid = await click(client, net)
        answer = await client.get("/postback", params={"click_id": cid, "token": net.token})
        assert answer.json()["result"] == "created"
        await eventually(lambda: receiver.at("/local") and receiver.at("/network"))
        network = [r for r in receiver.at("/network") if r.query["c"] == cid]
        assert network[0].query == {"r": "10.5", "p": "3.25", "c": cid}
        assert [r for r in receiver.at("/global") if r.query["c"] == cid] == []


async def test_awkward_subs_reach_the_receiver_intact(
    server: ServerProcess, receiver: Receiver
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        config = await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            offer_id=net.offer["id"],
            url=receiver.url("/subs?s1={sub1}&s2={sub2}"),
        )
        assert config["id"]
        cid = await click(client, net, sub1=AWKWARD, sub2="{click_id}")
        await client.get("/postback", params={"click_id": cid, "token": net.token})
        arrived = await eventually(lambda: receiver.at("/subs"))
        assert arrived[0].query["s1"] == AWKWARD
        assert arrived[0].query["s2"] == "{click_id}"


async def test_retries_until_the_receiver_answers(
    server: ServerProcess, receiver: Receiver
) -> None:
    receiver.plan["/flaky"] = [500, 503]
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        config = await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            offer_id=net.offer["id"],
            url=receiver.url("/flaky?c={click_id}"),
        )
        cid = await click(client, net)
        await client.get("/postback", params={"click_id": cid, "token": net.token})
        await eventually(lambda: len(receiver.at("/flaky")) >= 3)

        async def delivered() -> list[dict[str, object]]:
            answer = await admin.get("/deliveries", params={"postback_id": config["id"]})
            items = answer.json()["items"]
            return items if items and items[0]["state"] == "delivered" else []

        items = await eventually(delivered)
        attempts = items[0]["attempts"]
        assert [a["status_code"] for a in attempts] == [500, 503, 200]
        assert [a["success"] for a in attempts] == [False, False, True]


async def test_signed_post_keeps_its_webhook_id(server: ServerProcess, receiver: Receiver) -> None:
    receiver.plan["/hook"] = [500]
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        config = await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            offer_id=net.offer["id"],
            url=receiver.url("/hook"),
            method="POST",
        )
        cid = await click(client, net)
        await client.get("/postback", params={"click_id": cid, "token": net.token})
        arrived = await eventually(lambda: len(receiver.at("/hook")) >= 2 and receiver.at("/hook"))
        verifier = Webhook(config["secret"])
        for request in arrived:
            event = verifier.verify(request.body, request.headers)
            assert event["click_id"] == cid
            assert event["payout"] == 7.25
            assert "revenue" not in event
        assert len({r.headers["webhook-id"] for r in arrived}) == 1
        assert orjson.loads(arrived[0].body) == orjson.loads(arrived[1].body)
