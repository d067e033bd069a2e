"""Partner templates: every incoming example reads as a postback through its field map."""

from __future__ import annotations

import pytest

from postback.domain.attributes import read_attributes
from postback.domain.incoming import apply_field_map, map_event, read_fields, resolve_status
from postback.domain.templates import (
    INCOMING,
    OUTGOING,
    example,
    incoming_template,
    incoming_url,
    outgoing_template,
    outgoing_url,
)
from postback.errors import InvalidInput

NAMES = ("keitaro", "voluum", "binom", "redtrack", "everflow", "tune", "affise", "cake", "hotmart")


def test_the_promised_systems_are_there() -> None:
    assert {t.name for t in INCOMING} == set(NAMES)
    assert {"keitaro", "voluum", "binom", "redtrack", "everflow"} <= {t.name for t in OUTGOING}


def _params(query: dict[str, str], body: dict[str, object] | None) -> dict[str, list[str]]:
    params = {name: [value] for name, value in query.items()}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            params[prefix] = [str(value)]

    walk("", body or {})
    return params


@pytest.mark.parametrize("name", NAMES)
def test_each_example_reads_as_a_postback(name: str) -> None:
    template = incoming_template(name)
    query, body = example(template, "clk_1", "tok", 7)
    assert query["adv_id"] == "7" and query["token"] == "tok"
    params = apply_field_map(_params(query, body), template.field_map)
    fields = read_fields(params)
    assert fields.click_id == "clk_1"
    assert fields.token == "tok"
    resolve_status(fields.raw_status, template.status_map)
    map_event(fields.event, template.event_map)
    read_attributes(params)


def test_hotmart_brings_the_buyer_as_attributes_and_its_event_mapped() -> None:
    template = incoming_template("hotmart")
    query, body = example(template, "clk_1", "tok", 7)
    params = apply_field_map(_params(query, body), template.field_map)
    assert read_attributes(params)["email"] == "buyer@example.com"
    assert map_event(read_fields(params).event, template.event_map) == "approved"
    assert read_fields(params).txid == "HP0000000001"


def test_urls() -> None:
    url = incoming_url(incoming_template("binom"), "https://pb.example/", 3, "T")
    assert url.startswith("https://pb.example/postback?adv_id=3&token=T&cnv_id={click_id}")
    keitaro = outgoing_template("keitaro")
    assert outgoing_url(keitaro, "https://tr.example/abc/").startswith(
        "https://tr.example/abc/postback?subid={sub1}&status={status}"
    )
    everflow = outgoing_template("everflow")
    assert outgoing_url(everflow, "https://ef.example?nid=12") == (
        "https://ef.example/?nid=12&transaction_id={sub1}&amount={payout}&order_id={txid}"
    )


def test_unknown_templates_are_refused() -> None:
    with pytest.raises(InvalidInput):
        incoming_template("nope")
    with pytest.raises(InvalidInput):
        outgoing_template("nope")
