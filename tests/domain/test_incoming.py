"""Reading an incoming postback: aliases, validation, defaults and status mapping."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postback.domain.incoming import (
    DEFAULT_EVENT,
    DEFAULT_STATUS,
    FIELD_ALIASES,
    FieldRule,
    PostbackFields,
    apply_field_map,
    field_rule,
    read_fields,
    resolve_status,
)
from postback.errors import InvalidInput

# The contract's table, written out independently of the module under test.
CONTRACT_ALIASES = {
    "click_id": ["click_id", "clickid", "cid", "subid"],
    "txid": ["txid", "tid", "order_id", "action_id"],
    "event": ["event", "goal", "et", "type"],
    "status": ["status", "cnv_status"],
    "revenue": ["revenue", "payout", "amount", "sum"],
    "currency": ["currency", "cnv_currency"],
    "token": ["token", "key", "secure"],
}
SAMPLE = {
    "txid": "T-100",
    "event": "sale",
    "status": "pending",
    "revenue": "12.5",
    "currency": "EUR",
    "token": "s3cret",
}
ATTRIBUTE = {"status": "raw_status"}


def params(**values: str | list[str]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


def test_alias_table_covers_the_contract() -> None:
    for field, aliases in CONTRACT_ALIASES.items():
        assert set(aliases) <= set(FIELD_ALIASES[field]), field


@pytest.mark.parametrize("alias", CONTRACT_ALIASES["click_id"])
def test_click_id_aliases(alias: str) -> None:
    assert read_fields(params(**{alias: "abc_123-X"})).click_id == "abc_123-X"


@pytest.mark.parametrize(
    ("field", "alias"),
    [(f, a) for f, aliases in CONTRACT_ALIASES.items() if f != "click_id" for a in aliases],
)
def test_field_aliases(field: str, alias: str) -> None:
    fields = read_fields(params(click_id="c1", **{alias: SAMPLE[field]}))
    got = getattr(fields, ATTRIBUTE.get(field, field))
    expected: object = Decimal(SAMPLE[field]) if field == "revenue" else SAMPLE[field]
    assert got == expected


def test_all_fields_together() -> None:
    fields = read_fields(
        params(
            clickid="ck",
            order_id="O-1",
            goal="deposit",
            cnv_status="1",
            sum="0.0001",
            cnv_currency="gbp",
            secure="tok",
        )
    )
    assert fields == PostbackFields(
        click_id="ck",
        txid="O-1",
        event="deposit",
        raw_status="1",
        revenue=Decimal("0.0001"),
        currency="GBP",
        token="tok",
    )


def test_defaults() -> None:
    fields = read_fields(params(click_id="c1"))
    assert fields.event == DEFAULT_EVENT == "conversion"
    assert fields.raw_status is None
    assert resolve_status(fields.raw_status, {}) == DEFAULT_STATUS == "approved"
    assert fields.txid is None
    assert fields.revenue is None  # the offer's revenue applies later
    assert fields.currency is None  # the offer's currency applies later
    assert fields.token is None


@pytest.mark.parametrize("name", ["txid", "event", "status", "revenue", "currency", "token"])
def test_empty_values_mean_absent(name: str) -> None:
    fields = read_fields(params(click_id="c1", **{name: ""}))
    assert fields == read_fields(params(click_id="c1"))


def test_token_needs_no_header() -> None:
    assert read_fields(params(click_id="c1", key="abc")).token == "abc"
    assert read_fields(params(click_id="c1", token="abc", secure="abc")).token == "abc"


def test_unrelated_params_are_ignored() -> None:
    fields = read_fields(params(click_id="c1", foo="bar", sub1="x", utm_source="y"))
    assert fields == read_fields(params(click_id="c1"))


@pytest.mark.parametrize("field", list(CONTRACT_ALIASES))
def test_conflicting_duplicates_name_the_field(field: str) -> None:
    first, second = CONTRACT_ALIASES[field][0], CONTRACT_ALIASES[field][-1]
    good = {"click_id": "c1", **SAMPLE}
    other = {"click_id": "c2", "revenue": "13", "currency": "USD"}.get(field, good[field] + "x")
    base = {} if field == "click_id" else {"click_id": "c1"}
    with pytest.raises(InvalidInput) as info:
        read_fields(params(**base, **{first: good[field], second: other}))
    assert info.value.param == field
    assert info.value.details["param"] == field
    assert info.value.code == "invalid_param"


@pytest.mark.parametrize("field", list(CONTRACT_ALIASES))
def test_conflict_under_one_name_is_refused(field: str) -> None:
    name = CONTRACT_ALIASES[field][0]
    good = {"click_id": "c1", **SAMPLE}
    other = {"click_id": "c2", "revenue": "13", "currency": "USD"}.get(field, good[field] + "x")
    base = {} if field == "click_id" else {"click_id": "c1"}
    with pytest.raises(InvalidInput) as info:
        read_fields(params(**base, **{name: [good[field], other]}))
    assert info.value.param == field


@pytest.mark.parametrize("field", list(CONTRACT_ALIASES))
def test_agreeing_duplicates_are_fine(field: str) -> None:
    first, second = CONTRACT_ALIASES[field][0], CONTRACT_ALIASES[field][1]
    good = {"click_id": "c1", **SAMPLE}
    base = {} if field == "click_id" else {"click_id": "c1"}
    twice: dict[str, str | list[str]] = {first: good[field], second: [good[field]] * 2}
    fields = read_fields(params(**base, **twice))
    assert fields == read_fields(params(**base, **{first: good[field]}))


@pytest.mark.parametrize(
    "given",
    [{}, {"click_id": ""}, {"clickid": ""}, {"txid": "T1"}, {"click": "c1"}, {"ClickID": "c1"}],
)
def test_missing_click_id(given: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as info:
        read_fields(params(**given))
    assert info.value.param == "click_id"


@pytest.mark.parametrize(
    ("given", "param"),
    [
        ({"click_id": "x" * 65}, "click_id"),
        ({"click_id": "a b"}, "click_id"),
        ({"click_id": "a.b"}, "click_id"),
        ({"click_id": "{click_id}"}, "click_id"),
        ({"click_id": "caf\u00e9"}, "click_id"),
        ({"click_id": "abc\n"}, "click_id"),
        ({"txid": "t" * 256}, "txid"),
        ({"txid": "t\x00"}, "txid"),
        ({"txid": "a\nb"}, "txid"),
        ({"txid": "del\x7f"}, "txid"),
        ({"event": "e" * 65}, "event"),
        ({"event": "two words"}, "event"),
        ({"event": "a/b"}, "event"),
        ({"event": "\u00e9v\u00e9nement"}, "event"),
        ({"status": "s" * 65}, "status"),
        ({"status": "approved\r\n"}, "status"),
        ({"revenue": "abc"}, "revenue"),
        ({"revenue": "-1"}, "revenue"),
        ({"revenue": "1.00001"}, "revenue"),
        ({"revenue": "NaN"}, "revenue"),
        ({"revenue": "inf"}, "revenue"),
        ({"revenue": "1,5"}, "revenue"),
        ({"revenue": "1000000000000.01"}, "revenue"),
        ({"amount": "12.345678"}, "revenue"),
        ({"currency": "US"}, "currency"),
        ({"currency": "USDT"}, "currency"),
        ({"currency": "U5D"}, "currency"),
        ({"currency": "\u00fcsd"}, "currency"),
        ({"cnv_currency": "us d"}, "currency"),
    ],
)
def test_malformed_values(given: dict[str, str], param: str) -> None:
    with pytest.raises(InvalidInput) as info:
        read_fields(params(**{"click_id": "c1", **given}))
    assert info.value.param == param
    assert info.value.message


@pytest.mark.parametrize("revenue", ["1e30", "9" * 30])
def test_huge_revenue_is_invalid_input(revenue: str) -> None:
    with pytest.raises(InvalidInput) as info:
        read_fields(params(click_id="c1", revenue=revenue))
    assert info.value.param == "revenue"


@pytest.mark.parametrize(
    ("given", "attribute", "expected"),
    [
        ({"click_id": "x" * 64}, "click_id", "x" * 64),
        ({"txid": "t" * 255}, "txid", "t" * 255),
        ({"txid": "caf\u00e9 #1 & more"}, "txid", "caf\u00e9 #1 & more"),
        ({"event": "e" * 64}, "event", "e" * 64),
        ({"event": "app.install:v2-final_1"}, "event", "app.install:v2-final_1"),
        ({"status": "s" * 64}, "raw_status", "s" * 64),
        ({"revenue": "0"}, "revenue", Decimal("0")),
        ({"revenue": "1000000000000"}, "revenue", Decimal("1000000000000")),
        ({"revenue": " 3.50 "}, "revenue", Decimal("3.5")),
        ({"currency": "eur"}, "currency", "EUR"),
    ],
)
def test_boundary_values_are_accepted(
    given: dict[str, str], attribute: str, expected: object
) -> None:
    fields = read_fields(params(**{"click_id": "c1", **given}))
    assert getattr(fields, attribute) == expected


def test_revenue_is_exact_decimal() -> None:
    revenue = read_fields(params(click_id="c1", revenue="0.1")).revenue
    assert isinstance(revenue, Decimal)
    assert revenue == Decimal("0.1")


@pytest.mark.parametrize(
    ("raw", "status_map", "expected"),
    [
        (None, {}, "approved"),
        (None, {"1": "pending"}, "approved"),
        ("pending", {}, "pending"),
        ("REJECTED", {}, "rejected"),
        ("1", {"1": "approved", "0": "pending"}, "approved"),
        ("0", {"1": "approved", "0": "pending"}, "pending"),
        ("Declined", {"declined": "rejected"}, "rejected"),
        ("chargeback", {"declined": "rejected"}, "chargeback"),
    ],
)
def test_resolve_status(raw: str | None, status_map: dict[str, str], expected: str) -> None:
    assert resolve_status(raw, status_map) == expected


@pytest.mark.parametrize(("raw", "status_map"), [("2", {"1": "approved"}), ("sale", {}), ("", {})])
def test_resolve_status_refuses_unknown(raw: str, status_map: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_status(raw, status_map)
    assert info.value.param == "status"
    assert "approved" in info.value.message  # lists the vocabulary


def test_a_field_rule_reads_first_of_targets_and_scale() -> None:
    assert field_rule("a.b|c", "revenue,attr.order_total*0.01") == FieldRule(
        ("a.b", "c"), ("revenue", "attr.order_total"), Decimal("0.01")
    )
    assert field_rule("venda[src]", "click_id") == FieldRule(("venda[src]",), ("click_id",))
    for theirs, ours in [
        ("a b", "txid"),
        ("|".join(["x"] * 9), "txid"),
        ("a", "price"),
        ("a", "txid,txid"),
        ("a", "revenue*0"),
        ("a", "revenue*-1"),
        ("a", "revenue*1e3"),
        ("a", "attr.Email"),
    ]:
        with pytest.raises(ValueError):
            field_rule(theirs, ours)


def test_a_field_map_takes_the_first_present_and_scales() -> None:
    field_map = {
        "o.sck|o.src|o.xcod": "click_id",
        "Commissions.charge_amount": "revenue,attr.order_total*0.01",
    }
    params = {
        "o.sck": [""],
        "o.src": ["clk_2"],
        "o.xcod": ["clk_3"],
        "Commissions.charge_amount": ["9750"],
    }
    mapped = apply_field_map(params, field_map)
    fields = read_fields(mapped)
    assert fields.click_id == "clk_2"
    assert fields.revenue == Decimal("97.5")
    assert mapped["attr.order_total"] == ["97.5"]
    with pytest.raises(InvalidInput) as bad:
        apply_field_map({**params, "Commissions.charge_amount": ["lots"]}, field_map)
    assert bad.value.param == "Commissions.charge_amount"
    for huge in ("1e400", "NaN", "Infinity"):
        with pytest.raises(InvalidInput):
            apply_field_map({**params, "Commissions.charge_amount": [huge]}, field_map)


def test_a_mapped_field_makes_its_other_aliases_plain_data() -> None:
    # Eduzz's older webhook sends `type=invoice` beside its event name: `type` is an alias
    # of our event, but the map says where the event is.
    params = {"event_name": ["invoice_paid"], "type": ["invoice"], "cid": ["clk"]}
    fields = read_fields(apply_field_map(params, {"event_name": "event"}))
    assert fields.event == "invoice_paid" and fields.click_id == "clk"
    # Our own name still counts, and must agree.
    clash = apply_field_map({**params, "event": ["other"]}, {"event_name": "event"})
    with pytest.raises(InvalidInput):
        read_fields(clash)
