"""Postback configs: defaults, validation, macros, and affiliate isolation."""

from __future__ import annotations

from typing import Any

from postback.domain.macros import NETWORK_MACROS, POSTBACK_MACROS
from tests.api.conftest import Api, error_of

URL = "https://aff.example/pb?cid={click_id}&p={payout}&s={status}"


async def test_create_with_defaults(api: Api) -> None:
    affiliate = await api.affiliate()
    answer = await api.admin(
        "POST", "/api/v1/postbacks", json={"affiliate_id": affiliate["id"], "url": URL}
    )
    assert answer.status_code == 201, answer.text
    config = answer.json()
    assert config["affiliate_id"] == affiliate["id"]
    assert config["offer_id"] is None
    assert config["method"] == "GET"
    assert config["body"] is None
    assert config["content_type"] == "application/json"
    assert config["events"] == ["*"]
    assert config["statuses"] == ["approved"]
    assert config["active"] is True
    assert config["secret"].startswith("whsec_")
    fetched = await api.admin("GET", f"/api/v1/postbacks/{config['id']}")
    assert fetched.json() == config


async def test_create_full_and_network_level(api: Api) -> None:
    offer = await api.offer()
    network = await api.created(
        "/api/v1/postbacks",
        {
            "affiliate_id": None,
            "offer_id": offer["id"],
            "url": "https://crm.example/hook?r={revenue}&profit={profit}",
            "method": "post",
            "body": '{"revenue": {revenue}, "txid": "{txid}"}',
            "content_type": "application/x-www-form-urlencoded",
            "events": ["sale", "lead", "sale"],
            "statuses": ["approved", "rejected"],
            "active": False,
        },
    )
    assert network["affiliate_id"] is None
    assert network["method"] == "POST"
    assert network["events"] == ["sale", "lead"]
    assert network["statuses"] == ["approved", "rejected"]
    assert network["active"] is False


async def test_unknown_macros_list_the_known_ones(api: Api) -> None:
    affiliate = await api.affiliate()
    answer = await api.admin(
        "POST",
        "/api/v1/postbacks",
        json={"affiliate_id": affiliate["id"], "url": "https://a.example/?r={revenue}"},
    )
    error = error_of(answer, 400, "invalid_param")
    assert error["param"] == "url"
    assert error["known"] == sorted(POSTBACK_MACROS)
    assert "{revenue}" in error["message"] and "{click_id}" in error["message"]
    assert "network-level" in error["message"]

    answer = await api.admin(
        "POST",
        "/api/v1/postbacks",
        json={
            "url": "https://a.example/",
            "method": "POST",
            "body": '{"x": "{not_a_macro}"}',
        },
    )
    error = error_of(answer, 400, "invalid_param")
    assert error["param"] == "body"
    assert error["known"] == sorted(NETWORK_MACROS)
    assert "{not_a_macro}" in error["message"]


async def test_field_errors(api: Api) -> None:
    affiliate = await api.affiliate()
    base: dict[str, Any] = {"affiliate_id": affiliate["id"], "url": URL}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": "mailto:x@example.com"}, "url"),
        ({"url": "https://a.example/ x"}, "url"),
        ({"method": "PUT"}, "method"),
        ({"body": "x"}, "body"),
        ({"method": "GET", "body": "x"}, "body"),
        ({"content_type": "text/plain"}, "content_type"),
        ({"statuses": ["paid"]}, "statuses[0]"),
        ({"statuses": ["*", "approved"]}, "statuses"),
        ({"statuses": []}, "statuses"),
        ({"events": ["bad event"]}, "events[0]"),
        ({"events": ["x" * 65]}, "events[0]"),
        ({"events": []}, "events"),
        ({"active": "no"}, "active"),
        ({"affiliate_id": 999999}, "affiliate_id"),
        ({"offer_id": 999999}, "offer_id"),
        ({"secret": "whsec_mine"}, "secret"),
    ]
    for change, param in cases:
        answer = await api.admin("POST", "/api/v1/postbacks", json={**base, **change})
        assert error_of(answer, 400, "invalid_param")["param"] == param, change
    star = await api.created(
        "/api/v1/postbacks", {**base, "events": ["*"], "statuses": ["*"], "method": "POST"}
    )
    assert star["statuses"] == ["*"]


