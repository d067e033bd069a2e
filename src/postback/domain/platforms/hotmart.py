"""Hotmart: its webhook as the producer sets it up in Hotmart (Tools > Webhook), version
2.0.0 (a JSON POST), and the older form-encoded postback ("1.0.0") still sent by
configurations made with it.

Hotmart proves a call with the account's Hottok, sent as it is: in the `X-HOTMART-HOTTOK`
header and as the `hottok` field of the body (JSON or form). There is no signature.

Where the click id travels: the checkout link's `sck`, `src` or `xcod` parameters come
back in `data.purchase.origin` (2.0.0) or as `sck`, `src`, `xcod` fields (1.0.0); a
payment link's own `sck` comes back in `data.purchase.sckPaymentLink`. The affiliate's
destination is then e.g. `https://pay.hotmart.com/X00000000X?sck={click_id}`.

Each subscription charge is a purchase with its own transaction code
(`data.purchase.recurrence_number` counts them): a renewal is a new sale. The
subscription and member-area events carry no transaction and say nothing about an
order's money, and an abandoned cart carries neither a click id nor a transaction
(https://developers.hotmart.com/docs/en/2.0.0/webhook/cart-abandonment-webhook/): all
of them are acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from postback.domain.templates import ADVERTISER, CLICK, SECRET, IncomingTemplate, PartnerAuth

SOURCES: Final = (
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/purchase-webhook/",
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/cart-abandonment-webhook/",
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/cancel-subscription-webhook/",
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/switch-plan-webhook/",
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/update-subscription-charge-date/",
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/club-first-access/",
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/club-module-completed/",
    "https://developers.hotmart.com/docs/en/2.0.0/webhook/order-fulfillment-webhook/",
    "https://developers.hotmart.com/docs/en/1.0.0/webhook/using-webhook/",
    "https://developers.hotmart.com/docs/en/1.0.0/webhook/http-response-codes-webhook/",
    "https://help.hotmart.com/en/article/360001491352/how-do-i-set-up-my-product-s-api-using-the-webhook-postback-",
)

# The PURCHASE_APPROVED sample of the 2.0.0 documentation (SOURCES[0]), as Hotmart's
# "send test" delivers it (with the `hottok` field, e.g.
# github.com/michael-lourenco/controle-de-eventos documentacao/payloads-webhook.md),
# with the click id where a checkout link's `sck` comes back.
EXAMPLE: Final[Mapping[str, Any]] = {
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
            "original_offer_price": {"value": 1500, "currency_value": "BRL"},
            "order_date": 1511783344000,
            "status": "APPROVED",
            "transaction": "HP16015479281022",
            "payment": {"installments_number": 12, "type": "CREDIT_CARD"},
            "offer": {"code": "test", "coupon_code": "SHHUHA"},
            "origin": {"sck": CLICK},
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
    "hottok": SECRET,
}

# Each key: the 2.0.0 JSON path first, then the 1.0.0 form field of the same thing.
FIELD_MAP: Final[Mapping[str, str]] = {
    (
        "data.purchase.origin.sck|data.purchase.origin.src|data.purchase.origin.xcod"
        "|data.purchase.sckPaymentLink|sck|src|xcod"
    ): "click_id",
    "data.purchase.transaction|transaction": "txid",
    # 1.0.0 has no event name: its `status` says what happened.
    "event|status": "event",
    "data.purchase.status|status": "status",
    "data.purchase.price.value|price": "revenue,attr.order_total",
    "data.purchase.price.currency_value|currency": "currency",
    "data.buyer.email|email": "attr.email",
    "data.buyer.name|name": "attr.customer_name",
    "data.buyer.checkout_phone|phone_number": "attr.phone",
    "data.product.name|prod_name": "attr.product",
    "data.product.id|prod": "attr.product_id",
    "data.purchase.offer.code|off": "attr.offer_code",
    "data.purchase.payment.type|payment_type": "attr.payment_type",
    "data.purchase.recurrence_number|recurrency": "attr.recurrence_number",
    "data.subscription.subscriber.code|subscriber_code": "attr.subscriber_code",
}

EVENT_MAP: Final[Mapping[str, str]] = {
    # 2.0.0 events.
    "PURCHASE_OUT_OF_SHOPPING_CART": "ignore",
    "PURCHASE_BILLET_PRINTED": "awaiting_payment",
    "PURCHASE_DELAYED": "awaiting_payment",
    "PURCHASE_APPROVED": "approved",
    # The warranty period is over: the sale can no longer be refunded by the buyer.
    "PURCHASE_COMPLETE": "completed",
    # The buyer asked for a refund or disputed the charge; nothing is reversed yet.
    "PURCHASE_PROTEST": "disputed",
    "PURCHASE_CANCELED": "canceled",
    "PURCHASE_EXPIRED": "canceled",
    "PURCHASE_REFUNDED": "refunded",
    "PURCHASE_CHARGEBACK": "chargeback",
    "SUBSCRIPTION_CANCELLATION": "ignore",
    "SWITCH_PLAN": "ignore",
    "UPDATE_SUBSCRIPTION_CHARGE_DATE": "ignore",
    "CLUB_FIRST_ACCESS": "ignore",
    "CLUB_MODULE_COMPLETED": "ignore",
    # Physical products' logistics; its payload is not published in full, so nothing
    # says it brings the click id.
    "ORDER_FULFILLMENT": "ignore",
    # 1.0.0 `status` values.
    "approved": "approved",
    "completed": "completed",
    "billet_printed": "awaiting_payment",
    "wayting_payment": "awaiting_payment",
    "started": "awaiting_payment",
    "under_analisys": "awaiting_payment",
    "delayed": "awaiting_payment",
    "dispute": "disputed",
    "protested": "disputed",
    "canceled": "canceled",
    "expired": "canceled",
    "blocked": "canceled",
    "refunded": "refunded",
    "chargeback": "chargeback",
}

# Purchase statuses (2.0.0 `data.purchase.status`, 1.0.0 `status`; compared lower-cased):
# used only where an offer declares lifecycle events without the one an event maps to.
STATUS_MAP: Final[Mapping[str, str]] = {
    "approved": "approved",
    "complete": "approved",
    "completed": "approved",
    "dispute": "approved",
    "protested": "approved",
    "billet_printed": "pending",
    "printed_billet": "pending",
    "waiting_payment": "pending",
    "wayting_payment": "pending",
    "started": "pending",
    "under_analisys": "pending",
    "processing_transaction": "pending",
    "pre_order": "pending",
    "overdue": "pending",
    "delayed": "pending",
    "canceled": "rejected",
    "cancelled": "rejected",
    "expired": "rejected",
    "blocked": "rejected",
    "no_funds": "rejected",
    "refunded": "refunded",
    "partially_refunded": "refunded",
    "chargeback": "chargeback",
}

TEMPLATE: Final = IncomingTemplate(
    name="hotmart",
    title="Hotmart webhook (2.0.0 JSON, or the 1.0.0 form post)",
    query="",
    field_map=FIELD_MAP,
    status_map=STATUS_MAP,
    event_map=EVENT_MAP,
    transport="json",
    example_query={"adv_id": ADVERTISER},
    example_body=EXAMPLE,
    auth=PartnerAuth(label="Hottok", headers=("x-hotmart-hottok",), fields=("hottok",)),
    sources=SOURCES,
)
