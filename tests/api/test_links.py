"""Ready links: tracking links for affiliates, postback URLs for advertisers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.api.conftest import BASE_URL, Api, error_of


async def test_tracking_link_as_admin_and_as_the_affiliate(api: Api) -> None:
    offer = await api.offer()
    alice, bob = await api.affiliate("Alice"), await api.affiliate("Bob")
    params = {"offer_id": offer["id"], "aff_id": alice["id"]}
    answer = await api.admin("GET", "/api/v1/tracking-link", params=params)
    assert answer.status_code == 200, answer.text
    link = answer.json()
    prefix = f"{BASE_URL}/click?offer_id={offer['id']}&aff_id={alice['id']}"
    assert link["plain_url"] == prefix
    assert link["url"] == prefix + "&sub1={sub1}&sub2={sub2}&sub3={sub3}&sub4={sub4}&sub5={sub5}"
    assert link["subs"] == ["sub1", "sub2", "sub3", "sub4", "sub5"]

    # The affiliate's own key: aff_id defaults to itself and the link is the same.
    own = await api.as_key(alice["api_key"], "GET", "/api/v1/tracking-link", params=params)
    assert own.json() == link
    implicit = {"offer_id": offer["id"]}
    by_default = await api.as_key(alice["api_key"], "GET", "/api/v1/tracking-link", params=implicit)
    assert by_default.json() == link

    # Another affiliate's link, or a paused offer, do not exist for an affiliate key.
    other = await api.as_key(bob["api_key"], "GET", "/api/v1/tracking-link", params=params)
    error_of(other, 404, "not_found")
    await api.admin("PATCH", f"/api/v1/offers/{offer['id']}", json={"status": "paused"})
    paused = await api.as_key(alice["api_key"], "GET", "/api/v1/tracking-link", params=implicit)
    error_of(paused, 404, "not_found")
    assert (await api.admin("GET", "/api/v1/tracking-link", params=params)).status_code == 200


async def test_tracking_link_refusals(api: Api) -> None:
    offer = await api.offer()
    aff = await api.affiliate()
    missing = await api.admin("GET", "/api/v1/tracking-link", params={"offer_id": offer["id"]})
    assert error_of(missing, 400, "invalid_param")["param"] == "aff_id"
    for params in (
        {"offer_id": 999999, "aff_id": aff["id"]},
        {"offer_id": offer["id"], "aff_id": 999999},
    ):
        error_of(await api.admin("GET", "/api/v1/tracking-link", params=params), 404, "not_found")
    bad = await api.admin("GET", "/api/v1/tracking-link", params={"offer_id": "x", "aff_id": 1})
    assert error_of(bad, 400, "invalid_param")["param"] == "offer_id"


async def test_postback_url_with_token_and_status_words(api: Api) -> None:
    adv = await api.advertiser(status_map={"1": "approved", "2": "rejected"})
    answer = await api.admin("GET", f"/api/v1/advertisers/{adv['id']}/postback-url")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["method"] == "GET" and found["token_required"] is True
    assert found["url"].startswith(f"{BASE_URL}/postback?click_id={{click_id}}&txid={{txid}}")
    query = parse_qs(urlsplit(found["url"]).query)
    assert query["token"] == [adv["postback_token"]]
    assert query["status"] == ["{status}"]
    assert found["status_values"] == {"1": "approved", "2": "rejected"}

    square = await api.admin(
        "GET", f"/api/v1/advertisers/{adv['id']}/postback-url", params={"syntax": "brackets"}
    )
    assert "click_id=[click_id]&txid=[txid]" in square.json()["url"]
    assert square.json()["fields"]["revenue"] == "[revenue]"


async def test_postback_url_without_token_and_refusals(api: Api) -> None:
    adv = await api.advertiser(require_token=False)
    found = (await api.admin("GET", f"/api/v1/advertisers/{adv['id']}/postback-url")).json()
    assert "token=" not in found["url"]
    assert found["status_values"]["approved"] == "approved"
    aff = await api.affiliate()
    path = f"/api/v1/advertisers/{adv['id']}/postback-url"
    error_of(await api.as_key(aff["api_key"], "GET", path), 404, "not_found")
    error_of(await api.admin("GET", "/api/v1/advertisers/999999/postback-url"), 404, "not_found")
    odd = await api.admin("GET", path, params={"syntax": "angle"})
    assert error_of(odd, 400, "invalid_param")["param"] == "syntax"
