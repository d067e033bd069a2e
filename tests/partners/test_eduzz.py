"""Eduzz posting to the real server as it does in production: the Developer Hub webhook
(JSON signed in `x-signature` with the webhook's secret), and the older webhook and
affiliate postback formats with their own keys; no token of ours in the URL.
Samples: samples_eduzz.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from postback.domain.platforms import eduzz
from postback.domain.templates import example, incoming_url
from tests.e2e.harness import ServerProcess
from tests.e2e.network import Network, click, create_network
from tests.partners import samples_eduzz as samples
from tests.partners.helpers import conversion, conversions, ok

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# A webhook secret as the Developer Hub shows one (its secretId is 64 hex digits).
WEBHOOK_SECRET = "87fce2b9bbbf534fc91fa63fdb697a4e9b7f17205c2577ef2cb1f9757307c180"


async def _producer(admin: httpx.AsyncClient, secret: str = WEBHOOK_SECRET) -> Network:
    return await create_network(admin, advertiser={"template": "eduzz", "partner_secret": secret})


def _url(net: Network) -> str:
    """The URL the producer gives Eduzz: the template's, no token in it."""
    url = incoming_url(eduzz.TEMPLATE, "", net.advertiser["id"], net.token)
    assert "token" not in url
    return url


async def _send(
    client: httpx.AsyncClient, net: Network, body: dict[str, Any], secret: str = WEBHOOK_SECRET
) -> httpx.Response:
    raw, headers = samples.signed(body, secret)
    return await client.post(_url(net), content=raw, headers=headers)


