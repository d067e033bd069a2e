"""Tracker templates end to end: configs built from every outgoing template, orders played
through the real server, and what each tracker (a real receiver) heard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from postback.domain.trackers import OUTGOING
from tests.e2e.harness import Receiver, ServerProcess, eventually
from tests.e2e.network import add_postback, click, create_network

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LIFECYCLE = ["awaiting_payment", "approved", "completed", "canceled", "refunded", "chargeback"]
PAYOUT = "7.25"  # the offer's payout (tests/e2e/network.py)


@dataclass(frozen=True)
class Order:
    sub1: str  # the affiliate's click id of its tracker
    txid: str | None
    sale_amount: str | None  # the order total the sales platform reported
    events: tuple[str, ...]  # lifecycle events, in the order they happen


def _with(**params: str | None) -> dict[str, str]:
    """The parameters that have a value: the others are not sent at all."""
    return {name: value for name, value in params.items() if value is not None}


# The plays: each order's lifecycle events. D has no txid; its `completed` keeps the
# order approved, so trackers must not hear approved twice.
REFUNDED = Order("their-a", "A-1", "49.5", ("awaiting_payment", "approved", "refunded"))
CHARGED_BACK = Order("their-b", "B-1", "19.5", ("approved", "chargeback"))
CANCELED = Order("their-c", "C-1", None, ("canceled",))
COMPLETED = Order("their-d", None, "99.5", ("approved", "completed"))
ORDERS = (COMPLETED, REFUNDED, CHARGED_BACK, CANCELED)
# Our status after each lifecycle event; None: the stage changes, the status does not.
STATUS_AFTER = {
    "awaiting_payment": "pending",
    "approved": "approved",
    "completed": None,
    "canceled": "rejected",
    "refunded": "refunded",
    "chargeback": "chargeback",
}

KEITARO = {"pending": "lead", "approved": "sale", "rejected": "rejected"}
KEITARO |= {"refunded": "rejected", "chargeback": "rejected"}
REDTRACK = {"pending": "Pending", "approved": "Approved", "rejected": "Declined"}
REDTRACK |= {"refunded": "Declined", "chargeback": "Declined"}
AFFISE = {"pending": "2", "approved": "1", "rejected": "3", "refunded": "3", "chargeback": "3"}
BINOM = {"pending": "pending", "approved": "approved", "rejected": "rejected"}
BINOM |= {"refunded": "rejected", "chargeback": "rejected"}
Expect = Callable[[Order, str], dict[str, str] | None]


def _only(statuses: set[str], build: Callable[[Order, str], dict[str, str]]) -> Expect:
    return lambda order, status: build(order, status) if status in statuses else None


# What each tracker must hear for an order reaching a status (None: nothing), written
# from the trackers' published formats, not from the templates.
EXPECTED: dict[str, Expect] = {
    "keitaro": lambda o, s: _with(
        subid=o.sub1, status=KEITARO[s], payout=PAYOUT, currency="USD", tid=o.txid
    ),
    "voluum": _only(
        {"approved"},
        lambda o, s: _with(cid=o.sub1, payout=PAYOUT, currency="USD", txid=o.txid),
    ),
    "binom": lambda o, s: _with(
        cnv_id=o.sub1, payout=PAYOUT, cnv_currency="USD", cnv_status=BINOM[s]
    ),
    "redtrack": lambda o, s: _with(clickid=o.sub1, sum=PAYOUT, status=REDTRACK[s]),
    "everflow": _only(
        {"approved"},
        lambda o, s: _with(transaction_id=o.sub1, amount=o.sale_amount, order_id=o.txid),
    ),
    "everflow_reversal": _only(
        {"rejected", "refunded", "chargeback"}, lambda o, s: _with(order_id=o.txid)
    ),
    "tune": _only(
        {"approved"},
        lambda o, s: _with(transaction_id=o.sub1, amount=o.sale_amount, adv_sub=o.txid),
    ),
    "affise": lambda o, s: _with(clickid=o.sub1, action_id=o.txid, sum=PAYOUT, status=AFFISE[s]),
    "cake": _only({"approved"}, lambda o, s: _with(f="pb", r=o.sub1, t=o.txid, p=PAYOUT)),
}
# Where each tracker's postback goes, under its base URL.
PATHS = {
    "keitaro": "/postback",
    "voluum": "/postback",
    "binom": "/click.php",
    "redtrack": "/postback",
    "everflow": "/",
    "everflow_reversal": "/reversal",
    "tune": "/aff_lsr",
    "affise": "/postback",
    "cake": "/p.ashx",
}


def _heard(name: str, order: Order) -> list[dict[str, str]]:
    statuses = [STATUS_AFTER[event] for event in order.events]
    expected = (EXPECTED[name](order, status) for status in statuses if status is not None)
    return [query for query in expected if query is not None]


async def _ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def _play(client: httpx.AsyncClient, token: str, cid: str, order: Order) -> None:
    for number, event in enumerate(order.events):
        params = _with(click_id=cid, txid=order.txid, event=event, token=token)
        if number == 0 and order.sale_amount is not None:
            params["attr.order_total"] = order.sale_amount
        await _ok(await client.get("/postback", params=params))


async def _settled(admin: httpx.AsyncClient, configs: list[dict[str, Any]]) -> bool:
    """Whether no delivery of these configs is still waiting to go out."""
    for config in configs:
        page = await _ok(
            await admin.get("/deliveries", params={"postback_id": config["id"], "state": "pending"})
        )
        if page["items"]:
            return False
    return True


def test_every_outgoing_template_is_played_here() -> None:
    assert {t.name for t in OUTGOING} == set(EXPECTED) == set(PATHS)


async def test_each_tracker_hears_every_status_it_understands_in_its_own_words(
    server: ServerProcess, receiver: Receiver
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin, offer={"lifecycle_events": LIFECYCLE})
        configs = []
        for template in OUTGOING:
            config = await add_postback(
                admin,
                affiliate_id=net.affiliate["id"],
                template=template.name,
                tracker_url=receiver.url(f"/{template.name}"),
            )
            assert config["statuses"] == list(template.statuses)
            configs.append(config)

        # The completed order plays first: a delivery it wrongly owed would go out (in
        # order, per config) before the last expected ones, and be counted.
        for order in ORDERS:
            cid = await click(client, net, sub1=order.sub1)
            await _play(client, net.token, cid, order)

        def all_arrived() -> bool:
            return all(
                len(receiver.at(f"/{name}{PATHS[name]}"))
                >= sum(len(_heard(name, order)) for order in ORDERS)
                for name in EXPECTED
            )

        await eventually(all_arrived)
        await eventually(lambda: _settled(admin, configs))

        for name in EXPECTED:
            got = receiver.at(f"/{name}{PATHS[name]}")
            assert all(request.method == "GET" for request in got), name
            for order in ORDERS:
                click_of = _click_param(name)
                mine = [r.query for r in got if _belongs(r.query, order, click_of)]
                assert mine == _heard(name, order), (name, order)
            assert len(got) == sum(len(_heard(name, order)) for order in ORDERS), name
            # Nothing arrives under any other path of this tracker.
            others = [r for r in receiver.requests if r.path_qs.startswith(f"/{name}/")]
            assert len(others) == len(got), name


def _click_param(name: str) -> str | None:
    """The parameter that carries the tracker's click id; None for an order-id reversal."""
    found = EXPECTED[name](REFUNDED, "refunded") or EXPECTED[name](REFUNDED, "approved")
    assert found is not None
    return next((param for param, value in found.items() if value == REFUNDED.sub1), None)


