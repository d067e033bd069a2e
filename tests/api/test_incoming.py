"""The incoming log (admin only)."""

from __future__ import annotations

from datetime import UTC, datetime

from postback.store.base import IncomingEntry
from tests.api.conftest import Api, convert, error_of


async def test_incoming_log(api: Api) -> None:
    offer = await api.offer()
    affiliate = await api.affiliate()
    result = await convert(api.store, offer["id"], affiliate["id"])
    old = datetime(2019, 6, 1, 8, 30, tzinfo=UTC)
    await api.store.log_incoming(
        [
            IncomingEntry(
                received_at=old,
                method="GET",
                ip="192.0.2.1",
                query="click_id=x&token=bad",
                body=None,
                http_status=401,
                result="bad_token",
                message="token missing or wrong",
                click_id="x",
            )
        ]
    )
    answer = await api.admin("GET", "/api/v1/incoming", params={"limit": 1000})
    assert answer.status_code == 200
    items = answer.json()["items"]
    created = next(i for i in items if i["conversion_id"] == result.conversion.id)
    assert created["result"] == "created"
    assert created["received_at"].endswith("Z")

    refused = await api.admin("GET", "/api/v1/incoming", params={"result": "bad_token"})
    (entry,) = [i for i in refused.json()["items"] if i["query"] == "click_id=x&token=bad"]
    assert entry["received_at"] == "2019-06-01T08:30:00.000000Z"
    assert entry["http_status"] == 401 and entry["message"] == "token missing or wrong"

    day = await api.admin(
        "GET", "/api/v1/incoming", params={"from": "2019-06-01", "to": "2019-06-01"}
    )
    assert [i["query"] for i in day.json()["items"]] == ["click_id=x&token=bad"]
    later = await api.admin("GET", "/api/v1/incoming", params={"from": "2019-06-02"})
    assert "click_id=x&token=bad" not in {i["query"] for i in later.json()["items"]}

    error_of(
        await api.admin("GET", "/api/v1/incoming", params={"to": "soon"}), 400, "invalid_param"
    )
    key = affiliate["api_key"]
    error_of(await api.as_key(key, "GET", "/api/v1/incoming"), 404, "not_found")