async def test_an_invoice_from_boleto_to_paid_refund_requested_refunded_then_chargeback(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        invoice = "12345678"
        plays = [
            (samples.billet_printed, "created", None, "awaiting_payment"),
            (samples.sale_approved, "updated", "approved", "approved"),
            (samples.refund_requested, "updated", "approved", "disputed"),
            (samples.refunded, "updated", "refunded", "refunded"),
            # A chargeback after the refund keeps the refund and records the stage.
            (samples.chargeback, "updated", "refunded", "chargeback"),
        ]
        answers = []
        for sample, result, status, stage in plays:
            answer = ok(await _send(client, net, sample(cid, invoice)))
            assert (answer["result"], answer.get("status"), answer["stage"]) == (
                result,
                status,
                stage,
            ), sample.__name__
            answers.append(answer)
        assert len({a["conversion_id"] for a in answers}) == 1

        seen = await conversion(admin, answers[0]["conversion_id"])
        assert (seen["status"], seen["stage"], seen["txid"]) == ("refunded", "chargeback", invoice)
        assert Decimal(str(seen["revenue"])) == Decimal("301.5")
        assert seen["currency"] == "BRL"
        assert seen["attributes"] == {
            "email": "alice@example.com",
            "customer_name": "Alice Exemplo",
            "phone": "5511988880000",
            "product": "Widget X",
            "product_id": "P567",
            "payment_method": "creditCard",
            "order_total": "301.5",
        }
        assert [h["stage"] for h in seen["history"]] == [
            "awaiting_payment",
            "approved",
            "disputed",
            "refunded",
            "chargeback",
        ]


async def test_a_card_sale_then_chargeback_and_a_canceled_boleto(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        paid = ok(await _send(client, net, samples.sale_approved(cid, "501")))
        assert (paid["result"], paid["stage"]) == ("created", "approved")
        again = ok(await _send(client, net, samples.sale_approved(cid, "501")))
        assert again["result"] == "duplicate"
        back = ok(await _send(client, net, samples.chargeback(cid, "501")))
        assert (back["status"], back["stage"]) == ("chargeback", "chargeback")

        ok(await _send(client, net, samples.billet_printed(cid, "502")))
        canceled = ok(await _send(client, net, samples.canceled(cid, "502")))
        assert (canceled["status"], canceled["stage"]) == ("rejected", "canceled")
        boleto = await conversion(admin, canceled["conversion_id"])
        assert (boleto["txid"], boleto["attributes"]["payment_method"]) == ("502", "bankslip")


async def test_a_subscription_renewal_is_an_invoice_of_its_own(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        first = ok(await _send(client, net, samples.subscription_renewed(cid, "601", "C-3456")))
        renewal = ok(await _send(client, net, samples.subscription_renewed(cid, "602", "C-3456")))
        assert renewal["result"] == "created"
        assert renewal["conversion_id"] != first["conversion_id"]
        seen = await conversion(admin, renewal["conversion_id"])
        assert (seen["status"], seen["txid"]) == ("approved", "602")
        assert Decimal(str(seen["revenue"])) == Decimal("49.9")
        assert seen["attributes"]["subscription_id"] == "C-3456"

        # The contract's own events carry no invoice and count nothing.
        contract = await _send(client, net, samples.contract_updated("C-3456"))
        assert ok(contract) == {"result": "ignored"}
        listed = await conversions(admin, offer_id=net.offer["id"])
        assert {c["txid"] for c in listed} == {
            "601",
            "602",
        }


async def test_an_abandoned_cart_is_pending_and_never_approved_revenue(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        answer = ok(await _send(client, net, samples.cart_abandoned(cid)))
        assert (answer["result"], answer["stage"]) == ("created", "checkout_abandoned")
        cart = await conversion(admin, answer["conversion_id"])
        assert (cart["status"], cart["txid"]) == ("pending", None)
        approved = await admin.get(
            "/conversions", params={"offer_id": net.offer["id"], "status": "approved"}
        )
        assert approved.json()["items"] == []


async def test_a_bad_or_missing_signature_is_refused_and_nothing_recorded(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        body = samples.sale_approved(cid, "701")
        wrong_key = await _send(client, net, body, secret="another-webhook-secret")
        assert wrong_key.status_code == 401 and wrong_key.json()["error"]["code"] == "bad_token"

        # Signed, then changed on the way: the signature no longer matches the bytes.
        raw, headers = samples.signed(body, WEBHOOK_SECRET)
        tampered = raw.replace(b"301.5", b"3015.0")
        changed = await client.post(_url(net), content=tampered, headers=headers)
        assert changed.status_code == 401

        unsigned = await client.post(_url(net), json=body)
        assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "bad_token"
        # The secret itself is no signature.
        bare = await client.post(
            _url(net), content=raw, headers={**headers, "x-signature": WEBHOOK_SECRET}
        )
        assert bare.status_code == 401
        assert await conversions(admin, offer_id=net.offer["id"]) == []


async def test_unknown_events_are_refused_and_the_ping_is_acknowledged(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        unknown = await _send(client, net, samples.unknown_event(cid, "801"))
        assert unknown.status_code == 400, unknown.text
        assert unknown.json()["error"]["code"] == "unknown_event"
        # Activating the webhook on Eduzz sends a ping, which must answer 2xx.
        assert ok(await _send(client, net, samples.ping())) == {"result": "ignored"}
        unsigned_ping = await client.post(_url(net), json=samples.ping())
        assert unsigned_ping.status_code == 401
        assert await conversions(admin, offer_id=net.offer["id"]) == []


async def test_the_affiliate_postback_a_cart_loaded_is_never_a_sale(
    server: ServerProcess,
) -> None:
    api_key = "eduzz-affiliate-api-key-0001"
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin, secret=api_key)
        cid = await click(client, net)
        headers = {"x-eduzzapi": api_key}
        loaded = await client.post(_url(net), data=samples.tracker_checkout(cid), headers=headers)
        assert ok(loaded) == {"result": "ignored"}
        assert await conversions(admin, offer_id=net.offer["id"]) == []

        boleto = samples.tracker_with_invoice(cid, "TRACKER.BOLETO", "90001", 1)
        viewed = ok(await client.post(_url(net), data=boleto, headers=headers))
        assert (viewed["result"], viewed["stage"]) == ("created", "awaiting_payment")
        thanks = samples.tracker_with_invoice(cid, "TRACKER.THANKYOU", "90001", 3)
        paid = ok(await client.post(_url(net), data=thanks, headers=headers))
        assert (paid["status"], paid["stage"]) == ("approved", "approved")
        seen = await conversion(admin, paid["conversion_id"])
        assert (seen["txid"], seen["attributes"]["email"]) == ("90001", "alice@example.com")
        assert Decimal(str(seen["revenue"])) == Decimal("97.00")

        wrong = await client.post(
            _url(net), data=samples.tracker_checkout(cid), headers={"x-eduzzapi": "nope"}
        )
        assert wrong.status_code == 401


async def test_the_older_webhook_with_its_origin_key(server: ServerProcess) -> None:
    origin = "eyJpdiI6IllieTdnK0VhR3BBSDlGcnA4aVJRQUE9PSJ9"
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin, secret=origin)
        cid = await click(client, net)
        fields = samples.legacy_invoice(cid, origin, "70001", "invoice_paid", 3)
        answer = ok(await client.post(_url(net), data=fields))
        assert (answer["result"], answer["stage"]) == ("created", "approved")
        seen = await conversion(admin, answer["conversion_id"])
        assert (seen["txid"], seen["currency"]) == ("70001", "BRL")
        assert Decimal(str(seen["revenue"])) == Decimal("97.00")
        assert seen["attributes"]["email"] == "alice@example.com"
        refund = samples.legacy_invoice(cid, origin, "70001", "invoice_refunded", 7)
        assert ok(await client.post(_url(net), data=refund))["status"] == "refunded"
        forged = samples.legacy_invoice(cid, "not-the-key", "70002", "invoice_paid", 3)
        assert (await client.post(_url(net), data=forged)).status_code == 401


async def test_the_templates_own_example_is_a_sale(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        query, body = example(eduzz.TEMPLATE, cid, net.token, net.advertiser["id"])
        assert body is not None and query == {"adv_id": str(net.advertiser["id"])}
        answer = ok(await _send(client, net, body))
        assert (answer["result"], answer["stage"]) == ("created", "approved")
