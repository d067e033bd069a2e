"""Kiwify: its sales webhook as the producer sets it up in Kiwify (Apps > Webhooks), a
JSON POST for each trigger chosen there.

Kiwify proves a call by appending `signature` to our URL: the lower-case hex HMAC-SHA1 of
the raw request body (Kiwify's compact `JSON.stringify`, UTF-8), keyed with the token
shown in the webhook's settings. The token itself is never sent.

The click id travels in the checkout link's `sck` (or `src`) parameter, which comes back
in `TrackingParameters`; the affiliate's destination is then e.g.
`https://pay.kiwify.com.br/AbCdEfG?sck={click_id}`. Amounts (`Commissions.*`) are in
cents.

A subscription charge is an order of its own (new `order_id`, same `subscription_id`): a
renewal arrives as `order_approved` and `subscription_renewed` for the same new order,
the second one a duplicate. `subscription_late` and `subscription_canceled` come with
the subscription's latest order but say nothing new about its money (a refused charge
also comes as `order_rejected`): ignored. An abandoned cart has a payload of its own,
with `status: abandoned`, no order and no tracking parameters: ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from postback.domain.templates import ADVERTISER, CLICK, IncomingTemplate, PartnerAuth

SOURCES: Final = (
    "https://docs.kiwify.com.br/api-reference/webhooks/receiving",
    "https://docs.kiwify.com.br/api-reference/webhooks/subscription-events",
    "https://docs.kiwify.com.br/api-reference/webhooks/create",
    "https://github.com/LimaTeixeiraTecnologia/mecontrola/blob/main/internal/billing/"
    "infrastructure/http/server/middleware/hmac_signature_test.go",
)

# Kiwify's test delivery ("Example product", John Doe) as captured with its signature in
# SOURCES[3] (there a billet_created), as the order_approved of a paid card sale, with
# the click id where the checkout link's `sck` comes back.
EXAMPLE: Final[Mapping[str, Any]] = {
    "order_id": "ce936450-f853-4f66-9c72-03964fa436ea",
    "order_ref": "DxfWDlN",
    "order_status": "paid",
    "product_type": "membership",
    "payment_method": "credit_card",
    "store_id": "yOqrzDK1JFUIPlX",
    "payment_merchant_id": 19431960,
    "installments": 1,
    "card_type": "mastercard",
    "card_last4digits": "1115",
    "card_rejection_reason": None,
    "boleto_URL": None,
    "boleto_barcode": None,
    "boleto_expiry_date": None,
    "pix_code": None,
    "pix_expiration": None,
    "sale_type": "producer",
    "created_at": "2026-06-08 15:42",
    "updated_at": "2026-06-08 15:42",
    "approved_date": "2026-06-08 15:42",
    "refunded_at": None,
    "webhook_event_type": "order_approved",
    "Product": {
        "product_id": "d295c1f8-26ff-47de-9c72-bf73e6945cce",
        "product_name": "Example product",
    },
    "Customer": {
        "full_name": "John Doe",
        "first_name": "John",
        "email": "johndoe@example.com",
        "mobile": "+41945968750",
        "CPF": "45658495664",
        "ip": "82.253.125.70",
        "instagram": "@kiwify",
        "street": "Rua 1001",
        "number": "315",
        "complement": "SL 05",
        "neighborhood": "Centro",
        "city": "Balneário Camboriú",
        "state": "SC",
        "zipcode": "88330-756",
    },
    "Commissions": {
        "charge_amount": 1840,
        "product_base_price": 1840,
        "product_base_price_currency": "BRL",
        "kiwify_fee": 202,
        "kiwify_fee_currency": "BRL",
        "settlement_amount": 1840,
        "settlement_amount_currency": "BRL",
        "sale_tax_rate": 0,
        "sale_tax_amount": 0,
        "commissioned_stores": [
            {
                "id": "e79c4e6e-f7ae-4d8a-9cf3-4905928943d6",
                "type": "producer",
                "custom_name": "Example store",
                "email": "example@store.domain",
                "value": "1638",
            }
        ],
        "currency": "BRL",
        "my_commission": 1638,
        "funds_status": None,
        "estimated_deposit_date": None,
        "deposit_date": None,
    },
    "TrackingParameters": {
        "src": None,
        "sck": CLICK,
        "utm_source": "facebook",
        "utm_medium": None,
        "utm_campaign": None,
        "utm_content": None,
        "utm_term": None,
        "s1": None,
        "s2": None,
        "s3": None,
    },
}

FIELD_MAP: Final[Mapping[str, str]] = {
    "TrackingParameters.sck|TrackingParameters.src": "click_id",
    "order_id": "txid",
    # An abandoned cart has no webhook_event_type, only `status: abandoned`.
    "webhook_event_type|status": "event",
    "order_status": "status",
    # What the buyer was charged, in cents.
    "Commissions.charge_amount": "revenue,attr.order_total*0.01",
    "Commissions.currency|Commissions.product_base_price_currency": "currency",
    "Customer.email": "attr.email",
    "Customer.full_name": "attr.customer_name",
    "Customer.mobile": "attr.phone",
    "Product.product_name": "attr.product",
    "Product.product_id": "attr.product_id",
    "payment_method": "attr.payment_type",
    "subscription_id": "attr.subscription_id",
    "TrackingParameters.utm_source": "attr.utm_source",
    "TrackingParameters.utm_medium": "attr.utm_medium",
    "TrackingParameters.utm_campaign": "attr.utm_campaign",
    "TrackingParameters.utm_content": "attr.utm_content",
    "TrackingParameters.utm_term": "attr.utm_term",
}

EVENT_MAP: Final[Mapping[str, str]] = {
    "billet_created": "awaiting_payment",
    "pix_created": "awaiting_payment",
    "order_approved": "approved",
    # A card refused (the order stays unpaid; a new attempt is a new order).
    "order_rejected": "canceled",
    "order_refunded": "refunded",
    "chargeback": "chargeback",
    # The renewal's own order, paid.
    "subscription_renewed": "approved",
    "subscription_late": "ignore",
    "subscription_canceled": "ignore",
    # The abandoned cart's `status`.
    "abandoned": "ignore",
}

# `order_status` values: used only where an offer declares lifecycle events without the
# one an event maps to.
STATUS_MAP: Final[Mapping[str, str]] = {
    "paid": "approved",
    "waiting_payment": "pending",
    "refused": "rejected",
    "refunded": "refunded",
    "chargedback": "chargeback",
}

TEMPLATE: Final = IncomingTemplate(
    name="kiwify",
    title="Kiwify webhook (signed JSON)",
    query="",
    field_map=FIELD_MAP,
    status_map=STATUS_MAP,
    event_map=EVENT_MAP,
    transport="json",
    example_query={"adv_id": ADVERTISER},
    example_body=EXAMPLE,
    auth=PartnerAuth(label="Token", hmac_query="signature", digest="sha1"),
    sources=SOURCES,
)
