"""Monetizze: its server-to-server postback (Ferramentas > Postback), a form-encoded POST.

Monetizze posts what its PHP sample reads as `$_POST['venda']['codigo']`: nested fields
as bracket names (`venda[codigo]`, `tipoEvento[codigo]`, `comissoes[0][valor]`), plus
`chave_unica`, the producer's key shown on Ferramentas > Postback, which proves the post.
The event is `tipoEvento[codigo]` (also sent as `postback_evento`, and for a sale's status
as `codigo_status`), one numbering for all three. An abandoned checkout (7) carries no
`venda[codigo]`. The tracking link's `src` comes back in `venda[src]`; no currency is
sent, the amounts are in reais.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from postback.domain.templates import ADVERTISER, CLICK, SECRET, IncomingTemplate, PartnerAuth

SOURCES: Final = (
    # The platform's own PHP sample of the postback: fields, event codes, status meanings.
    "https://github.com/Monetizze/ExemploPOSTCallback/blob/master/exemplo.php",
    # Its tracking-status postback (tipoEvento 120).
    "https://github.com/Monetizze/ExemploPOSTCallback/blob/master/rastreio/exemplo.php",
    # A published sample payload with every field and code table (pull request 39).
    "https://github.com/Monetizze/ExemploPOSTCallback/pull/39",
    # Where the producer sets the URL (Ferramentas > Postback > Server to Server).
    "https://github.com/Monetizze/ExemploPOSTCallback/blob/master/README.md",
    "https://help.monetizze.com.br/books/gestao-da-venda-esf/export/html",
)

# A sale approved (tipoEvento 2), in the field names and shapes of the published sample
# payload (pull request 39 above); buyer and producer data are made up. Monetizze also
# sends the whole postback once more as JSON text in `json`, left out here.
EXAMPLE: Final[Mapping[str, str]] = {
    "chave_unica": SECRET,
    "postback_evento": "2",
    "codigo_venda": "41852883",
    "codigo_status": "2",
    "tipoEvento[codigo]": "2",
    "tipoEvento[descricao]": "Finalizada / Aprovada",
    "tipoPostback[codigo]": "2",
    "tipoPostback[descricao]": "Produtor",
    "venda[codigo]": "41852883",
    "venda[plano]": "140235",
    "venda[dataInicio]": "2022-10-01 09:33:48",
    "venda[dataFinalizada]": "2022-10-01 09:33:53",
    "venda[meioPagamento]": "Monetizze",
    "venda[formaPagamento]": "Cartão de crédito",
    "venda[garantiaRestante]": "0",
    "venda[status]": "Finalizada",
    "venda[valor]": "157.00",
    "venda[quantidade]": "1",
    "venda[valorRecebido]": "16.92",
    "venda[frete]": "0.00",
    "venda[src]": CLICK,
    "venda[utm_source]": "",
    "venda[utm_medium]": "",
    "venda[utm_content]": "",
    "venda[utm_campaign]": "",
    "venda[parcelas]": "2",
    "plano[codigo]": "140235",
    "plano[referencia]": "FN140235",
    "plano[nome]": "3 potes",
    "produto[codigo]": "145388",
    "produto[chave]": "4a920341e79639658c2459847e146da9",
    "produto[nome]": "Lift Detox Caps",
    "produto[categoria]": "Saúde, Bem-estar e Beleza",
    "comprador[nome]": "Maria Exemplo",
    "comprador[email]": "maria@example.com",
    "comprador[cnpj_cpf]": "00000000000",
    "comprador[telefone]": "27999990000",
    "comprador[pais]": "BR",
    "comissoes[0][refAfiliado]": "QU20076026",
    "comissoes[0][tipo_comissao]": "Último Clique",
    "comissoes[0][valor]": "65.33",
    "comissoes[0][porcentagem]": "45.00000",
    "order_bump": "0",
    "url_recuperacao": "https://app.monetizze.com.br/checkout/KAL215862/",
}

# tipoEvento codes (postback_evento and codigo_status use the same numbers).
EVENT_MAP: Final[Mapping[str, str]] = {
    "1": "awaiting_payment",  # Aguardando pagamento (boleto printed, pix generated)
    "2": "approved",  # Finalizada / Aprovada
    "3": "canceled",  # Cancelada: boleto unpaid or card refused
    "4": "refunded",  # Devolvida (Reembolso)
    "5": "disputed",  # Bloqueada: "venda em disputa"
    "6": "completed",  # Completa: past the guarantee, commissions released
    "7": "checkout_abandoned",  # Abandono de Checkout: no venda[codigo]
    "8": "ignore",  # Oculto: listed without a meaning
    "9": "disputed",  # Reembolso solicitado (as integrators quote apidoc): not refunded yet
    "98": "ignore",  # Cartão: listed without a meaning
    "99": "ignore",  # Boleto: listed without a meaning
    "101": "approved",  # Assinatura - Ativa: the subscription's charge is paid
    "102": "ignore",  # Assinatura - Inadimplente: a charge unpaid, nothing paid to count
    "103": "ignore",  # Assinatura - Cancelada: no further charges, paid ones stand
    "104": "awaiting_payment",  # Assinatura - Aguardando pagamento: a new charge
    "105": "approved",  # Recuperação Parcelada - Ativa: the recovered sale is being paid
    "106": "canceled",  # Recuperação Parcelada - Cancelada
    "120": "shipping_update",  # Status do pedido - Rastreio
}

TEMPLATE: Final = IncomingTemplate(
    name="monetizze",
    title="Monetizze postback (form-encoded, chave_unica)",
    # Monetizze sends no currency: its amounts are in reais.
    query="currency=BRL",
    transport="form",
    field_map={
        # `src` of the tracking link; utm_content for producers who tag it there. The
        # dotted names read the same postback when it comes as JSON.
        "venda[src]|venda.src|venda[utm_content]|venda.utm_content": "click_id",
        "venda[codigo]|codigo_venda|venda.codigo": "txid",
        "tipoEvento[codigo]|tipoEvento.codigo|postback_evento|codigo_status"
        "|venda[codigo_status]": "event",
        "venda[valor]|venda.valor": "revenue,attr.order_total",
        "comprador[email]|comprador.email": "attr.email",
        "comprador[nome]|comprador.nome": "attr.customer_name",
        "comprador[telefone]|comprador.telefone": "attr.phone",
        "produto[nome]|produto.nome": "attr.product",
        "produto[codigo]|produto.codigo": "attr.product_id",
        "venda[formaPagamento]|venda.formaPagamento": "attr.payment_method",
        "assinatura[codigo]|assinatura.codigo": "attr.subscription_id",
        "assinatura[parcela]|assinatura.parcela": "attr.subscription_charge",
        "rastreio[codigo]|rastreio.codigo": "attr.tracking_code",
        "rastreio[descricao]|rastreio.descricao": "attr.tracking_status",
    },
    event_map=EVENT_MAP,
    example_query={"adv_id": ADVERTISER},
    example_body=EXAMPLE,
    auth=PartnerAuth(label="Chave única (Ferramentas > Postback)", fields=("chave_unica",)),
    sources=SOURCES,
)
