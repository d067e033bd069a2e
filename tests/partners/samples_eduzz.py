"""Eduzz postbacks as the platform posts them, in its three published formats.

- The Developer Hub webhook (what Eduzz tells producers to use): JSON `{id, event,
  sentDate, data}`, signed in `x-signature` = hex HMAC-SHA256 of the raw body. Payloads
  follow https://github.com/eduzz/eduzz-webhook-docs/tree/master/events/myeduzz
  (invoice_opened, invoice_paid, invoice_waiting_refund, invoice_refunded ...) and, for
  the cart abandonment Eduzz documented then withdrew, the file's history
  (https://github.com/eduzz/eduzz-webhook-docs/commits/master/events/myeduzz/cart_abandonment.md).
  `data.tracker.code1` (the checkout's `trk`), `data.contract` and
  `myeduzz.invoice_chargeback` are what public integrations of the webhook read; the
  documented samples do not show them.
- The older producer webhook, form-encoded flat fields (`trans_cod`, `trans_status`,
  `event_name`, `origin`): https://github.com/eduzz/webhook/blob/master/campos-fatura.md.
- The affiliate postback, form-encoded dotted names (`event.action=TRACKER.CHECKOUT`),
  the API key in the `X-EduzzApi` header: the raw body sample of
  https://github.com/ziel-17/postback-eduzz (a copy of Eduzz's deveduzz/postback-eduzz).

Buyer data is made up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

BUYER = {
    "name": "Alice Exemplo",
    "email": "alice@example.com",
    "phone": "5511999990000",
    "phone2": "",
    "cellphone": "5511988880000",
}
PRODUCER = {"id": "123456", "email": "produtor@example.com", "name": "Produtor"}
ITEMS = [
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
]
# The invoice's `data.status` for each event, as the samples give it.
STATUSES = {
    "myeduzz.invoice_opened": "open",
    "myeduzz.invoice_waiting_payment": "waitingPayment",
    "myeduzz.invoice_paid": "paid",
    "myeduzz.invoice_canceled": "canceled",
    "myeduzz.invoice_expired": "expired",
    "myeduzz.invoice_waiting_refund": "waiting_refund",
    "myeduzz.invoice_refunded": "refunded",
    "myeduzz.invoice_chargeback": "chargeback",
}


def signed(body: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw JSON Eduzz posts and its headers: `x-signature` signs those exact bytes."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"content-type": "application/json", "x-signature": signature}


def invoice(
    event: str,
    click_id: str,
    invoice_id: str,
    *,
    value: float = 301.5,
    payment: str = "creditCard",
    contract_id: str | None = None,
) -> dict[str, Any]:
    """A Developer Hub invoice event (`myeduzz.invoice_*`) for invoice `invoice_id`."""
    data: dict[str, Any] = {
        "id": invoice_id,
        "status": STATUSES[event],
        "producer": PRODUCER,
        "affiliate": {"id": "987654", "name": "Afiliado", "email": "afiliado@example.com"},
        "utm": {"source": "facebook", "campaign": "lancamento", "content": "", "medium": "cpc"},
        "tracker": {"code1": click_id, "code2": "", "code3": ""},
        "buyer": BUYER,
        "createdAt": "2024-01-09T14:45:00.000Z",
        "price": {"currency": "BRL", "value": value},
        "paymentMethod": payment,
        "installments": 1,
        "items": ITEMS,
    }
    if event == "myeduzz.invoice_refunded":
        data["refundedAt"] = "2024-01-15T17:45:00.000Z"
    if contract_id is not None:
        data["contract"] = {"id": contract_id}
    return {
        "id": f"evt-{event}-{invoice_id}",
        "event": event,
        "sentDate": "2024-01-09",
        "data": data,
    }


def billet_printed(click_id: str, invoice_id: str) -> dict[str, Any]:
    """myeduzz.invoice_opened: the invoice created (boleto generated), awaiting payment."""
    return invoice("myeduzz.invoice_opened", click_id, invoice_id, payment="bankslip")


def sale_approved(click_id: str, invoice_id: str) -> dict[str, Any]:
    return invoice("myeduzz.invoice_paid", click_id, invoice_id)


def refund_requested(click_id: str, invoice_id: str) -> dict[str, Any]:
    """myeduzz.invoice_waiting_refund: the refund approved, the money not back yet."""
    return invoice("myeduzz.invoice_waiting_refund", click_id, invoice_id)


def refunded(click_id: str, invoice_id: str) -> dict[str, Any]:
    return invoice("myeduzz.invoice_refunded", click_id, invoice_id)


def chargeback(click_id: str, invoice_id: str) -> dict[str, Any]:
    return invoice("myeduzz.invoice_chargeback", click_id, invoice_id)


def canceled(click_id: str, invoice_id: str) -> dict[str, Any]:
    return invoice("myeduzz.invoice_canceled", click_id, invoice_id, payment="bankslip")


def subscription_renewed(click_id: str, invoice_id: str, contract_id: str) -> dict[str, Any]:
    """A subscription's next charge: an invoice of its own, paid, with its contract."""
    return invoice(
        "myeduzz.invoice_paid", click_id, invoice_id, value=49.9, contract_id=contract_id
    )


