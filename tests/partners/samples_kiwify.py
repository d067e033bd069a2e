"""Kiwify's webhook bodies, from its published samples, for each step of a sale, and the
bytes Kiwify sends and signs.

Every order trigger sends the same order body (https://docs.kiwify.com.br/api-reference/
webhooks/receiving): here Kiwify's own test delivery ("Example product", John Doe),
captured with its signature in
https://github.com/LimaTeixeiraTecnologia/mecontrola/blob/main/internal/billing/infrastructure/http/server/middleware/hmac_signature_test.go
(CAPTURED_* below), with the order's `webhook_event_type` and `order_status` for each
step and the click id in `TrackingParameters.sck`. The abandoned cart has a body of its
own (the same repository's kiwify_webhook_handler_test.go, `abandonedCartPayload`).
Subscriptions: https://docs.kiwify.com.br/api-reference/webhooks/subscription-events.
"""

from __future__ import annotations

import copy
import json
from typing import Any

# Kiwify's test delivery of `billet_created`, byte for byte, its `signature` query
# parameter and the webhook token it was signed with (public test values).
CAPTURED_TOKEN = "9ch0bpzogu9"
CAPTURED_SIGNATURE = "06f61a6aff46cea884f02a981caedc92c3c247b8"
CAPTURED_BODY = (
    '{"order_id":"ce936450-f853-4f66-9c72-03964fa436ea","order_ref":"DxfWDlN",'
    '"order_status":"waiting_payment","product_type":"membership","payment_method":"boleto",'
    '"store_id":"yOqrzDK1JFUIPlX","payment_merchant_id":19431960,"installments":null,'
    '"card_type":"","card_last4digits":"","card_rejection_reason":null,'
    '"boleto_URL":"https://pagar.me","boleto_barcode":"23791.22928 60005.510098 '
    '74000.046909 4 83110000300000","boleto_expiry_date":"12/06/2026","pix_code":null,'
    '"pix_expiration":null,"sale_type":"producer","created_at":"2026-06-08 15:42",'
    '"updated_at":"2026-06-08 15:42","approved_date":null,"refunded_at":null,'
    '"webhook_event_type":"billet_created","Product":{"product_id":'
    '"d295c1f8-26ff-47de-9c72-bf73e6945cce","product_name":"Example product"},'
    '"Customer":{"full_name":"John Doe","first_name":"John","email":"johndoe@example.com",'
    '"mobile":"+41945968750","CPF":"45658495664","ip":"82.253.125.70","instagram":"@kiwify",'
    '"street":"Rua 1001","number":"315","complement":"SL 05","neighborhood":"Centro",'
    '"city":"Balneário Camboriú","state":"SC","zipcode":"88330-756"},"Commissions":'
    '{"charge_amount":1840,"product_base_price":1840,"product_base_price_currency":"BRL",'
    '"kiwify_fee":202,"kiwify_fee_currency":"BRL","settlement_amount":1840,'
    '"settlement_amount_currency":"BRL","sale_tax_rate":0,"sale_tax_amount":0,'
    '"commissioned_stores":[{"id":"e79c4e6e-f7ae-4d8a-9cf3-4905928943d6","type":"producer",'
    '"custom_name":"Example store","email":"example@store.domain","value":"1638"},'
    '{"id":"1ee2f7c3-22bc-44eb-96d7-cf03d62a80ac","type":"coproducer","custom_name":'
    '"Example coproducer","email":"example@coproducer.domain","value":"1638"},'
    '{"id":"77a5eed3-d24f-437b-8c15-618dcd878cfb","type":"affiliate","affiliate_id":'
    '"jJXoElY","custom_name":"Example affiliate","email":"example@affiliate.domain",'
    '"value":"1638"}],"currency":"BRL","my_commission":1638,"funds_status":null,'
    '"estimated_deposit_date":null,"deposit_date":null},"TrackingParameters":{"src":null,'
    '"sck":null,"utm_source":null,"utm_medium":null,"utm_campaign":null,"utm_content":null,'
    '"utm_term":null,"s1":null,"s2":null,"s3":null}}'
).encode()

ORDER_SAMPLE: dict[str, Any] = json.loads(CAPTURED_BODY)

