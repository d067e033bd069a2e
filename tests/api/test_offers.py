"""Offers: exact money, URL macros, and the affiliate's view (active only, no revenue)."""

from __future__ import annotations

from postback.domain.macros import CLICK_MACROS
from tests.api.conftest import BASE_URL, Api, error_of


async def test_create_and_money_is_exact(api: Api) -> None:
    advertiser = await api.advertiser()
    raw = (
        b'{"advertiser_id": %d, "name": "O", "destination_url": "https://s.example/?c={click_id}",'
        b' "revenue": 0.1, "payout": 0.0001}' % advertiser["id"]
    )
    answer = await api.admin(
        "POST", "/api/v1/offers", content=raw, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 201, answer.text
    assert b'"revenue":0.1' in answer.content
    assert b'"payout":0.0001' in answer.content
    offer = answer.json()
    assert offer["currency"] == "USD"
    assert offer["status"] == "active"
    assert offer["fallback_url"] is None
    fetched = await api.admin("GET", f"/api/v1/offers/{offer['id']}")
    assert b'"revenue":0.1,' in fetched.content or fetched.content.endswith(b'"revenue":0.1}')


async def test_money_as_strings_and_large_values(api: Api) -> None:
    offer = await api.offer(revenue="123456789012.3456", payout="7", currency="eur")
    answer = await api.admin("GET", f"/api/v1/offers/{offer['id']}")
    assert b'"revenue":123456789012.3456' in answer.content
    assert b'"payout":7' in answer.content
    assert offer["currency"] == "EUR"


async def test_money_refusals(api: Api) -> None:
    advertiser = await api.advertiser()
    base = {
        "advertiser_id": advertiser["id"],
        "name": "O",
        "destination_url": "https://s.example/",
        "payout": 1,
    }
    for revenue in ["0.12345", 0.12345, -1, "-0.5", "abc", True, None, [], "1e400", "NaN", "1e13"]:
        answer = await api.admin("POST", "/api/v1/offers", json={**base, "revenue": revenue})
        assert error_of(answer, 400, "invalid_param")["param"] == "revenue", revenue
    raw = b'{"advertiser_id": 1, "name": "O", "destination_url": "https://s.example/",'
    raw += b' "payout": 1, "revenue": 1e999999999}'
    answer = await api.admin(
        "POST", "/api/v1/offers", content=raw, headers={"content-type": "application/json"}
    )
    assert error_of(answer, 400, "invalid_param")["param"] == "revenue"


async def test_url_checks(api: Api) -> None:
    advertiser = await api.advertiser()
    base = {"advertiser_id": advertiser["id"], "name": "O", "revenue": 1, "payout": 1}
    bad_urls = [
        "ftp://s.example/",
        "/relative",
        "https://",
        "https://s.example/a b",
        "javascript:alert(1)",
    ]
    for url in bad_urls:
        answer = await api.admin("POST", "/api/v1/offers", json={**base, "destination_url": url})
        assert error_of(answer, 400, "invalid_param")["param"] == "destination_url", url

    unknown = await api.admin(
        "POST",
        "/api/v1/offers",
        json={**base, "destination_url": "https://s.example/?c={clickid}&s={sub1}"},
    )
    error = error_of(unknown, 400, "invalid_param")
    assert error["param"] == "destination_url"
    assert "{clickid}" in error["message"]
    assert error["known"] == sorted(CLICK_MACROS)
    assert {"click_id", "offer_id", "aff_id", "sub1", "sub5", "country", "cost"} <= set(
        error["known"]
    )
    assert "{click_id}" in error["message"]

    fallback = await api.admin(
        "POST",
        "/api/v1/offers",
        json={**base, "destination_url": "https://s.example/", "fallback_url": "https://f/{x}"},
    )
    assert error_of(fallback, 400, "invalid_param")["param"] == "fallback_url"
    # Braces that are not a {macro} are plain text.
    odd = await api.admin(
        "POST",
        "/api/v1/offers",
        json={**base, "destination_url": 'https://s.example/?j={"a":1}&c={click_id}'},
    )
    assert odd.status_code == 201


async def test_advertiser_must_exist(api: Api) -> None:
    answer = await api.admin(
        "POST",
        "/api/v1/offers",
        json={
            "advertiser_id": 987654,
            "name": "O",
            "destination_url": "https://s.example/",
            "revenue": 1,
            "payout": 1,
        },
    )
    error = error_of(answer, 400, "invalid_param")
    assert error["param"] == "advertiser_id"


async def test_patch(api: Api) -> None:
    offer = await api.offer()
    path = f"/api/v1/offers/{offer['id']}"
    answer = await api.admin(
        "PATCH",
        path,
        json={"payout": "0.3", "status": "paused", "fallback_url": "https://f.example/{sub1}"},
    )
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert b'"payout":0.3' in answer.content
    assert changed["revenue"] == 2.5
    assert changed["status"] == "paused"
    assert changed["fallback_url"] == "https://f.example/{sub1}"
    cleared = (await api.admin("PATCH", path, json={"fallback_url": None})).json()
    assert cleared["fallback_url"] is None

    refusals = [
        ({"revenue": None}, "revenue"),
        ({"status": "deleted"}, "status"),
        ({"advertiser_id": 999999}, "advertiser_id"),
        ({"destination_url": "https://s.example/{payout}"}, "destination_url"),
        ({"currency": "EURO"}, "currency"),
    ]
    for body, param in refusals:
        error = error_of(await api.admin("PATCH", path, json=body), 400, "invalid_param")
        assert error["param"] == param, body
    error_of(await api.admin("PATCH", "/api/v1/offers/999999", json={}), 404, "not_found")


async def test_attribution_days(api: Api) -> None:
    offer = await api.offer()
    assert offer["attribution_days"] == 30
    path = f"/api/v1/offers/{offer['id']}"
    assert (await api.offer(attribution_days=3650))["attribution_days"] == 3650
    assert (await api.offer(attribution_days=1))["attribution_days"] == 1

    changed = await api.admin("PATCH", path, json={"attribution_days": 7})
    assert changed.status_code == 200, changed.text
    assert changed.json()["attribution_days"] == 7
    assert (await api.admin("GET", path)).json()["attribution_days"] == 7
    kept = await api.admin("PATCH", path, json={"payout": "2"})
    assert kept.json()["attribution_days"] == 7

    advertiser_id = offer["advertiser_id"]
    for value in (0, 3651, "x", "7", True, 1.5, None, -1):
        body = {
            "advertiser_id": advertiser_id,
            "name": "O",
            "destination_url": "https://s.example/",
            "revenue": 1,
            "payout": 1,
            "attribution_days": value,
        }
        created = await api.admin("POST", "/api/v1/offers", json=body)
        assert error_of(created, 400, "invalid_param")["param"] == "attribution_days", value
        patched = await api.admin("PATCH", path, json={"attribution_days": value})
        assert error_of(patched, 400, "invalid_param")["param"] == "attribution_days", value
    assert (await api.admin("GET", path)).json()["attribution_days"] == 7


async def test_affiliate_sees_active_offers_without_revenue(api: Api) -> None:
    active = await api.offer(name="Active")
    paused = await api.offer(name="Paused", status="paused")
    affiliate = await api.affiliate()
    key = affiliate["api_key"]

    listed = await api.as_key(key, "GET", "/api/v1/offers")
    assert listed.status_code == 200
    items = {item["id"]: item for item in listed.json()["items"]}
    assert active["id"] in items
    assert paused["id"] not in items
    assert all(item["status"] == "active" for item in items.values())
    assert b"revenue" not in listed.content
    seen = items[active["id"]]
    assert seen["payout"] == 1.75
    assert seen["tracking_url"] == (
        f"{BASE_URL}/click?offer_id={active['id']}&aff_id={affiliate['id']}"
    )

    one = await api.as_key(key, "GET", f"/api/v1/offers/{active['id']}")
    assert one.status_code == 200
    assert "revenue" not in one.json()
    error_of(await api.as_key(key, "GET", f"/api/v1/offers/{paused['id']}"), 404, "not_found")
    change = await api.as_key(key, "PATCH", f"/api/v1/offers/{active['id']}", json={"payout": 9})
    error_of(change, 404, "not_found")

    admin_view = (await api.admin("GET", "/api/v1/offers")).json()["items"]
    assert {active["id"], paused["id"]} <= {item["id"] for item in admin_view}
    assert all("revenue" in item for item in admin_view)


async def test_archive(api: Api) -> None:
    offer = await api.offer()
    aff = await api.affiliate()
    path = f"/api/v1/offers/{offer['id']}"
    assert (await api.admin("PATCH", path, json={"status": "archived"})).status_code == 200
    kept = await api.admin("GET", path)
    assert kept.status_code == 200 and kept.json()["status"] == "archived"
    listed = {o["id"] for o in (await api.admin("GET", "/api/v1/offers")).json()["items"]}
    assert offer["id"] not in listed
    archived = await api.admin("GET", "/api/v1/offers", params={"status": "archived"})
    assert offer["id"] in {o["id"] for o in archived.json()["items"]}
    error_of(await api.as_key(aff["api_key"], "GET", path), 404, "not_found")
    back = await api.admin("PATCH", path, json={"status": "active"})
    assert back.json()["status"] == "active"
