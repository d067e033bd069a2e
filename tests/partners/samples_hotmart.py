"""Hotmart's webhook bodies, from its published samples, for each step of a sale.

Version 2.0.0 (JSON): the purchase events share one body, the documentation's sample
(https://developers.hotmart.com/docs/en/2.0.0/webhook/purchase-webhook/), as Hotmart's
"send test" delivers it for each event (event, `purchase.status`, `hottok` in the body:
https://github.com/michael-lourenco/controle-de-eventos/blob/main/documentacao/payloads-webhook.md).
The checkout link's `sck` comes back in `purchase.origin` (sck, src, xcod) and a
subscription's charges are counted in `purchase.recurrence_number`, fields of the same
documentation that the test send leaves out. Version 1.0.0 (form post): the fields
Hotmart's older postback sends (https://developers.hotmart.com/docs/en/1.0.0/webhook/
using-webhook/), as public integrations of it read them (`hottok`, `prod`, `status`,
`transaction`, `price`, `sck`, ...).
"""

from __future__ import annotations

import copy
from typing import Any

PURCHASE_SAMPLE: dict[str, Any] = {
    "id": "545e7d21-8fc4-4906-8fba-dcd7889f6481",
    "creation_date": 1763247745737,
    "event": "PURCHASE_APPROVED",
    "version": "2.0.0",
    "data": {
        "product": {
            "id": 0,
            "ucode": "fb056612-bcc6-4217-9e6d-2a5d1110ac2f",
            "name": "Produto test postback2",
            "warranty_date": "2017-12-27T00:00:00Z",
            "support_email": "support@hotmart.com.br",
            "has_co_production": False,
            "is_physical_product": False,
            "content": {
                "has_physical_products": True,
                "products": [
                    {
                        "id": 4774438,
                        "ucode": "559fef42-3406-4d82-b775-d09bd33936b1",
                        "name": "How to Make Clear Ice",
                        "is_physical_product": False,
                    },
                    {
                        "id": 4999597,
                        "ucode": "099e7644-b7d1-43d6-82a9-ec6be0118a4b",
                        "name": "Organizador de Poeira",
                        "is_physical_product": True,
                    },
                ],
            },
        },
        "affiliates": [{"affiliate_code": "Q58388177J", "name": "Affiliate name"}],
        "buyer": {
            "email": "testeComprador271101postman15@example.com",
            "name": "Teste Comprador",
            "first_name": "Teste",
            "last_name": "Comprador",
            "checkout_phone_code": "999999999",
            "checkout_phone": "99999999900",
            "address": {
                "city": "Uberlândia",
                "country": "Brasil",
                "country_iso": "BR",
                "state": "Minas Gerais",
                "neighborhood": "Tubalina",
                "zipcode": "38400123",
                "address": "Avenida Francisco Galassi",
                "number": "10",
                "complement": "Perto do shopping",
            },
            "document": "69526128664",
            "document_type": "CPF",
        },
        "producer": {
            "name": "Producer Test Name",
            "document": "12345678965",
            "legal_nature": "Pessoa Física",
        },
        "commissions": [
            {"value": 149.5, "source": "MARKETPLACE", "currency_value": "BRL"},
            {"value": 1350.5, "source": "PRODUCER", "currency_value": "BRL"},
        ],
        "purchase": {
            "approved_date": 1511783346000,
            "full_price": {"value": 1500, "currency_value": "BRL"},
            "price": {"value": 1500, "currency_value": "BRL"},
            "checkout_country": {"name": "Brasil", "iso": "BR"},
            "order_bump": {
                "is_order_bump": True,
                "parent_purchase_transaction": "HP02316330308193",
            },
            "event_tickets": {"amount": 1763247745730},
            "original_offer_price": {"value": 1500, "currency_value": "BRL"},
            "order_date": 1511783344000,
            "status": "APPROVED",
            "transaction": "HP16015479281022",
            "payment": {"installments_number": 12, "type": "CREDIT_CARD"},
            "offer": {"code": "test", "coupon_code": "SHHUHA"},
            "sckPaymentLink": "sckPaymentLinkTest",
            "is_funnel": False,
            "business_model": "I",
        },
        "subscription": {
            "status": "ACTIVE",
            "plan": {"id": 123, "name": "plano de teste"},
            "subscriber": {"code": "I9OT62C3"},
        },
    },
}

BUYER_EMAIL = "testeComprador271101postman15@example.com"
PRICE = 1500


def purchase(
    event: str,
    status: str,
    click_id: str,
    transaction: str,
    hottok: str,
    *,
    recurrence_number: int | None = None,
    payment_type: str = "CREDIT_CARD",
) -> dict[str, Any]:
    """A purchase event as Hotmart posts it: the sample with this order's transaction and
    the click id the checkout link's `sck` brought."""
    body = copy.deepcopy(PURCHASE_SAMPLE)
    body["event"] = event
    purchase_data = body["data"]["purchase"]
    purchase_data.update(status=status, transaction=transaction, origin={"sck": click_id})
    purchase_data["payment"]["type"] = payment_type
    if recurrence_number is not None:
        purchase_data["recurrence_number"] = recurrence_number
        purchase_data["business_model"] = "S"
    body["hottok"] = hottok
    return body


def billet_printed(click_id: str, transaction: str, hottok: str) -> dict[str, Any]:
    return purchase(
        "PURCHASE_BILLET_PRINTED",
        "BILLET_PRINTED",
        click_id,
        transaction,
        hottok,
        payment_type="BILLET",
    )


def approved(click_id: str, transaction: str, hottok: str) -> dict[str, Any]:
    return purchase("PURCHASE_APPROVED", "APPROVED", click_id, transaction, hottok)


