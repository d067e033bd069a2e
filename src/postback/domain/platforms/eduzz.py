"""Eduzz: its webhook (Developer Hub, JSON signed in `x-signature`), and the two older
formats Eduzz accounts may still post: the producer's webhook of flat `trans_*` fields
(deprecated by Eduzz) and the affiliate postback of `TRACKER.*` events.

The Developer Hub webhook is what Eduzz tells producers to use: a JSON `{id, event,
sentDate, data}` whose `x-signature` header is the hex HMAC-SHA256 of the raw body keyed
with the secret chosen for that webhook; `event` is `myeduzz.invoice_paid` and so on, the
invoice is `data.id`, its total `data.price`. The checkout's `trk` code comes back in
`data.tracker.code1` (`tracker_trk` in the old webhook). One template reads all three:
each format's names are alternatives in the field map, and the advertiser's secret is the
one its own format proves (the webhook's signing secret, the old webhook's origin key, or
the API key the affiliate postback sends in `X-EduzzApi`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from postback.domain.templates import ADVERTISER, CLICK, IncomingTemplate, PartnerAuth

SOURCES: Final = (
    # Developer Hub webhook: envelope, events, payloads, x-signature.
    "https://developers.eduzz.com/",
    "https://github.com/eduzz/eduzz-webhook-docs",
    "https://github.com/eduzz/eduzz-webhook-docs/blob/master/events/myeduzz/invoice_paid.md",
    "https://developers.eduzz.com/reference/webhook/myeduzz-invoice-negotiated",
    "https://developers.eduzz.com/reference/webhook/myeduzz-contract-pix-attempted",
    # The older producer webhook (trans_* fields, origin key), marked obsolete by Eduzz.
    "https://github.com/eduzz/webhook",
    "https://github.com/eduzz/webhook/blob/master/campos-fatura.md",
    # The affiliate postback (TRACKER.* events, X-EduzzApi header), as republished.
    "https://github.com/ziel-17/postback-eduzz",
)

# An invoice paid, as the Developer Hub documents it (invoice_paid.md above, its
# personal data made up). `tracker.code1` is where public integrations of the webhook
# read the checkout's `trk` code; the documented sample shows only `utm`.
EXAMPLE: Final[Mapping[str, Any]] = {
    "id": "g90wu09uwge",
    "event": "myeduzz.invoice_paid",
    "sentDate": "2024-01-09T14:45:00.000Z",
    "data": {
        "id": "12345678",
        "status": "paid",
        "producer": {"id": "123456", "email": "produtor@example.com", "name": "Produtor"},
        "affiliate": {"id": "987654", "name": "Afiliado", "email": "afiliado@example.com"},
        "utm": {"source": "abc", "campaign": "def", "content": "ghi", "medium": "jkl"},
        "tracker": {"code1": CLICK, "code2": "", "code3": ""},
        "buyer": {
            "name": "Alice Exemplo",
            "email": "alice@example.com",
            "phone": "5511999990000",
            "phone2": "",
            "cellphone": "5511999990000",
        },
        "createdAt": "2024-01-09T14:45:00.000Z",
        "price": {"currency": "BRL", "value": 301.5},
        "paymentMethod": "creditCard",
        "installments": 1,
        "items": [
            {
                "productId": "P567",
                "name": "Widget X",
                "refundPeriod": {"durationType": "days", "value": 7},
                "price": {"currency": "BRL", "value": 150.75},
            },
            {
                "productId": "P789",
                "name": "Gadget Y",
                "refundPeriod": {"durationType": "days", "value": 7},
                "price": {"currency": "BRL", "value": 150.75},
            },
        ],
    },
}

# Developer Hub events (`event`).
HUB_EVENTS: Final[Mapping[str, str]] = {
    "myeduzz.invoice_opened": "awaiting_payment",  # created, awaiting payment
    "myeduzz.invoice_waiting_payment": "awaiting_payment",
    "myeduzz.invoice_scheduled": "awaiting_payment",
    "myeduzz.invoice_recovering": "awaiting_payment",  # in sales recovery, still unpaid
    "myeduzz.invoice_overdue": "awaiting_payment",  # past due, may still be paid
    "myeduzz.invoice_paid": "approved",
    "myeduzz.invoice_canceled": "canceled",
    "myeduzz.invoice_expired": "canceled",
    "myeduzz.invoice_refused": "canceled",  # card refused
    "myeduzz.invoice_waiting_refund": "disputed",  # refund approved, not yet paid back
    "myeduzz.invoice_negotiated": "disputed",  # "em disputa pelo cliente" (old table)
    "myeduzz.invoice_negotiatied": "disputed",  # the event name as the sample spells it
    "myeduzz.invoice_refunded": "refunded",
    "myeduzz.invoice_chargeback": "chargeback",  # sent by Eduzz, per public integrations
    "myeduzz.cart_abandonment": "checkout_abandoned",  # no invoice: identified by click
    # Subscription contracts and commissions: each charge comes as its own invoice.
    "myeduzz.contract_created": "ignore",
    "myeduzz.contract_updated": "ignore",
    "myeduzz.contract_card_attempted": "ignore",
    "myeduzz.contract_bankslip_attempted": "ignore",
    "myeduzz.contract_pix_attempted": "ignore",
    "myeduzz.contract_eduzz_balance_attempted": "ignore",
    "myeduzz.commission_processed": "ignore",
    # Sent when a webhook configuration is activated.
    "ping": "ignore",
}

# The older producer webhook (`event_name`); `type` says invoice, contract or abandonment.
WEBHOOK_EVENTS: Final[Mapping[str, str]] = {
    "invoice_open": "awaiting_payment",
    "invoice_processing": "awaiting_payment",
    "invoice_analysing": "awaiting_payment",
    "invoice_waiting_payment": "awaiting_payment",
    "invoice_scheduled": "awaiting_payment",
    "invoice_recovering": "awaiting_payment",
    "invoice_trial": "awaiting_payment",
    "invoice_overdue": "awaiting_payment",
    "invoice_paid": "approved",
    "invoice_canceled": "canceled",
    "invoice_duplicated": "canceled",
    "invoice_expired": "canceled",
    "invoice_deleted": "canceled",
    "invoice_refused": "canceled",
    "invoice_waiting_documents": "disputed",  # refund process waiting for documents
    "invoice_waiting_refund": "disputed",
    "invoice_negociated": "disputed",
    "invoice_refunded": "refunded",
    "cart_abandonment": "checkout_abandoned",
    "contract_up_to_date": "ignore",
    "contract_waiting_payment": "ignore",
    "contract_suspended": "ignore",
    "contract_canceled": "ignore",
    "contract_delayed": "ignore",
    "contract_finished": "ignore",
    "contract_trial": "ignore",
    "contract_overdue": "ignore",
    "contract_free": "ignore",
    "contract_next_charge": "ignore",
}

# The affiliate postback: the invoice's status code when there is an invoice, else its
# `event.action`. A checkout page loaded is no sale (TRACKER.CHECKOUT carries no invoice).
POSTBACK_EVENTS: Final[Mapping[str, str]] = {
    "1": "awaiting_payment",  # Aberta: boleto generated, or payment not yet authorised
    "3": "approved",  # Paga
    "4": "canceled",  # Cancelada
    "6": "disputed",  # Aguardando Reembolso
    "7": "refunded",  # Reembolsado
    "8": "awaiting_payment",  # Em Análise
    "9": "canceled",  # Duplicada (never charged)
    "10": "canceled",  # Expirada
    "11": "awaiting_payment",  # Em Recuperação
    "15": "awaiting_payment",  # Aguardando Pagamento
    "TRACKER.CHECKOUT": "ignore",
    "TRACKER.BOLETO": "awaiting_payment",
    "TRACKER.THANKYOU": "awaiting_payment",
}

TEMPLATE: Final = IncomingTemplate(
    name="eduzz",
    title="Eduzz webhook (Developer Hub, x-signature)",
    query="",
    transport="json",
    field_map={
        # Each key: the Hub's name, then the old webhook's, then the affiliate postback's.
        "data.tracker.code1|tracker_trk|data.utm.content|data.tracker.utmContent"
        "|tracker.utm_content|tracker_utm_content": "click_id",
        "data.id|trans_cod|invoice.id": "txid",
        "event|event_name|invoice.status|event.action": "event",
        "data.price.value|trans_value|invoice.value": "revenue,attr.order_total",
        "data.price.currency|trans_currency": "currency",
        "data.buyer.email|cus_email|customer.email": "attr.email",
        "data.buyer.name|cus_name|customer.name": "attr.customer_name",
        "data.buyer.cellphone|data.buyer.phone|cus_cel|cus_tel": "attr.phone",
        "data.items.0.name|product_name|product.name": "attr.product",
        "data.items.0.productId|product_cod|product.id": "attr.product_id",
        "data.paymentMethod|trans_paymentmethod|invoice.paymentmethod": "attr.payment_method",
        "data.contract.id|recurrence_cod": "attr.subscription_id",
    },
    event_map={**HUB_EVENTS, **WEBHOOK_EVENTS, **POSTBACK_EVENTS},
    example_query={"adv_id": ADVERTISER},
    example_body=EXAMPLE,
    auth=PartnerAuth(
        label="Webhook secret (Developer Hub), or origin key / API key of the older formats",
        headers=("x-eduzzapi",),
        # The older webhook names its origin key `origin` (README) or `origin_secret`
        # (its sample test event).
        fields=("origin", "origin_secret"),
        hmac_header="x-signature",
        digest="sha256",
    ),
    sources=SOURCES,
)
