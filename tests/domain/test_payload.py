"""What an outgoing postback says: event fields, macro values, the rendered request."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain.macros import NETWORK_MACROS, POSTBACK_MACROS
from postback.domain.payload import (
    FORM,
    JSON,
    dumps,
    event_fields,
    macro_values,
    render,
    without_empty_params,
)
from postback.domain.records import Click, Conversion, Offer, PostbackConfig

CLICK_AT = datetime(2024, 3, 1, 10, 0, 0, 250_000, tzinfo=UTC)
CONVERTED_AT = CLICK_AT + timedelta(seconds=125, microseconds=900_000)
NOW = datetime(2024, 3, 1, 10, 5, 0, tzinfo=UTC)

CLICK = Click(
    click_id="CLK_abc-123",
    offer_id=7,
    affiliate_id=3,
    subs=("s one", "a&b=c#d", None, "caf\u00e9", 'q"uote'),
    ip="203.0.113.9",
    user_agent="Mozilla/5.0 (X11; Linux)",
    referrer=None,
    country="DE",
    created_at=CLICK_AT,
)
OFFER = Offer(
    id=7,
    advertiser_id=2,
    name="Summer Sale & More",
    destination_url="https://adv.example/?c={click_id}",
    fallback_url=None,
    revenue=Decimal("10"),
    payout=Decimal("7.5"),
    currency="USD",
    status="active",
    created_at=CLICK_AT,
    updated_at=CLICK_AT,
)
CONVERSION = Conversion(
    id=42,
    click_id=CLICK.click_id,
    offer_id=7,
    affiliate_id=3,
    advertiser_id=2,
    event="sale",
    txid="TX 9",
    status="approved",
    revenue=Decimal("999999.9999"),
    payout=Decimal("0.0001"),
    currency="EUR",
    created_at=CONVERTED_AT,
    updated_at=CONVERTED_AT,
)


def config(**changes: object) -> PostbackConfig:
    base = PostbackConfig(
        id=1,
        affiliate_id=3,
        offer_id=None,
        url="https://aff.example/pb?cid={click_id}&p={payout}&s1={sub1}&s2={sub2}",
        method="GET",
        body=None,
        content_type=JSON,
        events=("*",),
        statuses=("approved",),
        active=True,
        secret="whsec_dGVzdA==",
        created_at=CLICK_AT,
        updated_at=CLICK_AT,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_affiliate_fields_have_no_revenue_or_profit() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    assert "revenue" not in fields
    assert "profit" not in fields
    # `sale_amount` only when the platform reported the order's total.
    assert set(fields) == set(POSTBACK_MACROS) - {"sale_amount"}


def test_network_fields_have_revenue_and_profit() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=True)
    assert set(fields) == set(NETWORK_MACROS) - {"sale_amount"}
    assert fields["revenue"] == Decimal("999999.9999")
    assert fields["profit"] == Decimal("999999.9998")
    assert isinstance(fields["profit"], Decimal)


def test_field_values() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    assert fields["click_id"] == "CLK_abc-123"
    assert fields["conversion_id"] == 42
    assert fields["txid"] == "TX 9"
    assert fields["offer_id"] == 7
    assert fields["offer_name"] == "Summer Sale & More"
    assert fields["aff_id"] == fields["affiliate_id"] == 3
    assert [fields[f"sub{i}"] for i in range(1, 6)] == [
        "s one",
        "a&b=c#d",
        "",
        "caf\u00e9",
        'q"uote',
    ]
    assert fields["event"] == "sale"
    assert fields["status"] == "approved"
    assert fields["payout"] == Decimal("0.0001")  # the conversion's, not the offer's
    assert fields["currency"] == "EUR"
    assert fields["ip"] == "203.0.113.9"
    assert fields["user_agent"] == "Mozilla/5.0 (X11; Linux)"
    assert fields["country"] == "DE"
    assert fields["click_time"] == "2024-03-01T10:00:00Z"
    assert fields["conversion_time"] == "2024-03-01T10:02:06Z"
    assert fields["timestamp"] == int(NOW.timestamp())
    assert fields["ctit"] == 125


def test_missing_optional_values_are_empty_text() -> None:
    bare = replace(CLICK, subs=(None,) * 5, ip=None, user_agent=None, country=None)
    fields = event_fields(replace(CONVERSION, txid=None), bare, OFFER, NOW, network=False)
    for name in ("txid", "sub1", "sub5", "ip", "user_agent", "country"):
        assert fields[name] == "", name


def test_ctit_is_never_negative() -> None:
    early = replace(CONVERSION, created_at=CLICK_AT - timedelta(seconds=30))
    assert event_fields(early, CLICK, OFFER, NOW, network=False)["ctit"] == 0


def test_macro_values_are_text_with_exact_money() -> None:
    values = macro_values(event_fields(CONVERSION, CLICK, OFFER, NOW, network=True))
    assert all(isinstance(v, str) for v in values.values())
    assert values["payout"] == "0.0001"
    assert values["revenue"] == "999999.9999"
    assert values["profit"] == "999999.9998"
    assert values["conversion_id"] == "42"
    assert values["ctit"] == "125"


def test_render_get_url() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    request = render(config(), fields)
    assert request.method == "GET"
    assert request.body is None
    assert request.content_type is None
    query = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
    assert query == {"cid": ["CLK_abc-123"], "p": ["0.0001"], "s1": ["s one"], "s2": ["a&b=c#d"]}
    assert urlsplit(request.url).fragment == ""
    assert "%20" in request.url  # a space in a URL is %20


def test_render_get_ignores_a_body_template() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    request = render(config(body='{"x":"{click_id}"}'), fields)
    assert request.body is None


def test_affiliate_revenue_macros_expand_to_nothing() -> None:
    # Saving such a config is refused; if one slipped through, nothing leaks.
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    request = render(config(url="https://aff.example/?r={revenue}&pr={profit}"), fields)
    assert request.url == "https://aff.example/?r=&pr="


def test_render_network_url_has_revenue() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=True)
    request = render(config(affiliate_id=None, url="https://n.example/?r={revenue}"), fields)
    assert request.url == "https://n.example/?r=999999.9999"


def test_render_post_json_template() -> None:
    template = (
        '{"click":"{click_id}","amount":{payout},"subs":["{sub1}","{sub2}","{sub4}","{sub5}"],'
        '"meta":{"ua":"{user_agent}","n":{conversion_id}}}'
    )
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    request = render(config(method="POST", body=template, content_type=JSON), fields)
    assert request.method == "POST"
    assert request.content_type == JSON
    assert request.url.startswith("https://aff.example/pb?cid=CLK_abc-123")
    assert request.body is not None
    data = json.loads(request.body, parse_float=Decimal)
    assert data == {
        "click": "CLK_abc-123",
        "amount": Decimal("0.0001"),
        "subs": ["s one", "a&b=c#d", "caf\u00e9", 'q"uote'],
        "meta": {"ua": "Mozilla/5.0 (X11; Linux)", "n": 42},
    }


def test_render_post_json_default_body_is_the_full_event() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    request = render(config(method="POST", content_type=JSON), fields)
    assert request.content_type == JSON
    assert request.body is not None
    data = json.loads(request.body, parse_float=Decimal)
    assert set(data) == set(POSTBACK_MACROS) - {"sale_amount"}
    assert data["click_id"] == "CLK_abc-123"
    assert data["sub2"] == "a&b=c#d"
    assert data["conversion_id"] == 42
    assert data["ctit"] == 125


def test_default_json_body_money_is_exact_json_numbers() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=True)
    request = render(config(affiliate_id=None, method="POST", content_type=JSON), fields)
    assert request.body is not None
    assert '"payout":0.0001' in request.body
    assert '"revenue":999999.9999' in request.body
    assert '"profit":999999.9998' in request.body
    data = json.loads(request.body, parse_float=Decimal)
    assert data["payout"] == Decimal("0.0001")
    assert data["revenue"] == Decimal("999999.9999")
    assert data["profit"] == Decimal("999999.9998")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("7.5000"), "7.5"),
        (Decimal("3"), "3"),
        (Decimal("0"), "0"),
        (Decimal("1000000000000"), "1000000000000"),
        (Decimal("-2.25"), "-2.25"),
    ],
)
def test_dumps_writes_decimals_as_plain_numbers(amount: Decimal, text: str) -> None:
    assert dumps({"a": amount}) == b'{"a":' + text.encode() + b"}"


def test_dumps_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        dumps({"a": object()})


def test_render_post_form_template() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=False)
    template = "cid={click_id}&s2={sub2}&s5={sub5}&name={offer_name}"
    request = render(config(method="POST", body=template, content_type=FORM), fields)
    assert request.content_type == FORM
    assert request.body is not None
    assert parse_qs(request.body, keep_blank_values=True, strict_parsing=True) == {
        "cid": ["CLK_abc-123"],
        "s2": ["a&b=c#d"],
        "s5": ['q"uote'],
        "name": ["Summer Sale & More"],
    }


def test_render_post_form_default_body() -> None:
    fields = event_fields(CONVERSION, CLICK, OFFER, NOW, network=True)
    request = render(config(affiliate_id=None, method="POST", content_type=FORM), fields)
    assert request.content_type == FORM
    assert request.body is not None
    form = parse_qs(request.body, keep_blank_values=True)
    assert set(form) == set(NETWORK_MACROS) - {"sale_amount"}
    assert form["revenue"] == ["999999.9999"]
    assert form["payout"] == ["0.0001"]
    assert form["sub2"] == ["a&b=c#d"]
    assert form["sub3"] == [""]


SUB = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


@given(st.tuples(SUB, SUB, SUB, SUB, SUB))
def test_subs_survive_every_encoding(subs: tuple[str, str, str, str, str]) -> None:
    click = replace(CLICK, subs=subs)
    fields = event_fields(CONVERSION, click, OFFER, NOW, network=False)

    get = render(config(url="https://a.example/x/{sub1}?b={sub2}"), fields)
    path, query = urlsplit(get.url).path, urlsplit(get.url).query
    assert unquote(path.removeprefix("/x/")) == subs[0]
    assert parse_qs(query, keep_blank_values=True).get("b", [""]) == [subs[1]]

    body = '{"a":"{sub3}","b":["{sub4}"]}'
    posted = render(config(method="POST", body=body, content_type=JSON), fields)
    assert posted.body is not None
    assert json.loads(posted.body) == {"a": subs[2], "b": [subs[3]]}

    form = render(config(method="POST", body="e={sub5}", content_type=FORM), fields)
    assert form.body is not None
    assert parse_qs(form.body, keep_blank_values=True) == {"e": [subs[4]]}


def test_a_tracker_hears_its_own_status_words_and_no_empty_parameter() -> None:
    tracker = config(
        url="https://t.example/pb?subid={sub1}&status={status}&tid={txid}&amount={sale_amount}"
        "&s3={sub3}#frag",
        status_map={"approved": "sale", "refunded": "rejected"},
        omit_empty=True,
    )
    no_txid = replace(CONVERSION, txid=None, attributes={"order_total": "97.50"})
    fields = event_fields(no_txid, CLICK, OFFER, NOW, network=False)
    assert fields["sale_amount"] == "97.50"
    url = render(tracker, fields).url
    assert url == "https://t.example/pb?subid=s%20one&status=sale&amount=97.50#frag"
    refunded = replace(no_txid, status="refunded")
    assert (
        "status=rejected" in render(tracker, event_fields(refunded, CLICK, OFFER, NOW, False)).url
    )
    # A status the map does not name goes as it is; without omit_empty, `tid=` stays.
    pending = replace(CONVERSION, status="pending", txid=None)
    plain = replace(tracker, omit_empty=False)
    assert (
        "status=pending&tid=&amount=&"
        in render(plain, event_fields(pending, CLICK, OFFER, NOW, False)).url
    )


def test_without_empty_params_keeps_what_has_a_value() -> None:
    assert without_empty_params("https://a.example/") == "https://a.example/"
    assert without_empty_params("https://a.example/?a=&b=") == "https://a.example/"
    assert (
        without_empty_params("https://a.example/p?x=1&&flag&y=") == "https://a.example/p?x=1&flag"
    )
