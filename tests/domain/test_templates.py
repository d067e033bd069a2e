"""Partner templates: every incoming example reads as a postback through its field map."""

from __future__ import annotations

import orjson
import pytest

from postback.domain.attributes import read_attributes
from postback.domain.catalog import (
    INCOMING,
    OUTGOING,
    PLATFORMS,
    incoming_template,
    outgoing_template,
)
from postback.domain.incoming import (
    IGNORE,
    apply_field_map,
    field_rule,
    map_event,
    read_fields,
    resolve_status,
)
from postback.domain.lifecycle import LIFECYCLE_EVENTS
from postback.domain.templates import IncomingTemplate, example, incoming_url, outgoing_url
from postback.edge.postback import _json_params
from postback.errors import InvalidInput

TRACKERS = ("keitaro", "voluum", "binom", "redtrack", "everflow", "tune", "affise", "cake")
NAMES = tuple(t.name for t in INCOMING)


def test_the_promised_systems_are_there() -> None:
    assert set(TRACKERS) | {"hotmart", "monetizze", "kiwify", "eduzz"} <= set(NAMES)
    assert set(TRACKERS) <= {t.name for t in OUTGOING}
    assert {t.name for t in PLATFORMS} <= set(NAMES)
    assert all(t.auth is not None and t.sources for t in PLATFORMS)


def _params(
    template: IncomingTemplate, query: dict[str, str], body: object
) -> dict[str, list[str]]:
    """The postback's fields as the edge reads them: query, then the body."""
    params = {name: [value] for name, value in query.items()}
    if isinstance(body, dict) and template.transport == "form":
        params.update({name: [str(value)] for name, value in body.items()})
    elif body is not None:
        params.update(_json_params(orjson.dumps(body)))
    return params


@pytest.mark.parametrize("name", NAMES)
def test_each_example_reads_as_a_postback(name: str) -> None:
    template = incoming_template(name)
    query, body = example(template, "clk_1", "tok", 7, "s3cret")
    assert query["adv_id"] == "7"
    # A platform proves itself with its own secret: no token of ours in its URL.
    assert ("token" in query) == (template.auth is None)
    params = apply_field_map(_params(template, query, body), template.field_map)
    fields = read_fields(params)
    assert fields.click_id == "clk_1"
    assert fields.token == (None if template.auth else "tok")
    if map_event(fields.event, template.event_map) not in LIFECYCLE_EVENTS:
        resolve_status(fields.raw_status, template.status_map)
    read_attributes(params)


def test_every_event_map_value_is_ours() -> None:
    for template in INCOMING:
        for theirs, ours in template.event_map.items():
            assert ours in LIFECYCLE_EVENTS or ours == IGNORE, (template.name, theirs)
        for theirs, ours in template.field_map.items():
            field_rule(theirs, ours)


def test_urls() -> None:
    url = incoming_url(incoming_template("binom"), "https://pb.example/", 3, "T")
    assert url.startswith("https://pb.example/postback?adv_id=3&token=T&cnv_id={click_id}")
    keitaro = outgoing_template("keitaro")
    assert outgoing_url(keitaro, "https://tr.example/abc/").startswith(
        "https://tr.example/abc/postback?subid={sub1}&status={status}"
    )
    everflow = outgoing_template("everflow")
    assert outgoing_url(everflow, "https://ef.example?nid=12").startswith(
        "https://ef.example/?nid=12&transaction_id={sub1}&"
    )


def test_unknown_templates_are_refused() -> None:
    with pytest.raises(InvalidInput):
        incoming_template("nope")
    with pytest.raises(InvalidInput):
        outgoing_template("nope")
