"""Every endpoint, walked as the admin, as affiliate A and as affiliate B.

B can neither read nor change nor learn of anything of A's: A's ids answer exactly as ids
that do not exist. No affiliate answer carries revenue or profit. A route added without a
line here fails `test_every_route_is_walked`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, convert, error_of

MISSING = 999_999_999


@dataclass
class World:
    ids: dict[str, int]
    alice: dict[str, Any]
    bob: dict[str, Any]


async def build_world(api: Api) -> World:
    adv = await api.advertiser()
    offer = await api.offer(advertiser_id=adv["id"])
    hidden = await api.offer(advertiser_id=adv["id"], status="paused")
    alice, bob = await api.affiliate("Alice"), await api.affiliate("Bob")
    config = await api.as_key(
        alice["api_key"],
        "POST",
        "/api/v1/postbacks",
        json={"url": "https://alice.example/pb?c={click_id}&p={payout}", "method": "POST"},
    )
    assert config.status_code == 201, config.text
    await api.created("/api/v1/postbacks", {"url": "https://crm.example/?r={revenue}&p={profit}"})
    conversion = (await convert(api.store, offer["id"], alice["id"])).conversion
    await convert(api.store, offer["id"], bob["id"])
    deliveries = await api.admin(
        "GET", "/api/v1/deliveries", params={"postback_id": config.json()["id"]}
    )
    (delivery,) = deliveries.json()["items"]
    alert = await api.created(
        "/api/v1/alerts",
        {"name": "quiet", "kind": "bad_tokens", "webhook_url": "https://hooks.example/a"},
    )
    ids = {
        "alert_id": alert["id"],
        "advertiser_id": adv["id"],
        "offer_id": offer["id"],
        "hidden_offer_id": hidden["id"],
        "affiliate_id": alice["id"],
        "postback_id": config.json()["id"],
        "conversion_id": conversion.id,
        "delivery_id": delivery["id"],
    }
    return World(ids, alice, bob)


# (method, path, body or query) with {names} from World.ids. Every one is A's or the admin's.
OF_ALICE_OR_ADMIN: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/advertisers", {"name": "x"}),
    ("GET", "/advertisers", None),
    ("GET", "/advertisers/{advertiser_id}", None),
    ("PATCH", "/advertisers/{advertiser_id}", {"name": "taken"}),
    ("DELETE", "/advertisers/{advertiser_id}", None),
    ("POST", "/advertisers/{advertiser_id}/token", {"grace_seconds": 0}),
    ("GET", "/advertisers/{advertiser_id}/postback-url", None),
    (
        "POST",
        "/offers",
        {
            "advertiser_id": 1,
            "name": "x",
            "destination_url": "https://x.example/",
            "revenue": 1,
            "payout": 1,
        },
    ),
    ("GET", "/offers/{hidden_offer_id}", None),
    ("PATCH", "/offers/{offer_id}", {"name": "taken"}),
    ("POST", "/affiliates", {"name": "x"}),
    ("GET", "/affiliates", None),
    ("GET", "/affiliates/{affiliate_id}", None),
    ("PATCH", "/affiliates/{affiliate_id}", {"name": "taken"}),
    ("POST", "/affiliates/{affiliate_id}/key", None),
    ("GET", "/postbacks/{postback_id}", None),
    ("PATCH", "/postbacks/{postback_id}", {"url": "https://evil.example/"}),
    ("DELETE", "/postbacks/{postback_id}", None),
    ("POST", "/postbacks/{postback_id}/test", None),
    ("GET", "/postbacks/{postback_id}/tests", None),
    ("POST", "/postbacks/{postback_id}/secret", {"grace_seconds": 0}),
    ("GET", "/postbacks/{postback_id}/signing", None),
    ("PATCH", "/postbacks/{postback_id}/signing", {"sign_get": True}),
    ("GET", "/conversions/{conversion_id}", None),
    ("GET", "/deliveries/{delivery_id}", None),
    ("POST", "/deliveries/{delivery_id}/retry", None),
    ("POST", "/postbacks/{postback_id}/retry", {"since": "2026-01-01T00:00:00Z"}),
    ("GET", "/incoming", None),
    (
        "POST",
        "/alerts",
        {"name": "x", "kind": "bad_tokens", "webhook_url": "https://hooks.example/x"},
    ),
    ("GET", "/alerts", None),
    ("GET", "/alerts/{alert_id}", None),
    ("PATCH", "/alerts/{alert_id}", {"name": "taken"}),
    ("DELETE", "/alerts/{alert_id}", None),
    ("GET", "/alerts/{alert_id}/incidents", None),
    ("GET", "/incidents", None),
    ("GET", "/tracking-link", {"offer_id": "{offer_id}", "aff_id": "{affiliate_id}"}),
    # Costs are the admin's: not even for an affiliate's own traffic.
    (
        "POST",
        "/costs",
        {
            "rows": [
                {
                    "day": "2026-01-01",
                    "offer_id": "{offer_id}",
                    "affiliate_id": "{affiliate_id}",
                    "amount": 5,
                }
            ]
        },
    ),
]
# Lists everyone may call: B's answer must not mention anything of A's.
LISTS: list[tuple[str, dict[str, Any] | None]] = [
    ("/offers", None),
    ("/postbacks", None),
    ("/postbacks", {"affiliate_id": "{affiliate_id}"}),
    ("/conversions", None),
    ("/conversions", {"affiliate_id": "{affiliate_id}"}),
    ("/deliveries", None),
    ("/deliveries", {"postback_id": "{postback_id}"}),
    ("/deliveries", {"conversion_id": "{conversion_id}"}),
]
WALKED = (
    {(m, p.replace("hidden_offer_id", "offer_id")) for m, p, _ in OF_ALICE_OR_ADMIN}
    | {("GET", p) for p, _ in LISTS}
    | {("GET", "/reports")}
    # Partner templates: the same for every key, nothing of anyone's (test_templates.py).
    | {("GET", "/templates"), ("GET", "/templates/{name}")}
    | {
        ("POST", "/postbacks"),
    }
)


def fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        return ids[whole.group(1)] if whole else value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


async def call(
    api: Api, key: str, method: str, path: str, data: dict[str, Any] | None, ids: dict[str, int]
) -> httpx.Response:
    url = "/api/v1" + fill(path, ids)
    data = fill(data, ids)
    if method in ("GET", "DELETE"):
        return await api.as_key(key, method, url, params=data)
    return await api.as_key(key, method, url, json=data)


def shape(answer: httpx.Response, ids: dict[str, int]) -> tuple[int, str, str]:
    """A refusal with the ids blanked out: what the caller can learn from it."""
    error = answer.json()["error"]
    message = error["message"]
    for value in sorted(set(ids.values()) | {MISSING}, reverse=True):
        message = re.sub(rf"\b{value}\b", "N", message)
    return answer.status_code, error["code"], message


def carries_money_of_the_network(data: Any) -> bool:
    if isinstance(data, dict):
        return any(
            k in ("revenue", "profit") or carries_money_of_the_network(v) for k, v in data.items()
        )
    if isinstance(data, list):
        return any(carries_money_of_the_network(v) for v in data)
    return False


async def test_every_route_is_walked(api: Api) -> None:
    document = (await api.client.get("/api/v1/openapi.json")).json()
    served = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert len(served) > 30
    assert served - WALKED == set()


async def test_b_cannot_read_change_or_detect_anything_of_a(api: Api) -> None:
    world = await build_world(api)
    ids = world.ids
    nowhere = {name: MISSING for name in ids}
    before = {
        path: (await api.admin("GET", "/api/v1" + fill(path, ids))).json()
        for path in ("/postbacks/{postback_id}", "/affiliates/{affiliate_id}", "/offers/{offer_id}")
    }

    for method, path, data in OF_ALICE_OR_ADMIN:
        seen = await call(api, world.bob["api_key"], method, path, data, ids)
        error_of(seen, 404, "not_found")
        unseen = await call(api, world.bob["api_key"], method, path, data, nowhere)
        assert shape(seen, ids) == shape(unseen, nowhere), (method, path)

    for path, query in LISTS:
        answer = await call(api, world.bob["api_key"], "GET", path, query, ids)
        assert answer.status_code == 200, (path, answer.text)
        for item in answer.json()["items"]:
            assert item.get("affiliate_id") in (None, world.bob["id"]), (path, item)
            assert item.get("id") not in (
                ids["postback_id"],
                ids["conversion_id"],
                ids["delivery_id"],
            ) or (path == "/offers")

    # B's report counts B's traffic only, whatever it asks for; A's own report sees A's.
    for query in ({"group_by": "affiliate_id"}, {"affiliate_id": ids["affiliate_id"]}):
        report = await api.as_key(world.bob["api_key"], "GET", "/api/v1/reports", params=query)
        assert report.status_code == 200, report.text
        for row in report.json()["rows"]:
            assert row.get("affiliate_id") in (None, world.bob["id"]), row
    mine = await api.as_key(
        world.alice["api_key"], "GET", "/api/v1/reports", params={"group_by": "affiliate_id"}
    )
    assert [r["affiliate_id"] for r in mine.json()["rows"]] == [ids["affiliate_id"]]
    assert mine.json()["totals"]["conversions"] == 1
    assert mine.json()["totals"]["cost"] == 0

    # Nothing of A's changed, and A still works.
    for path, found in before.items():
        assert (await api.admin("GET", "/api/v1" + fill(path, ids))).json() == found
    mine = await api.as_key(
        world.alice["api_key"], "GET", f"/api/v1/postbacks/{ids['postback_id']}"
    )
    assert mine.status_code == 200


async def test_a_sees_its_own_world_without_revenue_or_profit(api: Api) -> None:
    world = await build_world(api)
    ids, key = world.ids, world.alice["api_key"]
    readable = [
        "/offers",
        "/offers/{offer_id}",
        "/affiliates/{affiliate_id}",
        "/postbacks",
        "/postbacks/{postback_id}",
        "/postbacks/{postback_id}/tests",
        "/conversions",
        "/conversions/{conversion_id}",
        "/deliveries",
        "/deliveries/{delivery_id}",
        "/tracking-link?offer_id={offer_id}",
        "/reports?group_by=day,offer_id,affiliate_id,sub1",
        "/reports?group_by=event&format=csv",
    ]
    for path in readable:
        answer = await api.as_key(key, "GET", "/api/v1" + fill(path, ids))
        assert answer.status_code == 200, (path, answer.text)
        if "csv" not in path:
            assert not carries_money_of_the_network(answer.json()), path
        assert b"revenue" not in answer.content and b"profit" not in answer.content, path

    detail = (await api.as_key(key, "GET", f"/api/v1/conversions/{ids['conversion_id']}")).json()
    assert [d["id"] for d in detail["deliveries"]] == [ids["delivery_id"]]
    assert detail["payout"] == 1.75

    admin_view = (await api.admin("GET", f"/api/v1/conversions/{ids['conversion_id']}")).json()
    assert admin_view["revenue"] == 2.5 and admin_view["profit"] == 0.75
    # A's, and the network-level ones A never sees (the database is shared by the module).
    others = {d["id"] for d in admin_view["deliveries"]} - {ids["delivery_id"]}
    assert others and ids["delivery_id"] in {d["id"] for d in admin_view["deliveries"]}


@pytest.mark.parametrize("field", ["affiliate_id"])
async def test_a_creates_only_its_own_configs(api: Api, field: str) -> None:
    world = await build_world(api)
    url = "https://alice.example/x?c={click_id}"
    forced = await api.as_key(
        world.alice["api_key"], "POST", "/api/v1/postbacks", json={"url": url}
    )
    assert forced.json()[field] == world.alice["id"]
    for other in (world.bob["id"], None):
        body = {"url": url, field: other}
        refused = await api.as_key(world.alice["api_key"], "POST", "/api/v1/postbacks", json=body)
        assert error_of(refused, 400, "invalid_param")["param"] == field
    network = {"url": "https://alice.example/x?r={revenue}"}
    refused = await api.as_key(world.alice["api_key"], "POST", "/api/v1/postbacks", json=network)
    assert error_of(refused, 400, "invalid_param")["param"] == "url"
