"""Lifecycle orders, attributes, alerts, replays and imports on both backends."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from postback.domain.lifecycle import LIFECYCLE_EVENTS
from postback.domain.records import Affiliate, Click, Offer, PostbackConfig
from postback.errors import InvalidTransition
from postback.importing import import_file
from postback.settings import Settings
from postback.store.base import PostbackCommand
from postback.store.factory import open_store
from postback.store.sql import Store
from tests.store import factories as f

pytestmark = pytest.mark.timeout(60)


async def _sale_world(
    store: Store, **offer_fields: Any
) -> tuple[Offer, Affiliate, PostbackConfig, PostbackConfig, Click]:
    offer = await f.offer(store, lifecycle_events=list(LIFECYCLE_EVENTS), **offer_fields)
    aff = await f.affiliate(store)
    members = await f.postback(
        store,
        None,
        offer.id,
        url="https://members.example/hook?e={event}&m={attr.email}",
        statuses=["*"],
    )
    partner = await f.postback(
        store,
        aff.id,
        offer.id,
        url="https://aff.example/pb?e={event}&m={attr.email}",
        statuses=["*"],
    )
    click = await f.stored_click(store, offer, aff.id)
    return offer, aff, members, partner, click


def _lifecycle(
    click: Click, offer: Offer, event: str, status: str | None, **attrs: str
) -> PostbackCommand:
    command = f.command(click, offer, event=event, txid="ORDER-1")
    return replace(command, status=status, attributes=attrs)


async def test_a_sale_is_one_order_through_its_lifecycle(store: Store) -> None:
    offer, _, members, partner, click = await _sale_world(store)
    steps = [
        ("checkout_abandoned", "pending", {"email": "ana@example.com"}),
        ("awaiting_payment", "pending", {}),
        ("approved", "approved", {}),
        ("refunded", "refunded", {}),
    ]
    results = [
        await store.record_postback(_lifecycle(click, offer, event, status, **attrs))
        for event, status, attrs in steps
    ]
    assert [r.outcome.value for r in results] == ["created", "updated", "updated", "updated"]
    assert len({r.conversion.id for r in results}) == 1
    order = results[-1].conversion
    assert (order.event, order.stage, order.status) == ("sale", "refunded", "refunded")
    assert order.attributes == {"email": "ana@example.com"}
    history = await store.conversion_history(order.id)
    assert [h.stage for h in history] == [e for e, _, _ in steps]

    sent = await f.deliveries_for(store, order.id)
    to_members = [d for d in sent if d.postback_id == members.id]
    to_partner = [d for d in sent if d.postback_id == partner.id]
    assert [d.event for d in to_members] == [e for e, _, _ in steps]
    assert all("m=ana%40example.com" in d.url for d in to_members)
    # The affiliate: no abandoned checkout, and never the buyer's e-mail.
    assert [d.event for d in to_partner] == ["awaiting_payment", "approved", "refunded"]
    assert all(d.url.endswith("m=") for d in to_partner)

    # The same event again is a duplicate; the state machine still refuses going back.
    again = await store.record_postback(_lifecycle(click, offer, "refunded", "refunded"))
    assert again.outcome.value == "duplicate"
    with pytest.raises(InvalidTransition):
        await store.record_postback(_lifecycle(click, offer, "approved", "approved"))
    # A shipping update keeps the status.
    shipped = await store.record_postback(
        _lifecycle(click, offer, "shipping_update", None, tracking_code="BR1")
    )
    assert shipped.outcome.value == "updated" and shipped.conversion.status == "refunded"


async def test_an_offer_may_give_affiliates_personal_data(store: Store) -> None:
    offer, _, _, partner, click = await _sale_world(
        store, affiliate_personal_data=True, affiliate_events=["checkout_abandoned"]
    )
    result = await store.record_postback(
        _lifecycle(click, offer, "checkout_abandoned", "pending", email="b@example.com")
    )
    (sent,) = [
        d
        for d in await f.deliveries_for(store, result.conversion.id)
        if d.postback_id == partner.id
    ]
    assert sent.url.endswith("m=b%40example.com")


async def test_plain_conversions_keep_the_contract_and_carry_attributes(store: Store) -> None:
    offer = await f.offer(store)
    aff = await f.affiliate(store)
    click = await f.stored_click(store, offer, aff.id)
    network = await f.postback(store, None, None, method="POST", url="https://crm.example/in")
    first = await store.record_postback(
        replace(f.command(click, offer, status="pending"), attributes={"product": "Shoes"})
    )
    assert first.conversion.stage is None and first.conversion.event == "conversion"
    same = await store.record_postback(replace(f.command(click, offer, status="pending")))
    assert same.outcome.value == "duplicate"
    approved = await store.record_postback(f.command(click, offer, status="approved"))
    assert approved.conversion.attributes == {"product": "Shoes"}
    (delivery,) = [
        d for d in await f.deliveries_for(store, first.conversion.id) if d.postback_id == network.id
    ]
    body = orjson.loads(delivery.body or "")
    assert body["attributes"] == {"product": "Shoes"} and body["event"] == "conversion"


async def test_no_conversions_alert_fires_once_and_recovers_once(
    store: Store, database_url: str
) -> None:
    offer = await f.offer(store)
    aff = await f.affiliate(store)
    clicks = [f.click(offer, aff.id) for _ in range(3)]
    await store.insert_clicks(clicks)
    alert = await store.create_alert(
        {
            "name": "quiet",
            "kind": "no_conversions",
            "offer_id": offer.id,
            "postback_id": None,
            "threshold": 3,
            "percent": 0,
            "window_seconds": 3600,
            "webhook_url": "https://hooks.example/a",
            "secret": "whsec_dGVzdA==",
            "active": True,
        }
    )
    other = open_store(Settings(database_url=database_url))
    try:
        # Two workers at once: one incident.
        both = await asyncio.gather(store.check_alerts(f.now(), 0), other.check_alerts(f.now(), 0))
    finally:
        await other.close()
    fired = [i for found in both for i in found if i.alert_id == alert.id]
    assert [i.kind for i in fired] == ["fired"]
    assert fired[0].detail == {"clicks": 3, "approved": 0}
    # Not due again within the interval; due but unchanged: no new incident.
    assert [i for i in await store.check_alerts(f.now(), 3600) if i.alert_id == alert.id] == []
    assert [i for i in await store.check_alerts(f.now(), 0) if i.alert_id == alert.id] == []

    await store.record_postback(f.command(clicks[0], offer, status="approved"))
    recovered = [i for i in await store.check_alerts(f.now(), 0) if i.alert_id == alert.id]
    assert [i.kind for i in recovered] == ["recovered"]
    assert (await store.get_alert(alert.id)).state == "ok"  # type: ignore[union-attr]

    claimed = [c for c in await store.claim_notifications(f.now(), 30) if c[0].id == alert.id]
    assert [i.kind for _, i in claimed] == ["fired", "recovered"]
    # Leased: not handed out twice.
    assert [c for c in await store.claim_notifications(f.now(), 30) if c[0].id == alert.id] == []
    await store.finish_notification(claimed[0][1].id, True, 200, None, f.now())
    await store.finish_notification(claimed[1][1].id, False, 500, "boom", f.now())
    page = await store.list_incidents(alert_id=alert.id)
    states = {i.kind: (i.notify_state, i.notify_attempts) for i in page.items}
    assert states == {"fired": ("sent", 1), "recovered": ("pending", 1)}
    assert await store.delete_alert(alert.id)
    assert (await store.list_incidents(alert_id=alert.id)).items == []


async def test_bad_token_and_delivery_failure_alerts_measure(store: Store) -> None:
    from postback.store.base import IncomingEntry

    refused = IncomingEntry(f.now(), "GET", "198.51.100.1", "q", None, 401, "bad_token")
    await store.log_incoming([refused, refused])
    base = {
        "name": "x",
        "offer_id": None,
        "postback_id": None,
        "percent": 50,
        "window_seconds": 600,
        "webhook_url": "https://h.example/",
        "secret": "whsec_eA==",
        "active": True,
    }
    tokens = await store.create_alert({**base, "kind": "bad_tokens", "threshold": 1})
    config = await f.postback(store, None, None)
    failures = await store.create_alert(
        {**base, "kind": "delivery_failures", "threshold": 1, "postback_id": config.id}
    )
    made = {i.alert_id: i for i in await store.check_alerts(f.now(), 0)}
    assert made[tokens.id].kind == "fired" and made[tokens.id].detail["refusals"] >= 2
    assert failures.id not in made  # no attempts yet: nothing to judge


async def test_replay_creates_missing_deliveries_then_requeues_them(store: Store) -> None:
    offer = await f.offer(store)
    aff = await f.affiliate(store)
    click = await f.stored_click(store, offer, aff.id)
    result = await store.record_postback(f.command(click, offer))
    late = await f.postback(store, aff.id, offer.id, url="https://late.example/?c={click_id}")
    since = f.now() - timedelta(hours=1)
    assert await store.replay(late.id, since, None, f.now()) == (0, 1)
    assert await store.replay(late.id, since, None, f.now()) == (1, 0)
    (delivery,) = [
        d for d in await f.deliveries_for(store, result.conversion.id) if d.postback_id == late.id
    ]
    assert delivery.state == "pending" and delivery.url.endswith(click.click_id)
    assert await store.replay(late.id, f.now() + timedelta(hours=1), None, f.now()) == (0, 0)


async def test_importing_a_file_twice_creates_each_conversion_once(
    store: Store, tmp_path: Path
) -> None:
    offer = await f.offer(store)
    aff = await f.affiliate(store)
    one = await f.stored_click(store, offer, aff.id)
    two = await f.stored_click(store, offer, aff.id)
    path = tmp_path / "offline.csv"
    path.write_text(
        "click_id,txid,status,revenue,time,attr.email\n"
        f"{one.click_id},T1,pending,12.5,2026-01-02T03:04:05Z,a@example.com\n"
        f"{one.click_id},T1,approved,,,\n"
        f"{two.click_id},,approved,3,,\n"
        "nosuchclick,T9,approved,,,\n"
        f"{two.click_id},,approved,abc,,\n"
    )
    first = await import_file(store, path)
    assert (first.created, first.updated, first.duplicate) == (2, 1, 0)
    assert [line for line, _ in first.errors] == [5, 6]
    second = await import_file(store, path)
    assert (second.created, second.updated) == (0, 0)
    assert second.duplicate == 2 and [line for line, _ in second.refused] == [2]
    found = await f.all_pages(store.list_conversions, filters={"offer_id": offer.id})
    assert sorted(c.status for c in found) == ["approved", "approved"]
    by_txid = {c.txid: c for c in found}
    assert by_txid["T1"].attributes == {"email": "a@example.com"}
    assert by_txid["T1"].created_at.isoformat() == "2026-01-02T03:04:05+00:00"


async def test_an_imported_row_for_an_expired_click_is_an_error_of_its_line(
    store: Store, tmp_path: Path
) -> None:
    offer = await f.offer(store, attribution_days=5)
    aff = await f.affiliate(store)
    clicked = f.now() - timedelta(days=10)
    old = await f.stored_click(store, offer, aff.id, created_at=clicked)
    fresh = await f.stored_click(store, offer, aff.id)
    within = (clicked + timedelta(days=1)).isoformat()
    path = tmp_path / "late.csv"
    path.write_text(
        "click_id,txid,status,time\n"
        f"{old.click_id},T1,approved,\n"  # now: 10 days after its click
        f"{fresh.click_id},T2,approved,\n"
        f"{old.click_id},T3,pending,{within}\n"  # its own time: within the window
        f"{old.click_id},T3,approved,\n"  # a status change: accepted at any age
    )
    summary = await import_file(store, path)
    assert (summary.created, summary.updated, summary.refused) == (2, 1, [])
    assert [line for line, _ in summary.errors] == [2]
    assert "attribution window (5 days)" in summary.errors[0][1]
    found = await f.all_pages(store.list_conversions, filters={"offer_id": offer.id})
    assert sorted((c.txid, c.status) for c in found) == [("T2", "approved"), ("T3", "approved")]


async def test_an_imported_row_whose_event_is_ignored_is_counted_as_ignored(
    store: Store, tmp_path: Path
) -> None:
    advertiser = await f.advertiser(store, event_map={"sale": "approved", "member_login": "ignore"})
    offer = await f.offer(store, advertiser.id)
    click = await f.stored_click(store, offer, (await f.affiliate(store)).id)
    path = tmp_path / "platform.csv"
    path.write_text(
        "click_id,txid,event\n"
        f"{click.click_id},O1,sale\n"
        f"{click.click_id},O1,member_login\n"
        f"{click.click_id},O1,new_event\n"
    )
    summary = await import_file(store, path)
    assert (summary.created, summary.ignored, summary.rows) == (1, 1, 3)
    assert [(line, message.split(":")[0]) for line, message in summary.errors] == [(4, "event")]
    # The platform's event landed on the order as its lifecycle stage, without a second sale.
    (conversion,) = await f.all_pages(store.list_conversions, filters={"offer_id": offer.id})
    assert (conversion.stage, conversion.status) == ("approved", "approved")
