"""Deliveries with their attempts, retry, and affiliate isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from postback.domain.retention import Retention
from postback.store.base import AttemptResult
from tests.api.conftest import Api, convert, error_of


async def world(api: Api) -> dict[str, Any]:
    offer = await api.offer()
    alice = await api.affiliate("Alice")
    bob = await api.affiliate("Bob")
    configs = {}
    for name, affiliate in (("alice", alice), ("bob", bob)):
        configs[name] = await api.created(
            "/api/v1/postbacks",
            {"affiliate_id": affiliate["id"], "url": f"https://{name}.example/?c={{click_id}}"},
        )
    configs["network"] = await api.created(
        "/api/v1/postbacks", {"offer_id": offer["id"], "url": "https://crm.example/?r={revenue}"}
    )
    a = (await convert(api.store, offer["id"], alice["id"])).conversion
    b = (await convert(api.store, offer["id"], bob["id"])).conversion
    return {"alice": alice, "bob": bob, "configs": configs, "a": a, "b": b}


async def fail_once(api: Api, conversion_id: int) -> None:
    """Send every due delivery of one conversion once, failing, as a worker would."""
    claims = await api.store.claim_deliveries(limit=1000, lease_seconds=60, now=datetime.now(UTC))
    for claim in claims:
        if claim.delivery.conversion_id != conversion_id:
            await api.store.postpone_claim(claim, datetime.now(UTC))
            continue
        await api.store.finish_attempt(
            claim,
            AttemptResult(
                attempt_no=claim.delivery.attempts + 1,
                started_at=datetime.now(UTC),
                duration_ms=12,
                url=claim.delivery.url,
                method=claim.delivery.method,
                status_code=500,
                response_excerpt="oops",
                error="http 500",
                success=False,
                next_attempt_at=None,
            ),
        )


async def test_list_with_attempts_and_filters(api: Api) -> None:
    w = await world(api)
    await fail_once(api, w["a"].id)
    answer = await api.admin("GET", "/api/v1/deliveries", params={"conversion_id": w["a"].id})
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert {d["postback_id"] for d in items} == {
        w["configs"]["alice"]["id"],
        w["configs"]["network"]["id"],
    }
    for delivery in items:
        assert delivery["state"] == "failed"
        assert delivery["attempt_count"] == 1
        assert delivery["message_id"].startswith("msg_")
        (attempt,) = delivery["attempts"]
        assert attempt["status_code"] == 500 and attempt["success"] is False
        assert attempt["error"] == "http 500" and attempt["duration_ms"] == 12
        assert attempt["started_at"].endswith("Z")

    network_id = w["configs"]["network"]["id"]
    by_config = await api.admin("GET", "/api/v1/deliveries", params={"postback_id": network_id})
    assert {d["conversion_id"] for d in by_config.json()["items"]} == {w["a"].id, w["b"].id}
    failed = await api.admin(
        "GET", "/api/v1/deliveries", params={"state": "failed", "conversion_id": w["b"].id}
    )
    assert failed.json()["items"] == []
    bad = await api.admin("GET", "/api/v1/deliveries", params={"state": "lost"})
    assert error_of(bad, 400, "invalid_param")["param"] == "state"


async def test_retry(api: Api) -> None:
    w = await world(api)
    await fail_once(api, w["a"].id)
    listed = await api.admin("GET", "/api/v1/deliveries", params={"conversion_id": w["a"].id})
    delivery = listed.json()["items"][0]
    answer = await api.admin("POST", f"/api/v1/deliveries/{delivery['id']}/retry")
    assert answer.status_code == 202
    assert answer.json()["state"] == "pending"
    assert len(answer.json()["attempts"]) == 1
    assert api.wakes == [1]
    error_of(await api.admin("POST", "/api/v1/deliveries/999999/retry"), 404, "not_found")
    assert api.wakes == [1]


async def test_affiliate_sees_only_its_configs_deliveries(api: Api) -> None:
    w = await world(api)
    key = w["alice"]["api_key"]
    listed = await api.as_key(key, "GET", "/api/v1/deliveries")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert items and {d["postback_id"] for d in items} == {w["configs"]["alice"]["id"]}
    assert b"crm.example" not in listed.content

    paged = await api.as_key(key, "GET", "/api/v1/deliveries", params={"limit": 1})
    assert len(paged.json()["items"]) == 1

    for config in ("bob", "network"):
        params = {"postback_id": w["configs"][config]["id"]}
        other = await api.as_key(key, "GET", "/api/v1/deliveries", params=params)
        assert other.json() == {"items": [], "next_cursor": None}

    mine = items[0]["id"]
    assert (await api.as_key(key, "GET", f"/api/v1/deliveries/{mine}")).status_code == 200
    retried = await api.as_key(key, "POST", f"/api/v1/deliveries/{mine}/retry")
    assert retried.status_code == 202

    everything = await api.admin("GET", "/api/v1/deliveries", params={"conversion_id": w["b"].id})
    for delivery in everything.json()["items"]:
        path = f"/api/v1/deliveries/{delivery['id']}"
        error_of(await api.as_key(key, "GET", path), 404, "not_found")
        error_of(await api.as_key(key, "POST", path + "/retry"), 404, "not_found")

    newcomer = await api.affiliate("Nobody")
    empty = await api.as_key(newcomer["api_key"], "GET", "/api/v1/deliveries")
    assert empty.json() == {"items": [], "next_cursor": None}


async def test_deleted_config_keeps_its_deliveries(api: Api) -> None:
    w = await world(api)
    config_id = w["configs"]["alice"]["id"]
    assert (await api.admin("DELETE", f"/api/v1/postbacks/{config_id}")).status_code == 204
    kept = await api.admin("GET", "/api/v1/deliveries", params={"postback_id": config_id})
    assert [d["conversion_id"] for d in kept.json()["items"]] == [w["a"].id]
    detail = await api.admin("GET", f"/api/v1/conversions/{w['a'].id}")
    assert config_id in {d["postback_id"] for d in detail.json()["deliveries"]}
    later = (await convert(api.store, w["a"].offer_id, w["alice"]["id"])).conversion
    fresh = await api.admin("GET", "/api/v1/deliveries", params={"conversion_id": later.id})
    assert config_id not in {d["postback_id"] for d in fresh.json()["items"]}


async def test_retry_everything_that_failed_for_one_config(api: Api) -> None:
    w = await world(api)
    alice_config = w["configs"]["alice"]["id"]
    path = f"/api/v1/postbacks/{alice_config}/retry"
    await fail_once(api, w["a"].id)
    second = (await convert(api.store, w["a"].offer_id, w["alice"]["id"])).conversion
    await fail_once(api, second.id)
    failed = await api.admin(
        "GET", "/api/v1/deliveries", params={"postback_id": alice_config, "state": "failed"}
    )
    assert len(failed.json()["items"]) == 2

    # A period that holds neither: nothing moves.
    none = await api.admin("POST", path, json={"until": "2000-01-01T00:00:00Z"})
    assert none.status_code == 202, none.text
    assert none.json() == {"retried": 0}

    key = w["alice"]["api_key"]
    answer = await api.as_key(key, "POST", path)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"retried": 2}
    pending = await api.admin(
        "GET", "/api/v1/deliveries", params={"postback_id": alice_config, "state": "pending"}
    )
    assert len(pending.json()["items"]) == 2
    again = await api.admin("POST", path, json={})
    assert again.json() == {"retried": 0}

    # Another affiliate's config does not exist for this key; bad bodies are 400.
    bob_path = f"/api/v1/postbacks/{w['configs']['bob']['id']}/retry"
    error_of(await api.as_key(key, "POST", bob_path), 404, "not_found")
    for body, param in (
        ({"postback_id": alice_config}, "postback_id"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"since": 0}, "since"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
    ):
        refused = await api.admin("POST", path, json=body)
        assert error_of(refused, 400, "invalid_param")["param"] == param, body


async def test_a_delivered_body_removed_by_retention_is_not_sent_again(api: Api) -> None:
    offer = await api.offer()
    alice = await api.affiliate("Alice")
    config = await api.created(
        "/api/v1/postbacks",
        {
            "affiliate_id": alice["id"],
            "url": "https://alice.example/pb",
            "method": "POST",
            "body": '{"cid":"{click_id}"}',
        },
    )
    conversion = (await convert(api.store, offer["id"], alice["id"])).conversion
    claims = await api.store.claim_deliveries(limit=1000, lease_seconds=60, now=datetime.now(UTC))
    for claim in claims:
        sent = claim.delivery.conversion_id == conversion.id
        await api.store.finish_attempt(
            claim,
            AttemptResult(
                attempt_no=1,
                started_at=datetime.now(UTC),
                duration_ms=5,
                url=claim.delivery.url,
                method=claim.delivery.method,
                status_code=200 if sent else 500,
                response_excerpt="ok",
                error=None if sent else "http 500",
                success=sent,
                next_attempt_at=None,
            ),
        )
    # Retention that keeps attempts for one day, a month from now.
    later = datetime.now(UTC) + timedelta(days=30)
    done = await api.store.purge(Retention(attempts_days=1), later)
    assert done is not None and done.purged.bodies >= 1
    listed = await api.admin("GET", "/api/v1/deliveries", params={"postback_id": config["id"]})
    (delivery,) = listed.json()["items"]
    assert delivery["state"] == "delivered" and delivery["body"] is None
    assert delivery["body_purged_at"] is not None and delivery["attempts"] == []
    refused = await api.admin("POST", f"/api/v1/deliveries/{delivery['id']}/retry")
    assert "replay" in error_of(refused, 410, "purged")["message"]
    again = await api.admin("GET", f"/api/v1/deliveries/{delivery['id']}")
    assert again.json()["state"] == "delivered"
    assert api.wakes == []
