"""Monetizze posting to the real server as it does in production: a form-encoded POST with
bracket names, its `chave_unica` proving it, no token of ours in the URL (the producer
pastes the advertiser's URL into Ferramentas > Postback). Samples: samples_monetizze.py."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from postback.domain.platforms import monetizze
from postback.domain.templates import example, incoming_url
from tests.e2e.harness import ServerProcess
from tests.e2e.network import Network, click, create_network
from tests.partners import samples_monetizze as samples
from tests.partners.helpers import conversion, conversions, ok

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# The shape of Monetizze's key (32 hex digits, as in its PHP sample).
CHAVE_UNICA = "82e98fd17562ae451ba4f9e3b9c2eab6"


async def _producer(admin: httpx.AsyncClient) -> Network:
    return await create_network(
        admin, advertiser={"template": "monetizze", "partner_secret": CHAVE_UNICA}
    )


def _url(net: Network) -> str:
    """The URL the producer pastes into Monetizze: the template's, no token in it."""
    url = incoming_url(monetizze.TEMPLATE, "", net.advertiser["id"], net.token)
    assert "token" not in url
    return url


async def _post(client: httpx.AsyncClient, net: Network, fields: dict[str, str]) -> httpx.Response:
    # Form-encoded as Monetizze sends it: `venda%5Bcodigo%5D=...`.
    return await client.post(_url(net), data=fields)


