"""Kiwify posting to the real server as it does: its JSON bodies, signed with the
webhook's token in the `signature` it appends to our URL, no token of ours."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from postback.domain.platforms.kiwify import TEMPLATE
from postback.domain.templates import example
from tests.e2e.harness import ServerProcess
from tests.e2e.network import Network, create_network
from tests.partners import samples_kiwify as kiwify
from tests.partners.helpers import checkout_click, conversions, ok

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TOKEN = "w9i3pvutvxe"  # the webhook token of Kiwify's API example


def _signature(raw: bytes, token: str = TOKEN) -> str:
    """Kiwify's `signature`: hex HMAC-SHA1 of the raw body, keyed with the webhook token."""
    return hmac.new(token.encode(), raw, hashlib.sha1).hexdigest()


async def click(client: httpx.AsyncClient, net: Network) -> str:
    return await checkout_click(client, net, "pay.kiwify.com.br/AbCdEfG", "sck")


async def _network(admin: httpx.AsyncClient) -> Network:
    return await create_network(
        admin,
        destination="https://pay.kiwify.com.br/AbCdEfG?sck={click_id}",
        advertiser={"name": "Producer", "template": "kiwify", "partner_secret": TOKEN},
    )


async def _post(
    client: httpx.AsyncClient,
    net: Network,
    body: dict[str, Any],
    signature: str | None = None,
    raw: bytes | None = None,
) -> httpx.Response:
    """As Kiwify posts: the body as it serialises it, `signature` added to our URL."""
    raw = kiwify.as_sent(body) if raw is None else raw
    params: dict[str, Any] = {"adv_id": net.advertiser["id"]}
    params["signature"] = _signature(raw) if signature is None else signature
    return await client.post(
        "/postback", params=params, content=raw, headers={"Content-Type": "application/json"}
    )


def test_the_signature_is_computed_as_kiwify_computes_it() -> None:
    # Kiwify's own delivery and signature: the HMAC of the bytes as sent, which are
    # what `as_sent` makes of the parsed body.
    assert _signature(kiwify.CAPTURED_BODY, kiwify.CAPTURED_TOKEN) == kiwify.CAPTURED_SIGNATURE
    assert kiwify.as_sent(kiwify.ORDER_SAMPLE) == kiwify.CAPTURED_BODY