CHARGE_CENTS = 1840
CUSTOMER_EMAIL = "johndoe@example.com"


def as_sent(body: dict[str, Any]) -> bytes:
    """The body as Kiwify sends (and signs) it: `JSON.stringify`, compact, UTF-8 as it is."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def order(
    event: str,
    order_status: str,
    click_id: str,
    order_id: str,
    *,
    payment_method: str = "credit_card",
    subscription_id: str | None = None,
) -> dict[str, Any]:
    """An order trigger as Kiwify posts it: the sample with this order, its state and the
    click id the checkout link's `sck` brought."""
    body = copy.deepcopy(ORDER_SAMPLE)
    paid = order_status in {"paid", "refunded", "chargedback"}
    body.update(
        order_id=order_id,
        order_status=order_status,
        webhook_event_type=event,
        payment_method=payment_method,
        approved_date="2026-06-08 15:45" if paid else None,
        refunded_at="2026-06-10 09:12" if order_status == "refunded" else None,
    )
    if payment_method != "boleto":
        body.update(boleto_URL=None, boleto_barcode=None, boleto_expiry_date=None)
    body["TrackingParameters"]["sck"] = click_id
    if subscription_id is not None:
        body["Subscription"] = {
            "id": subscription_id,
            "start_date": "2026-06-05T15:42:55.415Z",
            "next_payment": "2026-07-05T15:42:55.415Z",
            "status": "active",
            "plan": {"id": "ec2d9d36-23f2-41d0-a8de-b6e794d2a3db", "name": "Example plan"},
        }
        body["subscription_id"] = subscription_id
    return body


def billet_created(click_id: str, order_id: str) -> dict[str, Any]:
    return order("billet_created", "waiting_payment", click_id, order_id, payment_method="boleto")


def pix_created(click_id: str, order_id: str) -> dict[str, Any]:
    return order("pix_created", "waiting_payment", click_id, order_id, payment_method="pix")


def approved(click_id: str, order_id: str, subscription_id: str | None = None) -> dict[str, Any]:
    return order("order_approved", "paid", click_id, order_id, subscription_id=subscription_id)


def rejected(click_id: str, order_id: str) -> dict[str, Any]:
    body = order("order_rejected", "refused", click_id, order_id)
    body["card_rejection_reason"] = "insufficient_funds"
    return body


def refunded(click_id: str, order_id: str) -> dict[str, Any]:
    return order("order_refunded", "refunded", click_id, order_id)


def chargeback(click_id: str, order_id: str) -> dict[str, Any]:
    return order("chargeback", "chargedback", click_id, order_id)


def subscription_renewed(click_id: str, order_id: str, subscription_id: str) -> dict[str, Any]:
    """The renewal's own (new) order, paid, sent with the subscription trigger."""
    return order(
        "subscription_renewed", "paid", click_id, order_id, subscription_id=subscription_id
    )


def subscription_late(click_id: str, order_id: str, subscription_id: str) -> dict[str, Any]:
    body = order(
        "subscription_late", "refused", click_id, order_id, subscription_id=subscription_id
    )
    body["Subscription"]["status"] = "waiting_payment"
    return body


def subscription_canceled(click_id: str, order_id: str, subscription_id: str) -> dict[str, Any]:
    body = order(
        "subscription_canceled", "paid", click_id, order_id, subscription_id=subscription_id
    )
    body["Subscription"]["status"] = "canceled"
    return body


def abandoned_cart() -> dict[str, Any]:
    """The cart trigger's own body: the lead and the product, no order, no tracking."""
    return {
        "checkout_link": "IDhfYNV",
        "country": "br",
        "cpf": "30574187242",
        "created_at": "2026-06-05T15:44:25.411Z",
        "email": "johndoe@example.com",
        "id": "c6euk9v1lfj9jqxhfs",
        "name": "John Doe",
        "offer_name": None,
        "phone": "(10) 5467-4999",
        "product_id": "0f3bf47c-6011-4ea4-8aeb-0e7d744f4acc",
        "product_name": "Example product",
        "status": "abandoned",
        "store_id": "Q33AnzwYbfkFFwS",
        "subscription_plan": "Example subscription",
    }
