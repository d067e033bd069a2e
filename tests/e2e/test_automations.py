"""Sale lifecycle, alerts, partner templates, imports and replays through the real server
process, with real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from postback.domain.catalog import INCOMING
from tests.e2e.harness import Receiver, ServerProcess, eventually
from tests.e2e.network import Network, add_postback, click, create_network

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ALL_EVENTS = [
    "checkout_abandoned",
    "awaiting_payment",
    "approved",
    "completed",
    "canceled",
    "refunded",
    "chargeback",
    "shipping_update",
]


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Alerts checked every 0.2 s so that a test sees an incident within moments.
    process = ServerProcess(
        database_url, Path(tmp_path_factory.mktemp("server")), POSTBACK_ALERT_INTERVAL="0.2"
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()


async def _ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_a_sale_reaches_the_members_area_whole_and_the_affiliate_without_personal_data(
    server: ServerProcess, hooks: Receiver
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin, offer={"lifecycle_events": ALL_EVENTS})
        offer_id = net.offer["id"]
        await add_postback(
            admin,
            affiliate_id=None,
            offer_id=offer_id,
            url=hooks.url("/members"),
            method="POST",
            statuses=["*"],
        )
        await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            url=hooks.url("/aff?e={event}&s={status}&m={attr.email}"),
            statuses=["*"],
        )
        cid = await click(client, net, sub1="tracker-click")
        base = {"click_id": cid, "txid": "ORDER-7", "token": net.token}
        buyer = {"attr.email": "ana@example.com", "customer_name": "Ana", "phone": "+5511"}
        answers = []
        for event in ("checkout_abandoned", "awaiting_payment", "approved", "refunded"):
            extra = buyer if event == "checkout_abandoned" else {}
            answers.append(
                await _ok(await client.get("/postback", params={**base, "event": event, **extra}))
            )
        assert [a["result"] for a in answers] == ["created", "updated", "updated", "updated"]
        assert answers[-1]["status"] == "refunded" and answers[-1]["stage"] == "refunded"
        conversion_id = answers[0]["conversion_id"]
        assert {a["conversion_id"] for a in answers} == {conversion_id}

        members = await eventually(lambda: len(hooks.at("/members")) == 4 and hooks.at("/members"))
        bodies = [orjson.loads(r.body) for r in members]
        assert [b["event"] for b in bodies] == [
            "checkout_abandoned",
            "awaiting_payment",
            "approved",
            "refunded",
        ]
        assert [b["status"] for b in bodies] == ["pending", "pending", "approved", "refunded"]
        assert all(b["attributes"]["email"] == "ana@example.com" for b in bodies)
        assert bodies[0]["attributes"]["customer_name"] == "Ana"

        affiliate = await eventually(lambda: len(hooks.at("/aff")) == 3 and hooks.at("/aff"))
        assert [(r.query["e"], r.query["s"], r.query["m"]) for r in affiliate] == [
            ("awaiting_payment", "pending", ""),
            ("approved", "approved", ""),
            ("refunded", "refunded", ""),
        ]

        # Going back is refused as the contract says; the admin sees the buyer, the
        # affiliate does not.
        back = await client.get("/postback", params={**base, "event": "approved"})
        assert back.status_code == 409 and back.json()["error"]["status"] == "refunded"
        seen = await _ok(await admin.get(f"/conversions/{conversion_id}"))
        assert seen["attributes"]["email"] == "ana@example.com"
        assert [h["stage"] for h in seen["history"]][-1] == "refunded"
        as_affiliate = await client.get(
            f"/api/v1/conversions/{conversion_id}",
            headers={"Authorization": f"Bearer {net.affiliate['api_key']}"},
        )
        assert (await _ok(as_affiliate))["attributes"] == {}
        assert b"ana@example.com" not in as_affiliate.content

        bad = await client.get(
            "/postback", params={**base, "event": "shipping_update", "attr.Bad-Key": "x"}
        )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "attr.Bad-Key"


async def test_an_alert_fires_once_when_conversions_stop_and_once_when_they_return(
    server: ServerProcess, hooks: Receiver
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        cids = [await click(client, net) for _ in range(3)]
        alert = await _ok(
            await admin.post(
                "/alerts",
                json={
                    "name": "offer went quiet",
                    "kind": "no_conversions",
                    "offer_id": net.offer["id"],
                    "threshold": 3,
                    "window_seconds": 600,
                    "webhook_url": hooks.url("/alerts"),
                },
            ),
            201,
        )

        async def incidents() -> list[dict[str, Any]]:
            page = await _ok(await admin.get(f"/alerts/{alert['id']}/incidents"))
            return list(reversed(page["items"]))

        fired = await eventually(lambda: len(hooks.at("/alerts")) == 1 and hooks.at("/alerts"))
        first = orjson.loads(fired[0].body)
        assert first["type"] == "alert.fired" and first["measured"] == {"clicks": 3, "approved": 0}
        assert fired[0].headers["webhook-id"] == f"incident_{first['incident_id']}"

        await _ok(await client.get("/postback", params={"click_id": cids[0], "token": net.token}))
        sent = await eventually(lambda: len(hooks.at("/alerts")) == 2 and hooks.at("/alerts"))
        assert orjson.loads(sent[1].body)["type"] == "alert.recovered"

        # Checked many more times meanwhile: still one incident each way.
        seen = await eventually(lambda: _all_sent(incidents()), timeout=15)
        assert [i["kind"] for i in seen] == ["fired", "recovered"]
        state = await _ok(await admin.get(f"/alerts/{alert['id']}"))
        assert state["state"] == "ok" and state["checked_at"] is not None
        every = await _ok(await admin.get("/incidents"))
        assert {i["alert_id"] for i in every["items"]} >= {alert["id"]}
        await _ok(await admin.patch(f"/alerts/{alert['id']}", json={"active": False}))

        refused = await admin.post(
            "/alerts",
            json={"name": "x", "kind": "delivery_failures", "webhook_url": hooks.url("/x")},
        )
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "postback_id"


async def _all_sent(pending: Any) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = await pending
    if len(found) == 2 and all(i["notify_state"] == "sent" for i in found):
        return found
    return None


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, text in values.items():
            value = value.replace(name, text)
        return value
    if isinstance(value, dict):
        return {key: _fill(inner, values) for key, inner in value.items()}
    if isinstance(value, list):
        return [_fill(inner, values) for inner in value]
    return value


# The sales platforms, which prove themselves with their own secret, play their whole
# lifecycles in tests/partners/.
@pytest.mark.parametrize("name", [t.name for t in INCOMING if t.auth is None])
async def test_every_partner_template_accepts_its_example_postback(
    server: ServerProcess, name: str
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(
            admin,
            advertiser={"template": name},
        )
        template = await _ok(
            await admin.get(f"/templates/{name}", params={"advertiser_id": net.advertiser["id"]})
        )
        assert template["url"].startswith(f"{server.base_url}/postback?adv_id=")
        assert net.advertiser["field_map"] == template["field_map"]
        cid = await click(client, net)
        values = {"{click_id}": cid, "{token}": net.token, "{adv_id}": str(net.advertiser["id"])}
        query = _fill(template["example_query"], values)
        if template["transport"] == "json":
            answer = await client.post(
                "/postback", params=query, json=_fill(template["example_body"], values)
            )
        else:
            answer = await client.get("/postback", params=query)
        created = await _ok(answer)
        assert created["result"] == "created"
        conversion = await _ok(await admin.get(f"/conversions/{created['conversion_id']}"))
        assert conversion["click_id"] == cid
        if template["transport"] == "query":
            # Under another advertiser's id: its field map does not apply (the click id
            # is then missing: 400) and the click is not its own (404).
            other = await _ok(await admin.post("/advertisers", json={"name": "Other"}), 201)
            foreign = await client.get("/postback", params={**query, "adv_id": other["id"]})
            maps_click = "click_id" in template["field_map"].values()
            assert foreign.status_code == (400 if maps_click else 404), foreign.text


async def test_an_outgoing_template_fills_the_config(
    server: ServerProcess, hooks: Receiver
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        config = await _ok(
            await admin.post(
                "/postbacks",
                json={
                    "affiliate_id": net.affiliate["id"],
                    "template": "keitaro",
                    "tracker_url": hooks.url("/k3y"),
                },
            ),
            201,
        )
        assert config["url"].startswith(hooks.url("/k3y/postback?subid={sub1}"))
        assert config["statuses"] == ["pending", "approved", "rejected", "refunded", "chargeback"]
        cid = await click(client, net, sub1="kt-123")
        await _ok(await client.get("/postback", params={"click_id": cid, "token": net.token}))
        (got,) = await eventually(lambda: hooks.at("/k3y/postback"))
        assert got.query["subid"] == "kt-123" and got.query["status"] == "sale"
        listed = await _ok(await admin.get("/templates"))
        assert {"keitaro", "voluum", "binom", "redtrack", "everflow"} <= {
            t["name"] for t in listed["outgoing"]
        }


async def test_import_twice_creates_each_conversion_once_then_replay_resends(
    server: ServerProcess, hooks: Receiver, tmp_path: Path
) -> None:
    async with server.admin() as admin, server.client() as client:
        net: Network = await create_network(admin)
        cids = [await click(client, net) for _ in range(2)]
        path = tmp_path / "offline.csv"
        path.write_text(
            "click_id,txid,status,revenue\n"
            f"{cids[0]},OFF-1,approved,5\n"
            f"{cids[1]},OFF-2,pending,\n"
            "bad click id!,OFF-3,approved,\n"
        )
        first = await asyncio.to_thread(server.cli, "import", "conversions", str(path))
        assert first.returncode == 1, first.stderr
        assert "2 created" in first.stderr and "line 4:" in first.stderr
        assert "Traceback" not in first.stderr
        second = await asyncio.to_thread(server.cli, "import", "conversions", str(path))
        assert "0 created" in second.stderr and "2 duplicate" in second.stderr
        listed = await _ok(await admin.get("/conversions", params={"offer_id": net.offer["id"]}))
        assert sorted(c["txid"] for c in listed["items"]) == ["OFF-1", "OFF-2"]

        config = await add_postback(
            admin, affiliate_id=net.affiliate["id"], url=hooks.url("/late?t={txid}")
        )
        replayed = await asyncio.to_thread(
            server.cli, "replay", "--config", str(config["id"]), "--since", "2000-01-01"
        )
        assert replayed.returncode == 0, replayed.stderr
        assert "0 deliveries due again, 1 created" in replayed.stderr
        (got,) = await eventually(lambda: hooks.at("/late"))
        assert got.query == {"t": "OFF-1"}
        missing = await asyncio.to_thread(
            server.cli, "replay", "--config", "999999", "--since", "2000-01-01"
        )
        assert missing.returncode == 1 and "no postback" in missing.stderr
        unreadable = await asyncio.to_thread(
            server.cli, "import", "conversions", str(tmp_path / "nope.csv")
        )
        assert unreadable.returncode == 2 and "Traceback" not in unreadable.stderr
        assert os.environ.get("POSTBACK_DATABASE_URL") != server.env["POSTBACK_DATABASE_URL"]
