"""Monetizze postbacks as the platform posts them: form-encoded, nested fields as PHP
bracket names (`venda[codigo]`, `comissoes[0][valor]`), and the whole postback once more
as JSON text in `json`.

Shapes and values follow the published sample payload and code tables of
https://github.com/Monetizze/ExemploPOSTCallback/pull/39 and the field comments of
https://github.com/Monetizze/ExemploPOSTCallback/blob/master/exemplo.php (tracking:
.../rastreio/exemplo.php); buyer data is made up. Monetizze has no chargeback event: a
disputed card sale is "Bloqueada" (5), then "Devolvida" (4) when the money goes back.
"""

from __future__ import annotations

import json
from typing import Any

PRODUCT = {
    "codigo": "145388",
    "chave": "4a920341e79639658c2459847e146da9",
    "nome": "Lift Detox Caps",
    "categoria": "Saúde, Bem-estar e Beleza",
}
BUYER = {
    "nome": "Maria Exemplo",
    "email": "maria@example.com",
    "data_nascimento": None,
    "cnpj_cpf": "00000000000",
    "telefone": "27999990000",
    "cep": "29830000",
    "endereco": "Rua Exemplo",
    "numero": "326",
    "complemento": "Casa",
    "bairro": "Centro",
    "cidade": "Nova Venécia",
    "estado": "ES",
    "pais": "BR",
}
# tipoEvento descriptions and venda[status] of each code, as the code tables give them.
EVENTS = {
    1: ("Aguardando pagamento", "Aguardando pagamento"),
    2: ("Finalizada / Aprovada", "Finalizada"),
    3: ("Cancelada", "Cancelada"),
    4: ("Devolvida (Reembolso)", "Devolvida"),
    5: ("Bloqueada", "Bloqueada"),
    6: ("Completa", "Completa"),
    7: ("Abandono de Checkout", "Abandono de Checkout"),
    101: ("Assinatura - Ativa", "Finalizada"),
    102: ("Assinatura - Inadimplente", "Aguardando pagamento"),
    103: ("Assinatura - Cancelada", "Cancelada"),
    104: ("Assinatura - Aguardando pagamento", "Aguardando pagamento"),
    120: ("Status do pedido - Rastreio", "Finalizada"),
}


def _form(prefix: str, value: Any, into: dict[str, str]) -> None:
    """PHP's http_build_query: nested keys in brackets, nulls left out, booleans as 0/1."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _form(f"{prefix}[{key}]" if prefix else str(key), inner, into)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _form(f"{prefix}[{index}]", inner, into)
    elif value is None:
        return
    elif isinstance(value, bool):
        into[prefix] = "1" if value else "0"
    else:
        into[prefix] = str(value)


def form_fields(payload: dict[str, Any]) -> dict[str, str]:
    """The form Monetizze posts for a payload: its fields, and all of it again in `json`."""
    fields: dict[str, str] = {}
    _form("", payload, fields)
    fields["json"] = json.dumps(payload, ensure_ascii=False)
    return fields


def payload(
    event: int,
    click_id: str,
    chave_unica: str,
    code: str | None,
    *,
    value: str = "157.00",
    payment: str = "Cartão de crédito",
) -> dict[str, Any]:
    """One postback of tipoEvento `event` for sale `code` (None: an abandoned checkout,
    which has no sale code)."""
    description, sale_status = EVENTS[event]
    sale: dict[str, Any] = {
        "codigo": code,
        "plano": "140235",
        "dataInicio": "2022-10-01 09:33:48",
        "dataFinalizada": "2022-10-01 09:33:53" if event in (2, 4, 5, 6, 101) else None,
        "meioPagamento": "Monetizze",
        "formaPagamento": payment,
        "garantiaRestante": 0,
        "status": sale_status,
        "codigo_status": event if event <= 6 else None,
        "valor": value,
        "quantidade": "1",
        "valorRecebido": "16.92",
        "onebuyclick": "0",
        "venda_upsell": None,
        "tipo_frete": "0",
        "descr_tipo_frete": "0",
        "frete": "0.00",
        "cupom": None,
        "src": click_id,
        "utm_source": "facebook",
        "utm_medium": "cpc",
        "utm_content": "",
        "utm_campaign": "lancamento",
        "linkBoleto": "",
        "linha_digitavel": "",
        "parcelas": "1",
    }
    if code is None:
        del sale["codigo"]
    body: dict[str, Any] = {
        "venda": sale,
        "chave_unica": chave_unica,
        "plano": {"codigo": "140235", "referencia": "FN140235", "nome": "3 potes"},
        "produto": PRODUCT,
        "comprador": BUYER,
        "tipoEvento": {"codigo": event, "descricao": description},
        "url_recuperacao": "https://app.monetizze.com.br/checkout/KAL215862/?rec=20fac2e7",
        "postback_evento": str(event),
        "tipoPostback": {"codigo": 2, "descricao": "Produtor"},
        "comissoes": [
            {
                "refAfiliado": "QU20076026",
                "nome": "Afiliado Exemplo",
                "email": "afiliado@example.com",
                "tipo_comissao": "Último Clique",
                "valor": "65.33",
                "porcentagem": "45.00000",
            }
        ],
        "produtor": {"cnpj_cpf": "00000000000191", "nome": "Produtor", "email": "p@example.com"},
        "order_bump": 0,
        "ecommerce": False,
    }
    if code is not None:
        body["codigo_venda"] = code
        if event <= 6:
            body["codigo_status"] = str(event)
    return body


def sale_approved(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 2: payment confirmed, the product can be delivered."""
    return form_fields(payload(2, click_id, chave_unica, code))


