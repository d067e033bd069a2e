"""POST /api/v1/costs: the admin's traffic costs spread over the day's clicks, seen at
once in the reports' cost and ROI; bad rows are 400s naming the field and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from postback.domain.costs import MAX_ROWS
from tests.api.conftest import Api, convert, error_of

PATH = "/api/v1/costs"
DAY = "2024-04-10"
WHEN = datetime(2024, 4, 10, 12, tzinfo=UTC)


async def world(api: Api) -> dict[str, Any]:
    offer = await api.offer(revenue="10", payout="4")
    alice = await api.affiliate("Alice")
    await convert(api.store, offer["id"], alice["id"], txid="A", when=WHEN)
    await convert(api.store, offer["id"], alice["id"], txid="B", status="pending", when=WHEN)
    return {"offer": offer, "alice": alice}


async def totals(api: Api, offer_id: int, key: str | None = None) -> dict[str, Any]:
    params = {"from": DAY, "to": DAY, "offer_id": offer_id}
    answer = await (
        api.as_key(key, "GET", "/api/v1/reports", params=params)
        if key
        else api.admin("GET", "/api/v1/reports", params=params)
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["totals"]
    return found


async def test_costs_are_spread_and_reported_with_roi(api: Api) -> None:
    w = await world(api)
    offer, alice = w["offer"]["id"], w["alice"]["id"]
    rows = [
        {"day": DAY, "offer_id": offer, "affiliate_id": alice, "amount": "3"},
        {"day": "2024-04-11", "offer_id": offer, "affiliate_id": alice, "amount": 1},
    ]
    answer = await api.admin("POST", PATH, json={"rows": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["applied"] == 1 and body["unmatched"] == 1
    assert [row["clicks"] for row in body["rows"]] == [2, 0]
    assert body["rows"][0]["amount"] == 3 and body["rows"][0]["sub1"] is None
    admin = await totals(api, offer)
    # (10 - 4 - 3) / (4 + 3) x 100 = 42.857142..
    assert (admin["cost"], admin["roi"]) == (3, 42.8571)
    mine = await totals(api, offer, w["alice"]["api_key"])
    assert (mine["cost"], mine["roi"]) == (3, 33.3333)  # (4 - 3) / 3 x 100
    # Sent again: replaced, not added.
    again = await api.admin("POST", PATH, json={"rows": rows[:1]})
    assert again.status_code == 200 and (await totals(api, offer))["cost"] == 3


async def test_only_the_admin_sets_costs(api: Api) -> None:
    w = await world(api)
    row = {"day": DAY, "offer_id": w["offer"]["id"], "affiliate_id": w["alice"]["id"]}
    answer = await api.as_key(
        w["alice"]["api_key"], "POST", PATH, json={"rows": [{**row, "amount": 9}]}
    )
    assert answer.status_code == 404, answer.text  # as for every admin-only path
    assert (await totals(api, w["offer"]["id"]))["cost"] == 0


async def test_bad_rows_are_named_and_change_nothing(api: Api) -> None:
    w = await world(api)
    good = {"day": DAY, "offer_id": w["offer"]["id"], "affiliate_id": w["alice"]["id"], "amount": 1}
    cases: list[tuple[Any, str]] = [
        ({"rows": [good, {**good, "amount": "-1"}]}, "rows[1].amount"),
        ({"rows": [good, {**good, "amount": "1e400"}]}, "rows[1].amount"),
        ({"rows": [good, {**good, "amount": "NaN"}]}, "rows[1].amount"),
        ({"rows": [{**good, "day": "10/04/2024"}]}, "rows[0].day"),
        ({"rows": [good, {**good, "offer_id": 999_999}]}, "rows[1].offer_id"),
        ({"rows": [good, {**good, "affiliate_id": 999_999}]}, "rows[1].affiliate_id"),
        ({"rows": [{**good, "sub9": "x"}]}, "rows[0].sub9"),
        ({"rows": [good], "tz": "Nowhere/City"}, "tz"),
        ({"rows": []}, "rows"),
    ]
    for body, param in cases:
        answer = await api.admin("POST", PATH, json=body)
        assert error_of(answer, 400, "invalid_param")["param"] == param, (param, answer.text)
    assert (await totals(api, w["offer"]["id"]))["cost"] == 0


async def test_too_many_rows_are_a_400_before_the_body_limit(api: Api) -> None:
    w = await world(api)
    row = {"day": DAY, "offer_id": w["offer"]["id"], "affiliate_id": 1, "amount": 1}
    answer = await api.admin("POST", PATH, json={"rows": [row] * (MAX_ROWS + 1)})
    assert error_of(answer, 400, "invalid_param")["param"] == "rows"