def _belongs(query: dict[str, str], order: Order, click_param: str | None) -> bool:
    if click_param is None:
        return order.txid is not None and query.get("order_id") == order.txid
    return query.get(click_param) == order.sub1


async def test_keitaro_sends_rebills_and_they_are_sales_of_their_own(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin, advertiser={"template": "keitaro"})
        cid = await click(client, net)
        base = {"adv_id": str(net.advertiser["id"]), "token": net.token, "subid": cid}

        first = await _ok(
            await client.get("/postback", params={**base, "tid": "K-1", "status": "sale"})
        )
        rebill = await _ok(
            await client.get(
                "/postback", params={**base, "tid": "K-2", "status": "rebill", "payout": "3"}
            )
        )
        trash = await _ok(
            await client.get("/postback", params={**base, "tid": "K-3", "status": "trash"})
        )
        assert first["result"] == rebill["result"] == trash["result"] == "created"
        assert len({first["conversion_id"], rebill["conversion_id"]}) == 2
        seen = await _ok(await admin.get(f"/conversions/{rebill['conversion_id']}"))
        assert (seen["status"], seen["txid"], seen["revenue"]) == ("approved", "K-2", 3)
        seen = await _ok(await admin.get(f"/conversions/{trash['conversion_id']}"))
        assert seen["status"] == "rejected"