async def test_patch_and_delete(api: Api) -> None:
    affiliate = await api.affiliate()
    offer = await api.offer()
    config = await api.created("/api/v1/postbacks", {"affiliate_id": affiliate["id"], "url": URL})
    path = f"/api/v1/postbacks/{config['id']}"
    changed = await api.admin(
        "PATCH",
        path,
        json={"method": "POST", "body": "c={click_id}", "offer_id": offer["id"], "active": False},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["method"], body["body"], body["offer_id"], body["active"]) == (
        "POST",
        "c={click_id}",
        offer["id"],
        False,
    )
    assert body["secret"] == config["secret"]

    back_to_get = await api.admin("PATCH", path, json={"method": "GET"})
    assert error_of(back_to_get, 400, "invalid_param")["param"] == "body"
    cleared = await api.admin("PATCH", path, json={"method": "GET", "body": None})
    assert cleared.json()["body"] is None
    revenue = await api.admin("PATCH", path, json={"url": "https://a.example/{profit}"})
    assert error_of(revenue, 400, "invalid_param")["known"] == sorted(POSTBACK_MACROS)
    null_url = await api.admin("PATCH", path, json={"url": None})
    assert error_of(null_url, 400, "invalid_param")["param"] == "url"
    moved = await api.admin("PATCH", path, json={"affiliate_id": None})
    assert error_of(moved, 400, "invalid_param")["param"] == "affiliate_id"

    deleted = await api.admin("DELETE", path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    error_of(await api.admin("GET", path), 404, "not_found")
    error_of(await api.admin("PATCH", path, json={}), 404, "not_found")
    error_of(await api.admin("DELETE", path), 404, "not_found")


async def test_list_filters_by_affiliate(api: Api) -> None:
    first = await api.affiliate()
    second = await api.affiliate()
    one = await api.created("/api/v1/postbacks", {"affiliate_id": first["id"], "url": URL})
    two = await api.created("/api/v1/postbacks", {"affiliate_id": second["id"], "url": URL})
    everything = (await api.admin("GET", "/api/v1/postbacks")).json()["items"]
    assert {one["id"], two["id"]} <= {item["id"] for item in everything}
    only = await api.admin("GET", "/api/v1/postbacks", params={"affiliate_id": first["id"]})
    assert [item["id"] for item in only.json()["items"]] == [one["id"]]


async def test_affiliate_manages_only_its_own(api: Api) -> None:
    alice = await api.affiliate("Alice")
    bob = await api.affiliate("Bob")
    a_key, b_key = alice["api_key"], bob["api_key"]

    mine = await api.as_key(a_key, "POST", "/api/v1/postbacks", json={"url": URL})
    assert mine.status_code == 201, mine.text
    config = mine.json()
    assert config["affiliate_id"] == alice["id"]
    explicit = await api.as_key(
        a_key, "POST", "/api/v1/postbacks", json={"url": URL, "affiliate_id": alice["id"]}
    )
    assert explicit.status_code == 201

    for affiliate_id in (None, bob["id"]):
        refused = await api.as_key(
            a_key, "POST", "/api/v1/postbacks", json={"url": URL, "affiliate_id": affiliate_id}
        )
        assert error_of(refused, 400, "invalid_param")["param"] == "affiliate_id"
    network_macro = await api.as_key(
        a_key, "POST", "/api/v1/postbacks", json={"url": "https://a.example/{revenue}"}
    )
    assert error_of(network_macro, 400, "invalid_param")["known"] == sorted(POSTBACK_MACROS)

    path = f"/api/v1/postbacks/{config['id']}"
    error_of(await api.as_key(b_key, "GET", path), 404, "not_found")
    error_of(await api.as_key(b_key, "PATCH", path, json={"active": False}), 404, "not_found")
    error_of(await api.as_key(b_key, "DELETE", path), 404, "not_found")
    assert (await api.admin("GET", path)).json()["active"] is True

    bobs = (await api.as_key(b_key, "GET", "/api/v1/postbacks")).json()["items"]
    assert bobs == []
    peek = await api.as_key(b_key, "GET", "/api/v1/postbacks", params={"affiliate_id": alice["id"]})
    assert peek.json()["items"] == []
    alices = (await api.as_key(a_key, "GET", "/api/v1/postbacks")).json()["items"]
    assert {item["affiliate_id"] for item in alices} == {alice["id"]}

    network = await api.created("/api/v1/postbacks", {"url": "https://crm.example/{revenue}"})
    network_path = f"/api/v1/postbacks/{network['id']}"
    error_of(await api.as_key(a_key, "GET", network_path), 404, "not_found")
    error_of(await api.as_key(a_key, "DELETE", network_path), 404, "not_found")

    changed = await api.as_key(a_key, "PATCH", path, json={"events": ["lead"]})
    assert changed.json()["events"] == ["lead"]
    assert (await api.as_key(a_key, "DELETE", path)).status_code == 204
