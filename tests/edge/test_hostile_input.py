"""Property-based fuzzing of /click, /postback and the API with hostile input.

Oversized values, invalid UTF-8, NUL bytes, duplicated parameters, huge and deeply
nested bodies, wrong content types, SQL and template injection, macro-looking values.
The properties: never a 5xx; every refusal in the error shape; nothing stored from a
refused request (and exactly what the answer says from an accepted one); a macro-looking
value is text, never expanded a second time; the server stays healthy.

The whole application runs in-process and is called with raw ASGI messages, on SQLite
and PostgreSQL. POSTBACK_FUZZ_EXAMPLES sets the examples per property (CI: 100).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postback.app import create_app
from postback.domain.incoming import FIELD_ALIASES
from postback.domain.macros import NETWORK_MACROS
from postback.edge.app import EdgeApp
from postback.settings import Settings
from postback.store.sql import Store
from tests.edge.asgi import Answer, call, counts
from tests.reliability_report import record

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]

EXAMPLES = int(os.environ.get("POSTBACK_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ADMIN_KEY = "fuzz-admin-key-0123456789abcdef"
AUTH = [(b"authorization", f"Bearer {ADMIN_KEY}".encode())]
JSON = [(b"content-type", b"application/json")]
DESTINATION = "https://shop.example/lp?cid={click_id}&" + "&".join(
    f"s{n}={{sub{n}}}" for n in range(1, 6)
)
CASES: Counter[str] = Counter()

# ---- hostile values -------------------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE clicks; --",
    '" OR 1=1 --',
    "1' UNION SELECT secret FROM postback_configs --",
    "{{7*7}}",
    "${7*7}",
    "{% print(1) %}",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "%00",
    "\x00",
    "a\x00b",
    "%7Bclick_id%7D",
    "\u202egnp.exe",
    "💥" * 70,
    "\r\nSet-Cookie: x=1",
    *[f"{{{name}}}" for name in sorted(NETWORK_MACROS)],
]

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(INJECTIONS),
    st.text(st.characters(codec="utf-8"), min_size=250, max_size=300),
    st.just("x" * 10_000),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
raw_bytes = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"%ff%fe", b"\xff\xfe", b"%00", b"\x00", b"%e2%82", b"a=%zz", b"&&&="]),
)


def encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()


def json_values(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    hostile_text,
)


def deeply_nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# ---- the application under test ---------------------------------------------------------


@dataclass
class World:
    app: EdgeApp
    store: Store
    offer_id: int
    affiliate_id: int
    token: str
    config_id: int
    click_ids: list[str]
    spare_offer_id: int
    spare_config_id: int
    spare_advertiser_id: int


async def admin(app: EdgeApp, method: str, path: str, body: object = None) -> Any:
    answer = await call(app, method, path, headers=AUTH + JSON, body=orjson.dumps(body))
    assert answer.status in (200, 201), answer.body
    return answer.json()


async def new_click(app: EdgeApp, offer_id: int, affiliate_id: int, **subs: str) -> Answer:
    query = urlencode({"offer_id": offer_id, "aff_id": affiliate_id, **subs}).encode()
    return await call(app, "GET", "/click", query)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(database_url: str) -> AsyncIterator[World]:
    app = create_app(
        Settings(
            database_url=database_url,
            admin_key=ADMIN_KEY,
            auth_failures_per_minute=0,
            allow_private_targets=False,
        ),
        run_worker=False,
    )
    runtime = app.runtime  # type: ignore[attr-defined]
    await runtime.start()
    adv = await admin(
        app, "POST", "/api/v1/advertisers", {"name": "Fuzz", "status_map": {"sale": "approved"}}
    )
    offer = await admin(
        app,
        "POST",
        "/api/v1/offers",
        {
            "advertiser_id": adv["id"],
            "name": "Fuzz offer",
            "destination_url": DESTINATION,
            "revenue": 3,
            "payout": 2,
        },
    )
    affiliate = await admin(app, "POST", "/api/v1/affiliates", {"name": "Fuzz affiliate"})
    config = await admin(
        app,
        "POST",
        "/api/v1/postbacks",
        {
            "affiliate_id": affiliate["id"],
            "url": "https://aff.example/pb?cid={click_id}&s1={sub1}&st={status}",
            "statuses": ["*"],
        },
    )
    clicks = []
    for _ in range(5):
        answer = await new_click(app, offer["id"], affiliate["id"])
        clicks.append(parse_qs(urlsplit(answer.headers[b"location"].decode()).query)["cid"][0])
    # Records the API fuzzing may change at will, apart from the ones above.
    spare_adv = await admin(app, "POST", "/api/v1/advertisers", {"name": "Spare"})
    spare_offer = await admin(
        app,
        "POST",
        "/api/v1/offers",
        {
            "advertiser_id": spare_adv["id"],
            "name": "Spare",
            "destination_url": "https://x.example/",
            "revenue": 1,
            "payout": 1,
        },
    )
    spare_affiliate = await admin(app, "POST", "/api/v1/affiliates", {"name": "Spare"})
    spare_config = await admin(
        app,
        "POST",
        "/api/v1/postbacks",
        {"affiliate_id": spare_affiliate["id"], "url": "https://x.example/"},
    )
    yield World(
        app,
        runtime.store,
        offer["id"],
        affiliate["id"],
        adv["postback_token"],
        config["id"],
        clicks,
        spare_offer["id"],
        spare_config["id"],
        spare_adv["id"],
    )
    record("fuzz", **CASES)
    CASES.clear()
    await runtime.stop()


def refused_cleanly(answer: Answer, allowed: set[int]) -> None:
    assert answer.status < 500, answer.body[:500]
    assert answer.status in allowed, (answer.status, answer.body[:500])
    if answer.status >= 400:
        assert answer.is_error_shape(), answer.body[:500]


# ---- /click ----------------------------------------------------------------------------

click_names = st.sampled_from(["offer_id", "aff_id", "sub1", "sub2", "sub3", "sub4", "sub5"])


@FUZZ
@given(
    extra=st.lists(st.tuples(st.one_of(click_names, hostile_text), hostile_text), max_size=6),
    subs=st.dictionaries(st.sampled_from(["sub1", "sub2", "sub3"]), hostile_text, max_size=3),
    tail=st.one_of(st.none(), raw_bytes),
    keep_ids=st.booleans(),
)
async def test_click(
    world: World,
    extra: list[tuple[str, str]],
    subs: dict[str, str],
    tail: bytes | None,
    keep_ids: bool,
) -> None:
    CASES["click"] += 1
    pairs = list(subs.items()) + extra
    if keep_ids:
        pairs = [("offer_id", str(world.offer_id)), ("aff_id", str(world.affiliate_id)), *pairs]
    query = encode(pairs) + (b"&" + tail if tail is not None else b"")
    before = await counts(world.store)
    answer = await call(world.app, "GET", "/click", query)
    after = await counts(world.store)
    refused_cleanly(answer, {302, 400, 404})
    if answer.status != 302:
        assert after == before
        return
    assert after["clicks"] == before["clicks"] + 1
    location = parse_qs(urlsplit(answer.headers[b"location"].decode()).query)
    given_once = {k: v for k, v in subs.items() if [n for n, _ in pairs].count(k) == 1}
    for name, value in given_once.items():
        # What arrives at the shop is exactly what was sent: no second expansion.
        assert location.get(f"s{name[-1]}", [""]) == [value], name


@FUZZ
@given(
    macro=st.sampled_from(sorted(NETWORK_MACROS)),
    around=st.tuples(st.text(max_size=5), st.text(max_size=5)),
)
async def test_macro_looking_values_are_never_expanded_twice(
    world: World, macro: str, around: tuple[str, str]
) -> None:
    CASES["macro"] += 1
    value = f"{around[0]}{{{macro}}}{around[1]}"
    if "\x00" in value:
        return
    answer = await new_click(world.app, world.offer_id, world.affiliate_id, sub1=value)
    assert answer.status == 302
    location = answer.headers[b"location"].decode()
    query = parse_qs(urlsplit(location).query)
    assert query["s1"] == [value]
    click_id = query["cid"][0]
    # The outgoing postback rendered for its conversion carries the text as well.
    postback = encode([("click_id", click_id), ("txid", click_id), ("token", world.token)])
    accepted = await call(world.app, "GET", "/postback", postback)
    assert accepted.status == 200, accepted.body
    page = await world.store.list_deliveries(
        filters={
            "conversion_id": accepted.json()["conversion_id"],
            "postback_id": world.config_id,
        }
    )
    [delivery] = page.items
    sent = parse_qs(urlsplit(delivery.url).query)
    assert sent["s1"] == [value] and sent["cid"] == [click_id]


# ---- /postback -------------------------------------------------------------------------

alias = st.sampled_from([a for names in FIELD_ALIASES.values() for a in names])
statuses = st.sampled_from(["approved", "pending", "rejected", "sale", "refunded", "chargeback"])


@st.composite
def postback_fields(draw: st.DrawFn, world: World) -> list[tuple[str, str]]:
    """A valid postback with up to three hostile changes: most requests get far enough to
    reach the token check or the store, where a refusal must still leave nothing."""
    fields = {
        "click_id": draw(st.sampled_from(world.click_ids)),
        "txid": draw(st.sampled_from(["t1", "t2", "t3", "t4"])),
        "status": draw(statuses),
        "token": world.token,
    }
    optional = {"revenue": "2.5", "event": "sale", "currency": "EUR"}
    names = sorted({*fields, *optional})
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        fields[name] = draw(hostile_text)
    pairs = list(fields.items())
    pairs += draw(st.lists(st.tuples(st.one_of(alias, hostile_text), hostile_text), max_size=2))
    return draw(st.permutations(pairs))


transports = st.one_of(
    st.sampled_from(["get", "form", "json"]),
    st.sampled_from(["get", "form", "json", "text", "none", "bytes", "deep", "huge"]),
)


def postback_request(
    transport: str, fields: list[tuple[str, str]], noise: bytes
) -> tuple[str, bytes, list[tuple[bytes, bytes]], bytes]:
    form = encode(fields)
    if transport == "get":
        return "GET", form, [], b""
    if transport == "form":
        return "POST", b"", [(b"content-type", b"application/x-www-form-urlencoded")], form
    if transport == "json":
        return "POST", b"", JSON, orjson.dumps(dict(fields))
    if transport == "text":
        return "POST", b"", [(b"content-type", b"text/plain")], form
    if transport == "none":
        return "POST", b"", [], form + noise
    if transport == "bytes":
        return "POST", b"", JSON, noise
    if transport == "deep":
        return "POST", b"", JSON, deeply_nested(5_000)
    return "POST", b"", JSON, b'{"click_id": "' + b"x" * 70_000 + b'"}'


@FUZZ
@given(data=st.data(), transport=transports, noise=raw_bytes)
async def test_postback(world: World, data: st.DataObject, transport: str, noise: bytes) -> None:
    CASES["postback"] += 1
    fields = data.draw(postback_fields(world))
    method, query, headers, body = postback_request(transport, fields, noise)
    before = await counts(world.store)
    answer = await call(world.app, method, "/postback", query, headers, body)
    after = await counts(world.store)
    refused_cleanly(answer, {200, 400, 401, 404, 409, 413, 415})
    changed = {name: after[name] - before[name] for name in after}
    if answer.status != 200:
        assert set(changed.values()) == {0}, changed
        return
    result = answer.json()["result"]
    expected = {"created": (1, 1), "updated": (0, 1), "duplicate": (0, 0)}[result]
    assert (changed["conversions"], changed["conversion_history"]) == expected
    # Every change owes the one matching config exactly one delivery.
    assert changed["deliveries"] == changed["conversion_history"]


# ---- the API ---------------------------------------------------------------------------


def api_targets(world: World) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/v1/advertisers"),
        ("POST", "/api/v1/offers"),
        ("POST", "/api/v1/affiliates"),
        ("POST", "/api/v1/postbacks"),
        ("PATCH", f"/api/v1/advertisers/{world.spare_advertiser_id}"),
        ("PATCH", f"/api/v1/offers/{world.spare_offer_id}"),
        ("PATCH", f"/api/v1/postbacks/{world.spare_config_id}"),
        ("POST", f"/api/v1/postbacks/{world.spare_config_id}/secret"),
        ("PATCH", f"/api/v1/postbacks/{world.spare_config_id}/signing"),
    ]


field_names = st.sampled_from(
    [
        "name",
        "advertiser_id",
        "affiliate_id",
        "offer_id",
        "destination_url",
        "fallback_url",
        "url",
        "body",
        "method",
        "revenue",
        "payout",
        "currency",
        "status",
        "events",
        "statuses",
        "allowed_ips",
        "status_map",
        "require_token",
        "active",
        "grace_seconds",
        "sign_get",
    ]
)


@st.composite
def api_bodies(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes]], bytes]:
    kind = draw(st.sampled_from(["object", "object", "value", "bytes", "deep", "huge", "form"]))
    if kind == "object":
        keys = st.one_of(field_names, hostile_text)
        # json, not orjson: integers beyond 64 bits are hostile input too.
        body = json.dumps(draw(st.dictionaries(keys, json_values(json_leaf), max_size=8))).encode()
    elif kind == "value":
        body = json.dumps(draw(json_values(json_leaf))).encode()
    elif kind == "bytes":
        body = draw(raw_bytes)
    elif kind == "deep":
        body = deeply_nested(draw(st.sampled_from([100, 5_000, 200_000])))
    elif kind == "huge":
        body = b'{"name": "' + b"x" * 2_000_000 + b'"}'
    else:
        body = encode(draw(st.lists(st.tuples(field_names, hostile_text), max_size=4)))
    content_type = draw(
        st.sampled_from([b"application/json", b"text/plain", b"", b"application/x-www-form"])
    )
    return ([(b"content-type", content_type)] if content_type else []), body


@FUZZ
@given(data=st.data(), sent=api_bodies())
async def test_api_bodies(
    world: World, data: st.DataObject, sent: tuple[list[tuple[bytes, bytes]], bytes]
) -> None:
    CASES["api"] += 1
    method, path = data.draw(st.sampled_from(api_targets(world)))
    headers, body = sent
    before = await counts(world.store)
    answer = await call(world.app, method, path, headers=AUTH + headers, body=body)
    after = await counts(world.store)
    refused_cleanly(answer, {200, 201, 400, 404, 413, 415})
    if answer.status >= 400 or method == "PATCH":
        assert after == before


list_params = st.sampled_from(
    ["limit", "cursor", "from", "to", "status", "offer_id", "affiliate_id", "state", "result"]
)


@FUZZ
@given(
    path=st.sampled_from(
        ["conversions", "deliveries", "incoming", "offers", "postbacks", "affiliates"]
    ),
    params=st.lists(st.tuples(st.one_of(list_params, hostile_text), hostile_text), max_size=5),
    tail=st.one_of(st.none(), raw_bytes),
)
async def test_api_queries(
    world: World, path: str, params: list[tuple[str, str]], tail: bytes | None
) -> None:
    CASES["api"] += 1
    query = encode(params) + (b"&" + tail if tail is not None else b"")
    answer = await call(world.app, "GET", f"/api/v1/{path}", query, AUTH)
    refused_cleanly(answer, {200, 400})


@FUZZ
@given(key=st.one_of(hostile_text, st.binary(max_size=80).map(lambda b: b.decode("latin-1"))))
async def test_api_keys(world: World, key: str) -> None:
    CASES["api"] += 1
    header = b"Bearer " + key.encode("latin-1", "replace")
    answer = await call(world.app, "GET", "/api/v1/offers", headers=[(b"authorization", header)])
    refused_cleanly(answer, {401})


async def test_still_healthy_after_all_of_it(world: World) -> None:
    assert (await call(world.app, "GET", "/healthz")).status == 200
    answer = await new_click(world.app, world.offer_id, world.affiliate_id, sub1="ok")
    assert answer.status == 302
