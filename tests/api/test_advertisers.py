"""Advertisers: create, list, read, change (admin only)."""

from __future__ import annotations

import re

from tests.api.conftest import Api, error_of

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


async def test_create_with_defaults(api: Api) -> None:
    answer = await api.admin("POST", "/api/v1/advertisers", json={"name": "  Acme  "})
    assert answer.status_code == 201
    body = answer.json()
    assert body["name"] == "Acme"
    assert body["allowed_ips"] == []
    assert body["status_map"] == {}
    assert body["require_token"] is True
    assert len(body["postback_token"]) >= 20
    assert ISO_Z.match(body["created_at"]) and ISO_Z.match(body["updated_at"])


async def test_create_with_everything_then_read(api: Api) -> None:
    created = await api.advertiser(
        name="Shop",
        allowed_ips=["203.0.113.7", "10.1.2.3/8", "2001:db8::1/32"],
        status_map={"1": "approved", "sale": "approved", "declined": "rejected"},
        require_token=False,
    )
    assert created["allowed_ips"] == ["203.0.113.7/32", "10.0.0.0/8", "2001:db8::/32"]
    assert created["require_token"] is False
    fetched = await api.admin("GET", f"/api/v1/advertisers/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    listed = (await api.admin("GET", "/api/v1/advertisers")).json()
    assert created in listed["items"]
    assert listed["next_cursor"] is None


async def test_field_errors(api: Api) -> None:
    cases = [
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "a", "allowed_ips": ["10.0.0.300"]}, "allowed_ips[0]"),
        ({"name": "a", "allowed_ips": "10.0.0.1"}, "allowed_ips"),
        ({"name": "a", "status_map": {"sale": "paid"}}, "status_map.sale"),
        ({"name": "a", "require_token": "yes"}, "require_token"),
        ({"name": "a", "postback_token": "mine"}, "postback_token"),
    ]
    for body, param in cases:
        answer = await api.admin("POST", "/api/v1/advertisers", json=body)
        assert error_of(answer, 400, "invalid_param")["param"] == param, body


async def test_patch(api: Api) -> None:
    created = await api.advertiser(status_map={"1": "approved"})
    path = f"/api/v1/advertisers/{created['id']}"
    answer = await api.admin("PATCH", path, json={"name": "Renamed", "allowed_ips": ["::1"]})
    assert answer.status_code == 200
    changed = answer.json()
    assert changed["name"] == "Renamed"
    assert changed["allowed_ips"] == ["::1/128"]
    assert changed["status_map"] == {"1": "approved"}
    assert changed["postback_token"] == created["postback_token"]

    rotated = (await api.admin("PATCH", path, json={"rotate_token": True})).json()
    assert rotated["postback_token"] != created["postback_token"]
    unchanged = (await api.admin("PATCH", path, json={})).json()
    assert unchanged["postback_token"] == rotated["postback_token"]


async def test_patch_refusals(api: Api) -> None:
    created = await api.advertiser()
    path = f"/api/v1/advertisers/{created['id']}"
    error = error_of(await api.admin("PATCH", path, json={"name": None}), 400, "invalid_param")
    assert error["param"] == "name"
    assert error["message"] == "must not be null"
    bad = await api.admin("PATCH", path, json={"status_map": {"x": "won"}})
    assert error_of(bad, 400, "invalid_param")["param"] == "status_map.x"
    error_of(await api.admin("PATCH", "/api/v1/advertisers/999999", json={}), 404, "not_found")
    error_of(await api.admin("GET", "/api/v1/advertisers/999999"), 404, "not_found")


async def test_delete_only_without_offers(api: Api) -> None:
    lonely = await api.advertiser()
    busy = await api.advertiser()
    await api.offer(advertiser_id=busy["id"])
    refused = await api.admin("DELETE", f"/api/v1/advertisers/{busy['id']}")
    assert "offers" in error_of(refused, 409, "in_use")["message"]
    assert (await api.admin("GET", f"/api/v1/advertisers/{busy['id']}")).status_code == 200
    assert (await api.admin("DELETE", f"/api/v1/advertisers/{lonely['id']}")).status_code == 204
    error_of(await api.admin("GET", f"/api/v1/advertisers/{lonely['id']}"), 404, "not_found")
    error_of(await api.admin("DELETE", f"/api/v1/advertisers/{lonely['id']}"), 404, "not_found")
