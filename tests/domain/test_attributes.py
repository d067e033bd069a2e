"""Conversion attributes: where they come from and their bounds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postback.domain.attributes import MAX_ATTRIBUTES, merge, read_attributes
from postback.domain.incoming import apply_field_map, map_event, read_fields
from postback.errors import InvalidInput, UnknownEvent


def test_prefixed_and_well_known_fields_become_attributes() -> None:
    params = {
        "attr.customer_name": ["Ana"],
        "attributes.plan": ["gold"],
        "email": ["ana@example.com"],
        "tracking_code": ["BR123"],
        "click_id": ["abc"],
        "sub7": ["ignored"],
        "attr.empty": [""],
    }
    assert read_attributes(params) == {
        "customer_name": "Ana",
        "plan": "gold",
        "email": "ana@example.com",
        "tracking_code": "BR123",
    }


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"attr.Bad-Name": ["x"]}, "attr.Bad-Name"),
        ({"attr.x": ["y" * 513]}, "attr.x"),
        ({"attr.x": ["a\nb"]}, "attr.x"),
        ({"attr.x": ["a", "b"]}, "attr.x"),
        ({"attr.email": ["a"], "email": ["b"]}, "email"),
        ({f"attr.k{i}": ["v"] for i in range(MAX_ATTRIBUTES + 1)}, "attributes"),
    ],
)
def test_bad_attributes_name_the_field(params: dict[str, list[str]], param: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_attributes(params)
    assert refused.value.param == param


def test_merge_keeps_old_values_and_takes_new_ones() -> None:
    assert merge({"a": "1", "b": "2"}, {"b": "3"}) == {"a": "1", "b": "3"}
    with pytest.raises(InvalidInput):
        merge({f"k{i}": "v" for i in range(MAX_ATTRIBUTES)}, {"extra": "v"})


def test_a_field_map_renames_partner_fields_without_breaking_aliases() -> None:
    params = {"cnv_id": ["click1"], "payout": ["3.5"], "data.buyer.email": ["a@b.c"]}
    mapped = apply_field_map(params, {"cnv_id": "click_id", "data.buyer.email": "attr.email"})
    fields = read_fields(mapped)
    assert fields.click_id == "click1"
    assert fields.revenue == Decimal("3.5")
    assert read_attributes(mapped) == {"email": "a@b.c"}
    # The same value under both names is fine; different ones are refused, like aliases.
    both = apply_field_map({"cnv_id": ["x"], "click_id": ["y"]}, {"cnv_id": "click_id"})
    with pytest.raises(InvalidInput):
        read_fields(both)


def test_event_map() -> None:
    assert map_event("PURCHASE_APPROVED", {"PURCHASE_APPROVED": "approved"}) == "approved"
    assert map_event("lead", {}) == "lead"
    # With a map, an event outside it is refused: never counted as a sale.
    with pytest.raises(UnknownEvent) as refused:
        map_event("lead", {"PURCHASE_APPROVED": "approved"})
    assert refused.value.code == "unknown_event" and refused.value.param == "event"
