"""Hotmart posting to the real server as it does: its webhook's JSON bodies (2.0.0) and
its older form post (1.0.0), proven with the Hottok, no token of ours in the URL."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from postback.domain.platforms.hotmart import TEMPLATE
from postback.domain.templates import example
from tests.e2e.harness import Receiver, ServerProcess, eventually
from tests.e2e.network import Network, add_postback, create_network
from tests.partners import samples_hotmart as hotmart
from tests.partners.helpers import checkout_click, conversions, ok

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

HOTTOK = "ysewXlAZI1iHdUFqC4ZcV1J5RLhiVe518471"


async def click(client: httpx.AsyncClient, net: Network) -> str:
    return await checkout_click(client, net, "pay.hotmart.com/X00000000X", "sck")


async def _network(admin: httpx.AsyncClient) -> Network:
    return await create_network(
        admin,
        destination="https://pay.hotmart.com/X00000000X?sck={click_id}",
        advertiser={"name": "Producer", "template": "hotmart", "partner_secret": HOTTOK},
    )


async def _post(
    client: httpx.AsyncClient, net: Network, body: dict[str, Any], hottok: str | None = HOTTOK
) -> httpx.Response:
    """As Hotmart posts: the JSON body (with its `hottok`) and the X-HOTMART-HOTTOK header."""
    headers = {"X-HOTMART-HOTTOK": hottok} if hottok is not None else {}
    return await client.post(
        "/postback", params={"adv_id": net.advertiser["id"]}, json=body, headers=headers
    )


async def test_a_billet_sale_through_dispute_refund_and_chargeback(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        template = ok(
            await admin.get("/templates/hotmart", params={"advertiser_id": net.advertiser["id"]})
        )
        # What the producer pastes into Hotmart: no token of ours in it.
        assert template["url"] == f"{server.base_url}/postback?adv_id={net.advertiser['id']}"
        cid = await click(client, net)
        tx = "HP11111111111111"
        steps = [
            (hotmart.billet_printed, "created", "pending", "awaiting_payment"),
            (hotmart.approved, "updated", "approved", "approved"),
            (hotmart.protest, "updated", "approved", "disputed"),
            (hotmart.refunded, "updated", "refunded", "refunded"),
            # A chargeback after the refund: recorded, the refund stands.
            (hotmart.chargeback, "updated", "refunded", "chargeback"),
        ]
        conversion_ids = set()
        for sample, result, status, stage in steps:
            answer = ok(await _post(client, net, sample(cid, tx, HOTTOK)))
            assert (answer["result"], answer["stage"]) == (result, stage), answer
            if result == "updated":
                assert answer["status"] == status, answer
            conversion_ids.add(answer["conversion_id"])
        assert len(conversion_ids) == 1

        seen = ok(await admin.get(f"/conversions/{conversion_ids.pop()}"))
        assert (seen["status"], seen["stage"]) == ("refunded", "chargeback")
        assert (seen["txid"], seen["click_id"]) == (tx, cid)
        assert seen["revenue"] == hotmart.PRICE and seen["currency"] == "BRL"
        attributes = seen["attributes"]
        assert attributes["email"] == hotmart.BUYER_EMAIL
        assert attributes["customer_name"] == "Teste Comprador"
        assert attributes["phone"] == "99999999900"
        assert attributes["product"] == "Produto test postback2"
        assert attributes["order_total"] == "1500"
        assert [h["stage"] for h in seen["history"]] == [s[3] for s in steps]


async def test_a_card_sale_completes_and_a_repeat_is_a_duplicate(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        tx = "HP22222222222222"
        first = ok(await _post(client, net, hotmart.approved(cid, tx, HOTTOK)))
        assert (first["result"], first["stage"]) == ("created", "approved")
        again = ok(await _post(client, net, hotmart.approved(cid, tx, HOTTOK)))
        assert again["result"] == "duplicate"
        assert again["conversion_id"] == first["conversion_id"]
        done = ok(await _post(client, net, hotmart.complete(cid, tx, HOTTOK)))
        assert (done["result"], done["status"]) == ("updated", "approved")
        assert done["stage"] == "completed"
        seen = ok(await admin.get(f"/conversions/{first['conversion_id']}"))
        assert (seen["status"], seen["stage"]) == ("approved", "completed")
        assert seen["attributes"]["payment_type"] == "CREDIT_CARD"


async def test_each_subscription_charge_is_a_sale_of_its_own(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        first = ok(await _post(client, net, hotmart.renewal(cid, "HP33333333333301", HOTTOK, 1)))
        renewal = ok(await _post(client, net, hotmart.renewal(cid, "HP33333333333302", HOTTOK, 2)))
        assert first["result"] == renewal["result"] == "created"
        assert first["conversion_id"] != renewal["conversion_id"]
        charges = await conversions(admin, click_id=cid)
        assert sorted((c["txid"], c["status"]) for c in charges) == [
            ("HP33333333333301", "approved"),
            ("HP33333333333302", "approved"),
        ]
        seen = ok(await admin.get(f"/conversions/{renewal['conversion_id']}"))
        assert seen["attributes"]["recurrence_number"] == "2"
        assert seen["attributes"]["subscriber_code"] == "I9OT62C3"


async def test_a_wrong_or_missing_hottok_is_refused_and_nothing_recorded(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        tx = "HP44444444444444"
        wrong = await _post(client, net, hotmart.approved(cid, tx, "not-the-hottok"), "not-it")
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_token"
        # The right header does not vouch for a body that carries a wrong hottok.
        mixed = await _post(client, net, hotmart.approved(cid, tx, "not-the-hottok"))
        assert mixed.status_code == 401, mixed.text
        body = hotmart.approved(cid, tx, HOTTOK)
        del body["hottok"]
        missing = await _post(client, net, body, hottok=None)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "bad_token"
        assert await conversions(admin, click_id=cid) == []
        # An event that would be ignored still needs the proof.
        ignored = await _post(client, net, hotmart.club_first_access("nope"), "nope")
        assert ignored.status_code == 401, ignored.text
        # With the header alone (no hottok in the body) Hotmart is believed.
        accepted = ok(await _post(client, net, body))
        assert accepted["result"] == "created"


async def test_subscription_member_area_and_cart_events_are_acknowledged_and_ignored(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        for body in (
            hotmart.subscription_cancellation(HOTTOK),
            hotmart.switch_plan(HOTTOK),
            hotmart.club_first_access(HOTTOK),
            # No click id and no transaction: nothing it could be recorded against.
            hotmart.abandoned_cart(HOTTOK),
        ):
            assert ok(await _post(client, net, body)) == {"result": "ignored"}, body
        assert await conversions(admin, click_id=cid) == []


async def test_an_event_outside_the_map_is_refused(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        body = hotmart.approved(cid, "HP55555555555555", HOTTOK)
        body["event"] = "PURCHASE_SOMETHING_NEW"
        refused = await _post(client, net, body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_event"
        assert await conversions(admin, click_id=cid) == []


async def test_the_older_form_postback_with_its_hottok_field(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        tx = "HP66666666666666"
        params = {"adv_id": net.advertiser["id"]}
        for status, result, stage in (
            ("billet_printed", "created", "awaiting_payment"),
            ("approved", "updated", "approved"),
            ("refunded", "updated", "refunded"),
        ):
            form = hotmart.form_postback(status, cid, tx, HOTTOK)
            answer = ok(await client.post("/postback", params=params, data=form))
            assert (answer["result"], answer["stage"]) == (result, stage), answer
        seen = ok(await admin.get(f"/conversions/{answer['conversion_id']}"))
        assert (seen["status"], seen["txid"], seen["revenue"]) == ("refunded", tx, 97)
        assert seen["attributes"]["email"] == "comprador@example.com"
        assert seen["attributes"]["product"] == "Produto test postback"
        wrong = hotmart.form_postback("approved", cid, "HP66666666666667", "wrong")
        refused = await client.post("/postback", params=params, data=wrong)
        assert refused.status_code == 401, refused.text


async def test_the_templates_own_example_is_a_sale(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        query, body = example(TEMPLATE, cid, net.token, net.advertiser["id"], HOTTOK)
        assert "token" not in query and body is not None and body["hottok"] == HOTTOK
        answer = ok(await client.post("/postback", params=query, json=body))
        assert (answer["result"], answer["stage"]) == ("created", "approved")
        seen = ok(await admin.get(f"/conversions/{answer['conversion_id']}"))
        assert (seen["click_id"], seen["txid"], seen["revenue"]) == (cid, "HP16015479281022", 1500)


async def test_a_sale_that_came_through_no_link_of_ours_is_acknowledged_not_counted(
    server: ServerProcess,
) -> None:
    """Hotmart posts every sale of the product: one without our click id (or with a click
    id that is not ours) gets a 200 `ignored`, or Hotmart would retry and then switch the
    webhook off; the incoming log says why."""
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        for sck in (None, "instagram_bio"):
            body = hotmart.approved("placeholder", "HP99999999999990", HOTTOK)
            body["data"]["purchase"]["origin"] = {} if sck is None else {"sck": sck}
            answer = ok(await _post(client, net, body))
            assert answer == {"result": "ignored"}
            logged = ok(
                await admin.get("/incoming", params={"advertiser_id": net.advertiser["id"]})
            )["items"]
            assert any(
                entry["result"] == "ignored" and "not a sale of ours" in entry["message"]
                for entry in logged
            ), logged
            # The Hottok is still checked first: a forger gets nothing but a 401.
            forged = await _post(client, net, body, hottok="guess")
            assert forged.status_code == 401
        listed = ok(await admin.get("/conversions", params={"offer_id": net.offer["id"]}))
        assert listed["items"] == []


async def test_the_affiliates_tracker_hears_each_status_of_a_hotmart_order_once(
    server: ServerProcess, receiver: Receiver
) -> None:
    """From the platform's webhook to the affiliate's Keitaro: the sale, not its completion
    (same status), then the refund as Keitaro's `rejected`; the sale amount for Everflow."""
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        for name in ("keitaro", "everflow"):
            await add_postback(
                admin,
                affiliate_id=net.affiliate["id"],
                template=name,
                tracker_url=receiver.url(f"/{name}"),
            )
        params = {"offer_id": net.offer["id"], "aff_id": net.affiliate["id"], "sub1": "kt-9"}
        location = urlsplit((await client.get("/click", params=params)).headers["location"])
        cid = parse_qs(location.query)["sck"][0]
        tx = "HP22222222222222"
        for step in (hotmart.approved, hotmart.complete, hotmart.refunded):
            ok(await _post(client, net, step(cid, tx, HOTTOK)))
        keitaro = await eventually(
            lambda: len(receiver.at("/keitaro/postback")) == 2 and receiver.at("/keitaro/postback")
        )
        assert [(r.query["subid"], r.query["status"], r.query["tid"]) for r in keitaro] == [
            ("kt-9", "sale", tx),
            ("kt-9", "rejected", tx),
        ]
        (everflow,) = await eventually(lambda: receiver.at("/everflow/"))
        assert everflow.query["transaction_id"] == "kt-9"
        assert everflow.query["amount"] == str(hotmart.PRICE) and everflow.query["order_id"] == tx
        # Nothing else arrives: the completion kept the status.
        await asyncio.sleep(1)
        assert len(receiver.at("/keitaro/postback")) == 2 and len(receiver.at("/everflow/")) == 1