def billet_printed(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 1: a boleto printed, not paid yet (status "Aguardando pagamento")."""
    body = payload(1, click_id, chave_unica, code, payment="Boleto")
    body["venda"]["linkBoleto"] = "https://app.monetizze.com.br/boleto/exemplo"
    body["venda"]["linha_digitavel"] = "99999.99999 99999.999999 99999.99999 9 99999999999999"
    return form_fields(body)


def sale_complete(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 6: 30 days after approval, commissions available for withdrawal."""
    return form_fields(payload(6, click_id, chave_unica, code))


def sale_blocked(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 5: "Bloqueada", the sale is disputed."""
    return form_fields(payload(5, click_id, chave_unica, code))


def sale_refunded(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 4: "Devolvida", the buyer got the money back."""
    return form_fields(payload(4, click_id, chave_unica, code))


def sale_canceled(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 3: boleto not paid, or card refused."""
    return form_fields(payload(3, click_id, chave_unica, code, payment="Boleto"))


def checkout_abandoned(click_id: str, chave_unica: str) -> dict[str, str]:
    """tipoEvento 7: the buyer filled in the checkout and left; no sale code is sent."""
    return form_fields(payload(7, click_id, chave_unica, None))


def subscription_renewed(
    click_id: str, chave_unica: str, code: str, charge: int = 2
) -> dict[str, str]:
    """tipoEvento 101: a subscription's charge paid, a sale of its own with the
    subscription's data (`assinatura`)."""
    body = payload(101, click_id, chave_unica, code, value="49.90")
    body["assinatura"] = {
        "codigo": "1104370",
        "status": "Ativa",
        "data_assinatura": "2022-08-01 09:04:19",
        "parcela": str(charge),
    }
    body["plano"]["periodicidade"] = "Mensal"
    return form_fields(body)


def subscription_overdue(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 102: a subscription charge unpaid ("Inadimplente")."""
    body = payload(102, click_id, chave_unica, code, value="49.90", payment="Boleto")
    body["assinatura"] = {
        "codigo": "1104370",
        "status": "Inadimplente",
        "data_assinatura": "2022-08-01 09:04:19",
        "parcela": "3",
    }
    return form_fields(body)


def tracking_update(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """tipoEvento 120: the parcel's tracking status (2 Postado ... 6 Entregue)."""
    body = payload(120, click_id, chave_unica, code)
    body["rastreio"] = {"status": 2, "descricao": "Postado", "codigo": "PQ907915688BR"}
    return form_fields(body)


def unknown_event(click_id: str, chave_unica: str, code: str) -> dict[str, str]:
    """A tipoEvento code the published tables do not list."""
    fields = sale_approved(click_id, chave_unica, code)
    for name in ("tipoEvento[codigo]", "postback_evento", "codigo_status"):
        fields[name] = "77"
    return fields