def contract_updated(contract_id: str) -> dict[str, Any]:
    """myeduzz.contract_updated: a subscription's contract, no invoice, no tracker."""
    return {
        "id": f"evt-contract-{contract_id}",
        "event": "myeduzz.contract_updated",
        "sentDate": "2024-01-15T15:00:00.000Z",
        "data": {
            "producer": PRODUCER,
            "contract": {"id": contract_id, "status": "upToDate"},
            "customer": {"name": BUYER["name"], "email": BUYER["email"]},
        },
    }


def cart_abandoned(click_id: str) -> dict[str, Any]:
    """myeduzz.cart_abandonment as documented in February 2024: no invoice id, the
    tracking in `data.tracker.utm*` (the click id here in utmContent)."""
    return {
        "id": "evt-cart",
        "event": "myeduzz.cart_abandonment",
        "sentDate": "2024-01-09T14:45:00.000Z",
        "data": {
            "status": "abandoned",
            "buyer": {k: BUYER[k] for k in ("name", "email", "phone")},
            "createdAt": "2024-01-09T14:45:00.000Z",
            "price": {"currency": "BRL", "value": 301.5},
            "items": ITEMS,
            "tracker": {
                "utmMedium": "cpc",
                "utmSource": "facebook",
                "utmCampaign": "lancamento",
                "utmContent": click_id,
            },
        },
    }


def ping() -> dict[str, Any]:
    """What Eduzz sends when a webhook configuration is activated (its docs call it a
    "ping"; no payload is published)."""
    return {"id": "evt-ping", "event": "ping", "sentDate": "2024-01-09T14:45:00.000Z", "data": {}}


def unknown_event(click_id: str, invoice_id: str) -> dict[str, Any]:
    """An event of another Eduzz application the map does not name."""
    body = sale_approved(click_id, invoice_id)
    body["event"] = "nutror.lesson_watched"
    return body


def tracker_checkout(click_id: str) -> dict[str, str]:
    """The affiliate postback's TRACKER.CHECKOUT (a checkout page loaded): the published
    raw body, with the click id in utm_content. No invoice."""
    return {
        "cart.datetime": "2016-10-26 23:11:14",
        "cart.key": "000000-WJWUPJ-ZFZVIP-GBN9Y7",
        "event.action": "TRACKER.CHECKOUT",
        "event.datetime": "2016-10-26 23:12:01",
        "request.datetime": "2016-10-26 23:12:42",
        "request.id": "EDZ45PB",
        "request.queue": "b12962c493c3cafe6db4039515a6c0c7",
        "request.tries": "1",
        "request.type": "TRACKER.CHECKOUT",
        "tracker.funnelkey": "KKAAM",
        "tracker.ip": "177.43.204.90",
        "tracker.utm_campaign": "TESTE_TRACKER2",
        "tracker.utm_content": click_id,
        "tracker.utm_medium": "TESTE_TRACKER2",
        "tracker.utm_source": "TESTE_TRACKER",
    }


def tracker_with_invoice(
    click_id: str, action: str, invoice_id: str, invoice_status: int
) -> dict[str, str]:
    """TRACKER.BOLETO (a boleto viewed) or TRACKER.THANKYOU (the thank-you page), with
    the invoice's fields the postback documents."""
    fields = tracker_checkout(click_id)
    fields.update(
        {
            "event.action": action,
            "request.type": action,
            "invoice.id": invoice_id,
            "invoice.value": "97.00",
            "invoice.status": str(invoice_status),
            "invoice.paymentmethod": "1" if action == "TRACKER.BOLETO" else "15",
            "invoice.datetime": "2016-10-26 23:15:00",
            "product.id": "1234",
            "product.name": "Curso Exemplo",
            "customer.id": "555",
            "customer.name": BUYER["name"],
            "customer.email": BUYER["email"],
        }
    )
    return fields


def legacy_invoice(
    click_id: str, origin: str, trans_cod: str, event_name: str, trans_status: int
) -> dict[str, str]:
    """The older producer webhook, form-encoded: an invoice's flat `trans_*` fields, its
    `type` and `event_name`, and the account's origin key in `origin`."""
    return {
        "type": "invoice",
        "event_name": event_name,
        "origin": origin,
        "trans_cod": trans_cod,
        "trans_value": "97.00",
        "trans_paid": "97.00",
        "trans_currency": "BRL",
        "trans_status": str(trans_status),
        "trans_paymentmethod": "13",
        "trans_createdate": "20240109",
        "trans_createtime": "14:45:00",
        "product_cod": "1234",
        "product_name": "Curso Exemplo",
        "cus_cod": "555",
        "cus_name": BUYER["name"],
        "cus_email": BUYER["email"],
        "cus_cel": BUYER["cellphone"],
        "tracker_trk": click_id,
        "tracker_utm_source": "facebook",
    }