def complete(click_id: str, transaction: str, hottok: str) -> dict[str, Any]:
    return purchase("PURCHASE_COMPLETE", "COMPLETE", click_id, transaction, hottok)


def protest(click_id: str, transaction: str, hottok: str) -> dict[str, Any]:
    # The test send names the buyer's dispute "Pedido de reembolso": status DISPUTE.
    return purchase("PURCHASE_PROTEST", "DISPUTE", click_id, transaction, hottok)


def refunded(click_id: str, transaction: str, hottok: str) -> dict[str, Any]:
    return purchase("PURCHASE_REFUNDED", "REFUNDED", click_id, transaction, hottok)


def chargeback(click_id: str, transaction: str, hottok: str) -> dict[str, Any]:
    return purchase("PURCHASE_CHARGEBACK", "CHARGEBACK", click_id, transaction, hottok)


def expired(click_id: str, transaction: str, hottok: str) -> dict[str, Any]:
    return purchase("PURCHASE_EXPIRED", "EXPIRED", click_id, transaction, hottok)


def renewal(click_id: str, transaction: str, hottok: str, recurrence_number: int) -> dict[str, Any]:
    """A subscription's charge: PURCHASE_APPROVED with its own transaction."""
    return purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        click_id,
        transaction,
        hottok,
        recurrence_number=recurrence_number,
    )


def abandoned_cart(hottok: str) -> dict[str, Any]:
    """https://developers.hotmart.com/docs/en/2.0.0/webhook/cart-abandonment-webhook/:
    the lead's contact and the product; no transaction and no tracking."""
    return {
        "id": "0d7aa966-b887-4617-8c56-9e865bfc8ce4",
        "creation_date": 1632411406874,
        "event": "PURCHASE_OUT_OF_SHOPPING_CART",
        "version": "2.0.0",
        "data": {
            "affiliate": True,
            "product": {"id": 3526906, "name": "Product Name"},
            "buyer": {"name": "Buyer name", "email": "buyer@email.com.br", "phone": "31999999999"},
            "offer": {"code": "n82b9jqz"},
            "checkout_country": {"name": "Brasil", "iso": "BR"},
        },
        "hottok": hottok,
    }


def subscription_cancellation(hottok: str) -> dict[str, Any]:
    """https://developers.hotmart.com/docs/en/2.0.0/webhook/cancel-subscription-webhook/"""
    return {
        "id": "0d7aa966-b887-4617-8c56-9e865bfc8ce4",
        "creation_date": 1632411406874,
        "event": "SUBSCRIPTION_CANCELLATION",
        "version": "2.0.0",
        "data": {
            "date_next_charge": 1580667200000,
            "product": {"name": "Product Name", "id": 3526906},
            "actual_recurrence_value": 50.10,
            "subscriber": {
                "code": "QO4THU04",
                "name": "Subscriber Name",
                "email": "subscriber@email.com",
                "phone": {
                    "dddPhone": "31",
                    "phone": "33334444",
                    "dddCell": "31",
                    "cell": "999999999",
                },
            },
            "subscription": {"id": 471681, "plan": {"name": "Plan Name", "id": 460805}},
            "cancellation_date": 1633410850832,
        },
        "hottok": hottok,
    }


def switch_plan(hottok: str) -> dict[str, Any]:
    """https://developers.hotmart.com/docs/en/2.0.0/webhook/switch-plan-webhook/"""
    return {
        "id": "93069d0e-f35b-443e-9146-75b552321a7e",
        "creation_date": 1633003064000,
        "event": "SWITCH_PLAN",
        "version": "2.0.0",
        "data": {
            "switch_plan_date": 1629926054000,
            "subscription": {
                "subscriber_code": "AT3IV3RX",
                "status": "ACTIVE",
                "date_next_charge": 1736337600000,
                "product": {"id": 4116023, "name": "Product Name"},
                "user": {"email": "email@hotmart.com"},
            },
            "plans": [
                {
                    "id": 707635,
                    "name": "Plan Test 1",
                    "offer": {"key": "py01ycdp"},
                    "current": True,
                },
                {
                    "id": 631288,
                    "name": "Plan Test 2",
                    "offer": {"key": "2nyk0xc3"},
                    "current": False,
                },
            ],
        },
        "hottok": hottok,
    }


def club_first_access(hottok: str) -> dict[str, Any]:
    """The member-area event as Hotmart's test sends it (payloads-webhook.md above;
    https://developers.hotmart.com/docs/en/2.0.0/webhook/club-first-access/)."""
    return {
        "id": "7fe795fa-285c-430f-9a91-afce10a9216f",
        "creationDate": 1763247745996,
        "event": "CLUB_FIRST_ACCESS",
        "version": "2.0.0",
        "data": {
            "product": {"id": 0, "name": "Produto test postback2"},
            "user": {"name": "Test Name", "email": "teste@hotmart.com.br"},
        },
        "hottok": hottok,
    }


def form_postback(status: str, click_id: str, transaction: str, hottok: str) -> dict[str, str]:
    """The 1.0.0 postback's form fields (hottok, prod, status, transaction, price, the
    checkout link's sck ...), as integrations of it read them."""
    return {
        "hottok": hottok,
        "prod": "1439",
        "prod_name": "Produto test postback",
        "off": "test",
        "price": "97.00",
        "full_price": "97.00",
        "currency": "BRL",
        "email": "comprador@example.com",
        "name": "Comprador Teste",
        "first_name": "Comprador",
        "last_name": "Teste",
        "phone_local_code": "11",
        "phone_number": "999999999",
        "transaction": transaction,
        "status": status,
        "payment_type": "credit_card",
        "sck": click_id,
        "src": "",
        "xcod": "",
    }