async def test_a_pix_sale_through_refund_and_chargeback_in_units(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        template = ok(
            await admin.get("/templates/kiwify", params={"advertiser_id": net.advertiser["id"]})
        )
        # What the producer pastes into Kiwify: no token of ours in it.
        assert template["url"] == f"{server.base_url}/postback?adv_id={net.advertiser['id']}"
        cid = await click(client, net)
        order_id = "6f0cf53c-0a0c-4f8e-9e2b-1d4c3b2a1001"
        steps = [
            (kiwify.pix_created, "created", "pending", "awaiting_payment"),
            (kiwify.approved, "updated", "approved", "approved"),
            (kiwify.refunded, "updated", "refunded", "refunded"),
            # A chargeback after the refund: recorded, the refund stands.
            (kiwify.chargeback, "updated", "refunded", "chargeback"),
        ]
        conversion_ids = set()
        for sample, result, status, stage in steps:
            answer = ok(await _post(client, net, sample(cid, order_id)))
            assert (answer["result"], answer["stage"]) == (result, stage), answer
            if result == "updated":
                assert answer["status"] == status, answer
            conversion_ids.add(answer["conversion_id"])
        assert len(conversion_ids) == 1

        seen = ok(await admin.get(f"/conversions/{conversion_ids.pop()}"))
        assert (seen["status"], seen["stage"]) == ("refunded", "chargeback")
        assert (seen["txid"], seen["click_id"]) == (order_id, cid)
        # Commissions.charge_amount is in cents.
        assert seen["revenue"] == kiwify.CHARGE_CENTS / 100 and seen["currency"] == "BRL"
        attributes = seen["attributes"]
        assert attributes["order_total"] == "18.4"
        assert attributes["email"] == kiwify.CUSTOMER_EMAIL
        assert attributes["customer_name"] == "John Doe"
        assert attributes["phone"] == "+41945968750"
        assert attributes["product"] == "Example product"
        assert [h["stage"] for h in seen["history"]] == [s[3] for s in steps]


async def test_a_billet_printed_then_a_refused_card(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        billet = ok(await _post(client, net, kiwify.billet_created(cid, "order-billet-1")))
        assert (billet["result"], billet["stage"]) == ("created", "awaiting_payment")
        refused = ok(await _post(client, net, kiwify.rejected(cid, "order-card-1")))
        assert (refused["result"], refused["stage"]) == ("created", "canceled")
        seen = ok(await admin.get(f"/conversions/{refused['conversion_id']}"))
        assert (seen["status"], seen["txid"]) == ("rejected", "order-card-1")
        billet_seen = ok(await admin.get(f"/conversions/{billet['conversion_id']}"))
        assert billet_seen["status"] == "pending"
        assert billet_seen["attributes"]["payment_type"] == "boleto"


async def test_a_renewal_is_a_second_sale_and_its_two_webhooks_count_once(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        subscription = "aa136b55-4056-401f-a8d1-83664d9a35a7"
        first = ok(await _post(client, net, kiwify.approved(cid, "order-sub-1", subscription)))
        assert first["result"] == "created"
        # The renewal's new order: its subscription trigger and its purchase trigger.
        renewed = ok(
            await _post(client, net, kiwify.subscription_renewed(cid, "order-sub-2", subscription))
        )
        assert renewed["result"] == "created"
        assert renewed["conversion_id"] != first["conversion_id"]
        again = ok(await _post(client, net, kiwify.approved(cid, "order-sub-2", subscription)))
        assert (again["result"], again["conversion_id"]) == ("duplicate", renewed["conversion_id"])
        charges = await conversions(admin, click_id=cid)
        assert sorted((c["txid"], c["status"]) for c in charges) == [
            ("order-sub-1", "approved"),
            ("order-sub-2", "approved"),
        ]
        seen = ok(await admin.get(f"/conversions/{renewed['conversion_id']}"))
        assert seen["attributes"]["subscription_id"] == subscription


async def test_a_wrong_or_missing_signature_is_refused_and_nothing_recorded(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        body = kiwify.approved(cid, "order-forged-1")
        raw = kiwify.as_sent(body)
        forged = await _post(client, net, body, signature=_signature(raw, "another-token"))
        assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_token"
        # Signed over the body re-serialised (spaces): not what was sent.
        pretty = json.dumps(body, indent=2, ensure_ascii=False).encode()
        reserialised = await _post(client, net, body, signature=_signature(raw), raw=pretty)
        assert reserialised.status_code == 401, reserialised.text
        unsigned = await client.post(
            "/postback",
            params={"adv_id": net.advertiser["id"]},
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "bad_token"
        assert await conversions(admin, click_id=cid) == []
        # An event that would be ignored still needs the signature.
        cart = kiwify.as_sent(kiwify.abandoned_cart())
        ignored = await _post(client, net, {}, signature="0" * 40, raw=cart)
        assert ignored.status_code == 401, ignored.text
        accepted = ok(await _post(client, net, body))
        assert accepted["result"] == "created"


async def test_subscription_news_and_abandoned_carts_are_acknowledged_and_ignored(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        subscription = "9584c28e-8c7b-44bc-9282-2fa03c45b7db"
        for body in (
            kiwify.subscription_late(cid, "order-late-1", subscription),
            kiwify.subscription_canceled(cid, "order-late-1", subscription),
            # No order and no tracking parameters: nothing it could be recorded against.
            kiwify.abandoned_cart(),
        ):
            assert ok(await _post(client, net, body)) == {"result": "ignored"}, body
        assert await conversions(admin, click_id=cid) == []


async def test_an_event_outside_the_map_is_refused(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        body = kiwify.approved(cid, "order-new-1")
        body["webhook_event_type"] = "order_something_new"
        refused = await _post(client, net, body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_event"
        assert await conversions(admin, click_id=cid) == []


async def test_the_templates_own_example_is_a_sale(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _network(admin)
        cid = await click(client, net)
        query, body = example(TEMPLATE, cid, net.token, net.advertiser["id"], TOKEN)
        assert "token" not in query and body is not None
        raw = kiwify.as_sent(body)
        answer = ok(
            await client.post(
                "/postback",
                params={**query, "signature": _signature(raw)},
                content=raw,
                headers={"Content-Type": "application/json"},
            )
        )
        assert (answer["result"], answer["stage"]) == ("created", "approved")
        seen = ok(await admin.get(f"/conversions/{answer['conversion_id']}"))
        assert (seen["click_id"], seen["revenue"], seen["currency"]) == (cid, 18.4, "BRL")
        assert seen["attributes"]["utm_source"] == "facebook"
