"""GET /api/v1/reports: figures as JSON and CSV, in real time; affiliates see their own rows
without revenue; every bad parameter is a 400 naming it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.api.conftest import Api, convert, error_of

PATH = "/api/v1/reports"
DAY = "2024-04-10"
WHEN = datetime(2024, 4, 10, 12, tzinfo=UTC)


async def world(api: Api) -> dict[str, Any]:
    offer = await api.offer(revenue="12.3456", payout="7.0001")
    alice = await api.affiliate("Alice")
    bob = await api.affiliate("Bob")
    a = await convert(api.store, offer["id"], alice["id"], txid="A", when=WHEN)
    await convert(api.store, offer["id"], bob["id"], txid="B", status="pending", when=WHEN)
    return {"offer": offer, "alice": alice, "bob": bob, "a": a.conversion}


def params(offer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"from": DAY, "to": DAY, "offer_id": offer["id"], **extra}


async def test_admin_report_as_json(api: Api) -> None:
    w = await world(api)
    answer = await api.admin(
        "GET", PATH, params=params(w["offer"], group_by="day,affiliate_id", sort="-revenue")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"rows", "totals", "row_count"}
    first, second = body["rows"]
    assert first == {
        "day": DAY,
        "affiliate_id": w["alice"]["id"],
        "clicks": 1,
        "unique_clicks": 1,
        "bot_clicks": 0,
        "conversions": 1,
        "approved": 1,
        "pending": 0,
        "rejected": 0,
        "revenue": 12.3456,
        "payout": 7.0001,
        "cost": 0,
        "profit": 5.3455,
        "cr": 100,
        "epc": 7.0001,
        "roi": 76.3632,  # (12.3456 - 7.0001 - 0) / (7.0001 + 0) x 100
    }
    assert second["affiliate_id"] == w["bob"]["id"] and second["pending"] == 1
    assert body["totals"]["clicks"] == 2 and body["totals"]["cr"] == 100
    assert body["row_count"] == 2
    # Money is written from the exact decimal, never through a float.
    assert b'"revenue":12.3456,' in answer.content and b'"epc":3.5001' in answer.content


async def test_figures_change_as_soon_as_the_postback_is_stored(api: Api) -> None:
    w = await world(api)

    async def totals() -> dict[str, Any]:
        answer = await api.admin("GET", PATH, params=params(w["offer"]))
        assert answer.status_code == 200
        found: dict[str, Any] = answer.json()["totals"]
        return found

    assert (await totals())["approved"] == 1
    later = WHEN + timedelta(days=3)
    a = w["a"]
    await convert(
        api.store,
        w["offer"]["id"],
        w["alice"]["id"],
        txid="A",
        status="refunded",
        click_id=a.click_id,
        when=later,
    )
    after = await totals()
    assert (after["conversions"], after["approved"], after["revenue"]) == (2, 0, 0)


async def test_affiliates_see_their_own_rows_without_revenue(api: Api) -> None:
    w = await world(api)
    key = w["alice"]["api_key"]
    answer = await api.as_key(key, "GET", PATH, params=params(w["offer"], group_by="affiliate_id"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [row["affiliate_id"] for row in body["rows"]] == [w["alice"]["id"]]
    for figures in (*body["rows"], body["totals"]):
        assert "revenue" not in figures and "profit" not in figures
        assert figures["payout"] == 7.0001
    others = await api.as_key(
        key, "GET", PATH, params=params(w["offer"], affiliate_id=w["bob"]["id"])
    )
    assert others.json()["rows"] == [] and others.json()["totals"]["clicks"] == 0
    csv_answer = await api.as_key(key, "GET", PATH, params=params(w["offer"], format="csv"))
    assert "revenue" not in csv_answer.text and "profit" not in csv_answer.text
    sorted_by_revenue = await api.as_key(key, "GET", PATH, params={"sort": "-revenue"})
    assert error_of(sorted_by_revenue, 400, "invalid_param")["param"] == "sort"


async def test_csv_download(api: Api) -> None:
    w = await world(api)
    answer = await api.admin(
        "GET", PATH, params=params(w["offer"], group_by=["day", "sub1"], format="csv")
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert f"report_{DAY}_{DAY}.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows == [
        {
            "day": DAY,
            "sub1": "s1",
            "clicks": "2",
            "unique_clicks": "2",
            "bot_clicks": "0",
            "conversions": "2",
            "approved": "1",
            "pending": "1",
            "rejected": "0",
            "revenue": "12.3456",
            "payout": "7.0001",
            "cost": "0",
            "profit": "5.3455",
            "cr": "100",
            "epc": "3.5001",
            "roi": "76.3632",
        }
    ]


async def test_limit_keeps_totals_and_counts_rows(api: Api) -> None:
    w = await world(api)
    answer = await api.admin(
        "GET", PATH, params=params(w["offer"], group_by="affiliate_id", limit="1", sort="pending")
    )
    body = answer.json()
    assert [row["affiliate_id"] for row in body["rows"]] == [w["alice"]["id"]]
    assert body["row_count"] == 2 and body["totals"]["clicks"] == 2


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"from": "10/04/2024"}, "from"),
        ({"from": DAY, "to": "2024-04-09"}, "to"),
        ({"from": "2020-01-01", "to": "2024-01-01"}, "to"),
        ({"tz": "Moon/Base"}, "tz"),
        ({"tz": "Africa/Monrovia", "from": "1971-06-01", "to": "1971-06-01"}, "tz"),
        ({"group_by": "day,planet"}, "group_by"),
        ({"offer_id": "one"}, "offer_id"),
        ({"affiliate_id": "-1"}, "affiliate_id"),
        ({"event": "bad event"}, "event"),
        ({"sub1": "x" * 256}, "sub1"),
        ({"sort": "nothing"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"format": "xml"}, "format"),
        ({"groupby": "day"}, "groupby"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    api: Api, query: dict[str, str], param: str
) -> None:
    error = error_of(await api.admin("GET", PATH, params=query), 400, "invalid_param")
    assert error["param"] == param


async def test_a_key_is_required(api: Api) -> None:
    error_of(await api.client.get(PATH), 401, "unauthorized")


async def test_documented_in_openapi(api: Api) -> None:
    spec = (await api.client.get("/api/v1/openapi.json")).json()
    operation = spec["paths"][PATH]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"from", "to", "tz", "group_by", "sort", "limit", "format", "sub5"} <= names
    assert "text/csv" in operation["responses"]["200"]["content"]


async def test_exact_totals_over_many_amounts(api: Api) -> None:
    offer = await api.offer(revenue="0.0001", payout="0")
    aff = await api.affiliate()
    amounts = [Decimal("0.1"), Decimal("0.2"), Decimal("1234567.8901"), Decimal("0.0003")]
    for index, amount in enumerate(amounts):
        await convert(
            api.store, offer["id"], aff["id"], txid=f"X{index}", revenue=amount, when=WHEN
        )
    answer = await api.admin("GET", PATH, params=params(offer))
    assert b'"revenue":1234568.1904,' in answer.content


async def test_an_empty_filter_is_refused_not_read_as_nothing(api: Api) -> None:
    for name in ("event", "offer_id", "affiliate_id"):
        answer = await api.admin("GET", "/api/v1/reports", params={name: ""})
        assert error_of(answer, 400, "invalid_param")["param"] == name
