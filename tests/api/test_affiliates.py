"""Affiliates: the key is shown once and works; admin manages, an affiliate sees itself."""

from __future__ import annotations

from tests.api.conftest import Api, error_of


async def test_create_returns_a_working_key(api: Api) -> None:
    answer = await api.admin("POST", "/api/v1/affiliates", json={"name": "Pub"})
    assert answer.status_code == 201
    created = answer.json()
    assert set(created) == {"id", "name", "status", "api_key", "created_at", "updated_at"}
    assert created["status"] == "active"
    assert created["api_key"].startswith("aff_")
    itself = await api.as_key(created["api_key"], "GET", f"/api/v1/affiliates/{created['id']}")
    assert itself.status_code == 200
    assert "api_key" not in itself.json()
    assert itself.json()["name"] == "Pub"


async def test_list_get_patch(api: Api) -> None:
    created = await api.affiliate("One")
    listed = (await api.admin("GET", "/api/v1/affiliates")).json()["items"]
    assert created["id"] in {item["id"] for item in listed}
    assert all("api_key" not in item for item in listed)
    path = f"/api/v1/affiliates/{created['id']}"
    changed = await api.admin("PATCH", path, json={"name": "Two", "status": "paused"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Two"
    assert changed.json()["status"] == "paused"
    error = error_of(await api.admin("PATCH", path, json={"status": "gone"}), 400, "invalid_param")
    assert error["param"] == "status"
    error_of(await api.admin("PATCH", path, json={"api_key": "x"}), 400, "invalid_param")
    error_of(await api.admin("GET", "/api/v1/affiliates/999999"), 404, "not_found")
    error_of(await api.admin("PATCH", "/api/v1/affiliates/999999", json={}), 404, "not_found")


async def test_affiliate_sees_only_itself(api: Api) -> None:
    first = await api.affiliate("A")
    second = await api.affiliate("B")
    key = first["api_key"]
    error_of(await api.as_key(key, "GET", f"/api/v1/affiliates/{second['id']}"), 404, "not_found")
    error_of(await api.as_key(key, "GET", "/api/v1/affiliates"), 404, "not_found")
    own = await api.as_key(key, "PATCH", f"/api/v1/affiliates/{first['id']}", json={"name": "x"})
    error_of(own, 404, "not_found")


async def test_replacing_the_key(api: Api) -> None:
    created = await api.affiliate()
    old = created["api_key"]
    answer = await api.as_key(old, "POST", f"/api/v1/affiliates/{created['id']}/key")
    assert answer.status_code == 200
    new = answer.json()["api_key"]
    assert new != old
    error_of(await api.as_key(old, "GET", "/api/v1/offers"), 401, "unauthorized")
    assert (await api.as_key(new, "GET", "/api/v1/offers")).status_code == 200
    other = await api.affiliate()
    stolen = await api.as_key(new, "POST", f"/api/v1/affiliates/{other['id']}/key")
    error_of(stolen, 404, "not_found")
    by_admin = await api.admin("POST", f"/api/v1/affiliates/{other['id']}/key")
    assert by_admin.status_code == 200
    error_of(await api.admin("POST", "/api/v1/affiliates/999999/key"), 404, "not_found")


async def test_archive_refuses_the_key(api: Api) -> None:
    aff = await api.affiliate()
    path = f"/api/v1/affiliates/{aff['id']}"
    assert (await api.as_key(aff["api_key"], "GET", path)).status_code == 200
    archived = await api.as_key(aff["api_key"], "PATCH", path, json={"status": "archived"})
    error_of(archived, 404, "not_found")
    assert (await api.admin("PATCH", path, json={"status": "archived"})).status_code == 200
    assert (await api.admin("GET", path)).json()["status"] == "archived"
    error_of(await api.as_key(aff["api_key"], "GET", path), 401, "unauthorized")
    listed = (await api.admin("GET", "/api/v1/affiliates")).json()["items"]
    assert aff["id"] not in {a["id"] for a in listed}
