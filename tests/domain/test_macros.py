"""Macro templates: single-pass expansion, encoded for where each value stands."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain.macros import (
    CLICK_MACROS,
    NETWORK_MACROS,
    NETWORK_ONLY_MACROS,
    POSTBACK_MACROS,
    Encoding,
    expand,
    macro_names,
    unknown_macros,
)

TRICKY = [
    "plain",
    "two words",
    "a&b=c",
    "x#frag",
    "100%",
    "%41",
    "+plus+",
    'say "hi"',
    "it's",
    "back\\slash",
    "new\nline\ttab",
    "caf\u00e9 \u65e5\u672c \U0001f600",
    "{click_id}",
    "?q=1&r=2",
    "/path/seg",
    "",
]


def test_contract_macro_sets() -> None:
    # The contract's click macros and its click intelligence additions.
    visitor = {"country", "region", "city", "device", "os", "browser", "cost"}
    assert {"click_id", "offer_id", "aff_id", "sub1", "sub2", "sub3", "sub4", "sub5"} | visitor == (
        set(CLICK_MACROS)
    )
    assert set(POSTBACK_MACROS) == {
        "click_id",
        "conversion_id",
        "txid",
        "offer_id",
        "offer_name",
        "aff_id",
        "affiliate_id",
        "sub1",
        "sub2",
        "sub3",
        "sub4",
        "sub5",
        "event",
        "status",
        "payout",
        "currency",
        "ip",
        "user_agent",
        "country",
        "click_time",
        "conversion_time",
        "timestamp",
        "ctit",
        # Beyond the contract: the order total a sales platform reported.
        "sale_amount",
        *visitor,
    }
    assert set(NETWORK_ONLY_MACROS) == {"revenue", "profit"}
    assert set(NETWORK_MACROS) == set(POSTBACK_MACROS) | {"revenue", "profit"}
    assert not NETWORK_ONLY_MACROS & POSTBACK_MACROS


@pytest.mark.parametrize("value", TRICKY)
def test_url_encoding_round_trips(value: str) -> None:
    url = expand("https://t.example/p?v={sub1}&c=1", {"sub1": value}, Encoding.URL)
    query = urlsplit(url).query
    assert urlsplit(url).fragment == ""
    assert query.startswith("v=") and query.endswith("&c=1")
    encoded = query[2:-4]
    assert unquote(encoded) == value
    # Nothing that could end the value or the URL survives unencoded.
    for ch in " &=#?/\"'{}\n+":
        assert ch not in encoded


@pytest.mark.parametrize("value", TRICKY)
def test_url_encoding_spaces_are_percent_20(value: str) -> None:
    encoded = expand("{v}", {"v": value}, Encoding.URL)
    assert "+" not in encoded  # a '+' in a path would not mean a space
    if " " in value:
        assert "%20" in encoded


@pytest.mark.parametrize("value", TRICKY)
def test_json_encoding_round_trips(value: str) -> None:
    body = expand('{"note":"{sub1}","n":1}', {"sub1": value}, Encoding.JSON)
    assert json.loads(body) == {"note": value, "n": 1}


def test_json_keeps_non_ascii_readable() -> None:
    assert expand('"{v}"', {"v": "caf\u00e9"}, Encoding.JSON) == '"caf\u00e9"'
    assert expand('"{v}"', {"v": 'a"b\\c'}, Encoding.JSON) == '"a\\"b\\\\c"'


@pytest.mark.parametrize("value", TRICKY)
def test_form_encoding_round_trips(value: str) -> None:
    body = expand("a={sub1}&b={sub2}", {"sub1": value, "sub2": "x"}, Encoding.FORM)
    assert parse_qs(body, keep_blank_values=True, strict_parsing=True) == {
        "a": [value],
        "b": ["x"],
    }


def test_form_encoding_uses_plus_for_space() -> None:
    assert expand("{v}", {"v": "a b+c"}, Encoding.FORM) == "a+b%2Bc"
    assert unquote_plus(expand("{v}", {"v": "a b+c"}, Encoding.FORM)) == "a b+c"


@pytest.mark.parametrize("encoding", list(Encoding))
def test_values_are_never_expanded_twice(encoding: Encoding) -> None:
    values = {"sub1": "{click_id}", "click_id": "REAL", "sub2": "{sub1}"}
    out = expand("{sub1}|{sub2}|{click_id}", values, encoding)
    assert out.count("REAL") == 1
    if encoding is Encoding.JSON:
        assert out == "{click_id}|{sub1}|REAL"
    elif encoding is Encoding.URL:
        assert out == "%7Bclick_id%7D|%7Bsub1%7D|REAL"
    else:
        assert out == "%7Bclick_id%7D|%7Bsub1%7D|REAL"


def test_every_occurrence_is_expanded() -> None:
    assert expand("{a}-{a}-{b}", {"a": "1", "b": "2"}, Encoding.URL) == "1-1-2"


def test_missing_values_expand_to_empty() -> None:
    assert expand("x={txid}&y={nope}", {}, Encoding.URL) == "x=&y="


def test_non_placeholders_stay_literal() -> None:
    template = "{ click_id } {1abc} {} {{click_id}} {click_id"
    out = expand(template, {"click_id": "C", "a": "A"}, Encoding.URL)
    assert out == "{ click_id } {1abc} {} {C} {click_id"


def test_braces_in_json_bodies_stay_literal() -> None:
    template = '{"event":"{event}","data":{"amount":{payout},"ids":["{click_id}"]},"x":{}}'
    body = expand(template, {"event": "sale", "payout": "1.5", "click_id": "abc"}, Encoding.JSON)
    assert body == '{"event":"sale","data":{"amount":1.5,"ids":["abc"]},"x":{}}'
    assert json.loads(body) == {"event": "sale", "data": {"amount": 1.5, "ids": ["abc"]}, "x": {}}


def test_macro_names_in_order() -> None:
    assert macro_names("{a}{b_1}x{a}{ C}{c}") == ["a", "b_1", "a", "c"]


def test_unknown_macros() -> None:
    template = "https://x/?a={click_id}&b={clickid}&c={foo}&d={clickid}&e={payout}&f={revenue}"
    assert unknown_macros(template, POSTBACK_MACROS) == ["clickid", "foo", "revenue"]
    assert unknown_macros(template, NETWORK_MACROS) == ["clickid", "foo"]
    assert unknown_macros("{revenue}/{profit}", POSTBACK_MACROS) == ["revenue", "profit"]
    assert unknown_macros("{revenue}/{profit}", NETWORK_MACROS) == []
    assert unknown_macros('{"a":{"b":1}}', POSTBACK_MACROS) == []
    assert unknown_macros("", POSTBACK_MACROS) == []
    assert unknown_macros("{conversion_id}", CLICK_MACROS) == ["conversion_id"]


@pytest.mark.parametrize("name", sorted(POSTBACK_MACROS))
def test_every_known_macro_is_a_placeholder(name: str) -> None:
    assert macro_names("{" + name + "}") == [name]
    assert expand("{" + name + "}", {name: "v"}, Encoding.URL) == "v"


# Arbitrary text, including braces, control characters and astral code points.
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60)


@given(ANY_TEXT)
def test_url_round_trip_for_any_text(value: str) -> None:
    assert unquote(expand("{sub1}", {"sub1": value}, Encoding.URL)) == value


@given(ANY_TEXT)
def test_json_round_trip_for_any_text(value: str) -> None:
    assert json.loads(expand('["{sub1}"]', {"sub1": value}, Encoding.JSON)) == [value]


@given(ANY_TEXT, ANY_TEXT)
def test_form_round_trip_for_any_text(first: str, second: str) -> None:
    body = expand("a={sub1}&b={sub2}", {"sub1": first, "sub2": second}, Encoding.FORM)
    assert parse_qs(body, keep_blank_values=True) == {"a": [first], "b": [second]}


@given(ANY_TEXT, st.sampled_from(list(Encoding)))
def test_expansion_is_single_pass_for_any_text(value: str, encoding: Encoding) -> None:
    values = {"sub1": value, "click_id": "\x00MARK\x00"}
    out = expand("{sub1}", values, encoding)
    # The value never pulls in another macro's value.
    assert "MARK" not in out or "MARK" in value
