"""Conversions: filters, pages, history and deliveries; affiliates see their own, no revenue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.api.conftest import Api, convert, error_of


async def world(api: Api) -> dict[str, Any]:
    offer = await api.offer(revenue="0.3", payout="0.1")
    alice = await api.affiliate("Alice")
    bob = await api.affiliate("Bob")
    pb = "https://aff.example/pb?cid={click_id}&p={payout}"
    for affiliate in (alice, bob):
        await api.created("/api/v1/postbacks", {"affiliate_id": affiliate["id"], "url": pb})
    await api.created(
        "/api/v1/postbacks",
        {"offer_id": offer["id"], "url": "https://crm.example/?r={revenue}", "statuses": ["*"]},
    )
    a = await convert(api.store, offer["id"], alice["id"], txid="A1", revenue=Decimal("0.2"))
    b = await convert(api.store, offer["id"], bob["id"], txid="B1")
    return {"offer": offer, "alice": alice, "bob": bob, "a": a.conversion, "b": b.conversion}


async def test_admin_list_and_detail(api: Api) -> None:
    w = await world(api)
    answer = await api.admin("GET", "/api/v1/conversions", params={"offer_id": w["offer"]["id"]})
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [item["id"] for item in items] == [w["b"].id, w["a"].id]  # newest first
    assert b'"revenue":0.2,' in answer.content and b'"profit":0.1' in answer.content
    a = items[1]
    assert a["txid"] == "A1" and a["event"] == "sale" and a["status"] == "approved"
    assert a["affiliate_id"] == w["alice"]["id"]
    assert a["created_at"].endswith("Z")

    await convert(
        api.store,
        w["offer"]["id"],
        w["alice"]["id"],
        txid="A1",
        status="rejected",
        click_id=w["a"].click_id,
    )
    detail = await api.admin("GET", f"/api/v1/conversions/{w['a'].id}")
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "rejected"
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        (None, "approved"),
        ("approved", "rejected"),
    ]
    # Alice's config on approval, the network config on approval and on rejection.
    assert len(body["deliveries"]) == 3
    assert all(d["attempts"] == [] and d["state"] == "pending" for d in body["deliveries"])
    assert any("r=0.2" in d["url"] for d in body["deliveries"])
    error_of(await api.admin("GET", "/api/v1/conversions/999999"), 404, "not_found")


async def test_filters(api: Api) -> None:
    w = await world(api)
    offer_id = w["offer"]["id"]
    old = datetime(2020, 3, 1, 12, 0, tzinfo=UTC)
    lead = await convert(api.store, offer_id, w["bob"]["id"], event="lead", when=old)
    pending = await convert(api.store, offer_id, w["bob"]["id"], status="pending")

    async def ids(**params: Any) -> list[int]:
        answer = await api.admin(
            "GET", "/api/v1/conversions", params={"offer_id": offer_id, **params}
        )
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await ids(event="lead") == [lead.conversion.id]
    assert await ids(status="pending") == [pending.conversion.id]
    assert await ids(affiliate_id=w["alice"]["id"]) == [w["a"].id]
    assert await ids(txid="B1") == [w["b"].id]
    assert await ids(click_id=w["a"].click_id) == [w["a"].id]
    assert await ids(**{"from": "2020-03-01", "to": "2020-03-01"}) == [lead.conversion.id]
    assert await ids(**{"from": "2020-03-01T12:00:00Z", "to": "2020-03-01T12:00:01+00:00"}) == [
        lead.conversion.id
    ]
    assert await ids(**{"to": "2020-03-01T12:00:00Z"}) == []
    assert lead.conversion.id not in await ids(**{"from": "2021-01-01"})

    for params, param in [
        ({"from": "yesterday"}, "from"),
        ({"to": "2020-13-01"}, "to"),
        ({"from": "2020-03-03", "to": "2020-03-01"}, "to"),
        ({"status": "won"}, "status"),
        ({"event": "a b"}, "event"),
        ({"offer_id": "x"}, "offer_id"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "99999999999999999999"}, "cursor"),
        ({"cursor": "9999999999999999999"}, "cursor"),
        ({"txid": "a\x00"}, "txid"),
    ]:
        answer = await api.admin("GET", "/api/v1/conversions", params=params)
        assert error_of(answer, 400, "invalid_param")["param"] == param, params


async def test_pages(api: Api) -> None:
    offer = await api.offer()
    affiliate = await api.affiliate()
    made = [
        (await convert(api.store, offer["id"], affiliate["id"])).conversion.id for _ in range(5)
    ]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"offer_id": offer["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.admin("GET", "/api/v1/conversions", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)
    assert pages == 3


async def test_affiliate_sees_own_without_revenue(api: Api) -> None:
    w = await world(api)
    key = w["alice"]["api_key"]
    listed = await api.as_key(key, "GET", "/api/v1/conversions")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {item["affiliate_id"] for item in items} == {w["alice"]["id"]}
    assert w["a"].id in {item["id"] for item in items}
    assert all("revenue" not in item and "profit" not in item for item in items)
    assert b"revenue" not in listed.content and b"profit" not in listed.content

    other = await api.as_key(
        key, "GET", "/api/v1/conversions", params={"affiliate_id": w["bob"]["id"]}
    )
    assert other.json()["items"] == []

    detail = await api.as_key(key, "GET", f"/api/v1/conversions/{w['a'].id}")
    assert detail.status_code == 200
    body = detail.json()
    assert "revenue" not in body and "profit" not in body
    assert body["payout"] == 0.1
    assert len(body["history"]) >= 1
    # Only its own config's delivery: the network one carries revenue.
    assert len(body["deliveries"]) == 1
    assert b"revenue" not in detail.content
    error_of(await api.as_key(key, "GET", f"/api/v1/conversions/{w['b'].id}"), 404, "not_found")


async def test_walking_pages_while_conversions_arrive(api: Api) -> None:
    """Newest first with an id cursor: arrivals land before page one, never inside the walk."""
    offer = await api.offer()
    aff = await api.affiliate()
    for _ in range(10):
        await convert(api.store, offer["id"], aff["id"])
    params: dict[str, Any] = {"affiliate_id": aff["id"], "limit": 3}
    first = (await api.admin("GET", "/api/v1/conversions", params=params)).json()
    at_start = {c["id"] for c in first["items"]}
    walked = [c["id"] for c in first["items"]]
    cursor = first["next_cursor"]
    arrived = []
    while cursor is not None:
        for _ in range(2):
            arrived.append((await convert(api.store, offer["id"], aff["id"])).conversion.id)
        page = (
            await api.admin("GET", "/api/v1/conversions", params={**params, "cursor": cursor})
        ).json()
        walked += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert len(walked) == len(set(walked)) == 10
    assert walked == sorted(walked, reverse=True)
    assert at_start <= set(walked) and not set(arrived) & set(walked)
    fresh = (await api.admin("GET", "/api/v1/conversions", params={**params, "limit": 100})).json()
    assert [c["id"] for c in fresh["items"]] == sorted(arrived, reverse=True) + walked


async def test_the_trace_runs_from_click_to_partner(api: Api) -> None:
    offer = await api.offer()
    aff = await api.affiliate()
    first = await convert(api.store, offer["id"], aff["id"], status="pending", txid="T-trace")
    conversion = first.conversion
    await convert(
        api.store,
        offer["id"],
        aff["id"],
        status="approved",
        txid="T-trace",
        click_id=conversion.click_id,
    )
    trace = (await api.admin("GET", f"/api/v1/conversions/{conversion.id}")).json()
    assert trace["click"]["click_id"] == conversion.click_id
    assert trace["click"]["sub1"] == "s1" and trace["click"]["country"] == "DE"
    assert [h["to_status"] for h in trace["history"]] == ["pending", "approved"]
    assert [i["conversion_id"] for i in trace["incoming"]] == [conversion.id, conversion.id]
    assert trace["incoming"][0]["id"] < trace["incoming"][1]["id"]

    mine = (await api.as_key(aff["api_key"], "GET", f"/api/v1/conversions/{conversion.id}")).json()
    assert mine["click"] == trace["click"]
    assert "incoming" not in mine

    touched = await api.admin("GET", "/api/v1/incoming", params={"conversion_id": conversion.id})
    assert [i["id"] for i in touched.json()["items"]] == [i["id"] for i in trace["incoming"]][::-1]