async def test_a_boleto_sale_from_printed_to_complete_then_disputed_and_refunded(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        code = "41852883"
        plays = [
            (samples.billet_printed, "created", None, "awaiting_payment"),
            (samples.sale_approved, "updated", "approved", "approved"),
            (samples.sale_complete, "updated", "approved", "completed"),
            (samples.sale_blocked, "updated", "approved", "disputed"),
            (samples.sale_refunded, "updated", "refunded", "refunded"),
        ]
        answers = []
        for sample, result, status, stage in plays:
            answer = ok(await _post(client, net, sample(cid, CHAVE_UNICA, code)))
            assert (answer["result"], answer.get("status"), answer["stage"]) == (
                result,
                status,
                stage,
            ), sample.__name__
            answers.append(answer)
        assert len({a["conversion_id"] for a in answers}) == 1

        # The same refund again: nothing new.
        again = ok(await _post(client, net, samples.sale_refunded(cid, CHAVE_UNICA, code)))
        assert again["result"] == "duplicate"

        seen = await conversion(admin, answers[0]["conversion_id"])
        assert (seen["status"], seen["stage"], seen["txid"]) == ("refunded", "refunded", code)
        assert Decimal(str(seen["revenue"])) == Decimal("157.00")
        assert seen["currency"] == "BRL"
        assert seen["attributes"] == {
            "email": "maria@example.com",
            "customer_name": "Maria Exemplo",
            "phone": "27999990000",
            "product": "Lift Detox Caps",
            "product_id": "145388",
            "payment_method": "Cartão de crédito",
            "order_total": "157.00",
        }
        assert [h["stage"] for h in seen["history"]] == [
            "awaiting_payment",
            "approved",
            "completed",
            "disputed",
            "refunded",
        ]


async def test_a_card_sale_approved_at_once_and_a_canceled_boleto(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        sale = ok(await _post(client, net, samples.sale_approved(cid, CHAVE_UNICA, "5001")))
        assert (sale["result"], sale["stage"]) == ("created", "approved")
        repeat = await _post(client, net, samples.sale_approved(cid, CHAVE_UNICA, "5001"))
        assert ok(repeat)["result"] == "duplicate"
        approved = await conversion(admin, sale["conversion_id"])
        assert (approved["status"], approved["txid"]) == ("approved", "5001")

        # Another order on the same click: a boleto never paid.
        printed = await _post(client, net, samples.billet_printed(cid, CHAVE_UNICA, "5002"))
        canceled = await _post(client, net, samples.sale_canceled(cid, CHAVE_UNICA, "5002"))
        assert ok(canceled)["status"] == "rejected"
        boleto = await conversion(admin, ok(printed)["conversion_id"])
        assert (boleto["status"], boleto["stage"]) == ("rejected", "canceled")
        assert boleto["attributes"]["payment_method"] == "Boleto"
        assert boleto["id"] != approved["id"]


async def test_an_abandoned_checkout_is_pending_and_never_approved_revenue(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        fields = samples.checkout_abandoned(cid, CHAVE_UNICA)
        assert "venda[codigo]" not in fields and "codigo_venda" not in fields
        answer = ok(await _post(client, net, fields))
        assert (answer["result"], answer["stage"]) == ("created", "checkout_abandoned")
        cart = await conversion(admin, answer["conversion_id"])
        assert (cart["status"], cart["stage"], cart["txid"]) == (
            "pending",
            "checkout_abandoned",
            None,
        )
        assert cart["attributes"]["email"] == "maria@example.com"
        approved = await admin.get(
            "/conversions", params={"offer_id": net.offer["id"], "status": "approved"}
        )
        assert approved.json()["items"] == []

        # The buyer comes back and pays: the sale is an order of its own, by its code.
        paid = ok(await _post(client, net, samples.sale_approved(cid, CHAVE_UNICA, "7001")))
        assert paid["result"] == "created" and paid["conversion_id"] != cart["id"]
        still = await conversion(admin, cart["id"])
        assert (still["status"], still["stage"]) == ("pending", "checkout_abandoned")


async def test_a_subscription_renewal_is_a_sale_of_its_own(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        first = ok(await _post(client, net, samples.sale_approved(cid, CHAVE_UNICA, "9001")))
        renewal = ok(
            await _post(client, net, samples.subscription_renewed(cid, CHAVE_UNICA, "9002"))
        )
        assert (renewal["result"], renewal["stage"]) == ("created", "approved")
        assert renewal["conversion_id"] != first["conversion_id"]
        seen = await conversion(admin, renewal["conversion_id"])
        assert (seen["status"], seen["txid"]) == ("approved", "9002")
        assert Decimal(str(seen["revenue"])) == Decimal("49.90")
        assert seen["attributes"]["subscription_id"] == "1104370"
        assert seen["attributes"]["subscription_charge"] == "2"

        # A charge unpaid (Inadimplente) counts nothing and is acknowledged.
        overdue = await _post(client, net, samples.subscription_overdue(cid, CHAVE_UNICA, "9003"))
        assert ok(overdue) == {"result": "ignored"}
        listed = await conversions(admin, offer_id=net.offer["id"])
        assert {c["txid"] for c in listed} == {
            "9001",
            "9002",
        }


async def test_a_tracking_update_keeps_the_sale_approved(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        ok(await _post(client, net, samples.sale_approved(cid, CHAVE_UNICA, "8001")))
        answer = ok(await _post(client, net, samples.tracking_update(cid, CHAVE_UNICA, "8001")))
        assert (answer["result"], answer["status"], answer["stage"]) == (
            "updated",
            "approved",
            "shipping_update",
        )
        seen = await conversion(admin, answer["conversion_id"])
        assert seen["attributes"]["tracking_code"] == "PQ907915688BR"
        assert seen["attributes"]["tracking_status"] == "Postado"


async def test_a_wrong_or_missing_chave_unica_is_refused_and_nothing_recorded(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        wrong = await _post(client, net, samples.sale_approved(cid, "f" * 32, "6001"))
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_token"
        missing = samples.sale_approved(cid, CHAVE_UNICA, "6001")
        del missing["chave_unica"]
        missing["json"] = "{}"
        refused = await _post(client, net, missing)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "bad_token"
        # The product's key is no proof of the account.
        product_key = samples.sale_approved(cid, "4a920341e79639658c2459847e146da9", "6001")
        assert (await _post(client, net, product_key)).status_code == 401
        assert await conversions(admin, offer_id=net.offer["id"]) == []


async def test_an_unknown_event_is_refused(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        answer = await _post(client, net, samples.unknown_event(cid, CHAVE_UNICA, "4001"))
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "unknown_event"
        assert await conversions(admin, offer_id=net.offer["id"]) == []


async def test_the_templates_own_example_is_a_sale(server: ServerProcess) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        query, body = example(monetizze.TEMPLATE, cid, net.token, net.advertiser["id"], CHAVE_UNICA)
        assert body is not None
        answer = ok(await _post(client, net, dict(body)))
        assert (answer["result"], answer["stage"]) == ("created", "approved")
        assert query == {"adv_id": str(net.advertiser["id"])}


async def test_the_same_postback_as_json_reads_alike(server: ServerProcess) -> None:
    # Monetizze's API documentation, as integrators quote it, also allows JSON.
    async with server.admin() as admin, server.client() as client:
        net = await _producer(admin)
        cid = await click(client, net)
        body = samples.payload(2, cid, CHAVE_UNICA, "3001")
        answer = ok(await client.post(_url(net), json=body))
        assert (answer["result"], answer["stage"]) == ("created", "approved")
        seen = await conversion(admin, answer["conversion_id"])
        assert (seen["txid"], seen["currency"]) == ("3001", "BRL")
        assert Decimal(str(seen["revenue"])) == Decimal("157.00")
        assert seen["attributes"]["email"] == "maria@example.com"
