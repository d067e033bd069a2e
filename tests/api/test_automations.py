"""API refusals and views of the automation features (in-process, both backends)."""

from __future__ import annotations

from datetime import UTC, datetime

from postback.domain.catalog import INCOMING
from postback.store.base import IncomingEntry, PostbackCommand
from tests.api.conftest import Api, convert, error_of


async def test_postback_configs_accept_attribute_macros_and_still_refuse_unknown_ones(
    api: Api,
) -> None:
    ok = await api.admin(
        "POST", "/api/v1/postbacks", json={"url": "https://crm.example/?e={attr.email}&r={revenue}"}
    )
    assert ok.status_code == 201, ok.text
    for url in ("https://crm.example/?e={attr.Email}", "https://crm.example/?e={email}"):
        refused = await api.admin("POST", "/api/v1/postbacks", json={"url": url})
        error = error_of(refused, 400, "invalid_param")
        assert error["param"] == "url" and "{attr.<name>}" in error["message"]
    # Tracking links know nothing of attributes.
    adv = await api.advertiser()
    offer = await api.admin(
        "POST",
        "/api/v1/offers",
        json={
            "advertiser_id": adv["id"],
            "name": "x",
            "destination_url": "https://x.example/?e={attr.email}",
            "revenue": 1,
            "payout": 1,
        },
    )
    error_of(offer, 400, "invalid_param")


async def test_templates_fill_advertisers_and_configs(api: Api) -> None:
    made = await api.advertiser(template="affise", status_map={"9": "approved"})
    assert made["status_map"] == {"9": "approved"}  # given fields win
    binom = await api.advertiser(template="binom")
    assert binom["field_map"] == {"cnv_id": "click_id"}
    error_of(
        await api.admin("POST", "/api/v1/advertisers", json={"name": "x", "template": "no"}),
        400,
        "invalid_param",
    )
    listed = await api.admin("GET", "/api/v1/templates")
    assert listed.status_code == 200 and len(listed.json()["incoming"]) == len(INCOMING)
    error_of(await api.admin("GET", "/api/v1/templates/nothing"), 404, "not_found")
    for body, param in (
        ({"template": "voluum"}, "tracker_url"),
        (
            {"template": "voluum", "tracker_url": "https://t.example", "url": "https://t.example"},
            "url",
        ),
        ({"tracker_url": "https://t.example"}, "tracker_url"),
        ({}, "url"),
        ({"template": "nope", "tracker_url": "https://t.example"}, "template"),
    ):
        refused = await api.admin("POST", "/api/v1/postbacks", json=body)
        assert error_of(refused, 400, "invalid_param")["param"] == param, body
    bad_map = await api.admin(
        "POST", "/api/v1/advertisers", json={"name": "x", "field_map": {"a": "revenue2"}}
    )
    error_of(bad_map, 400, "invalid_param")


async def test_a_platform_secret_is_stored_and_never_shown(api: Api) -> None:
    made = await api.advertiser(template="hotmart", partner_secret="hottok-123")
    assert made["template"] == "hotmart" and made["partner_secret_set"] is True
    assert made["signed_postbacks"] is False
    assert "hottok-123" not in str(made)
    shown = await api.admin("GET", f"/api/v1/advertisers/{made['id']}")
    assert "hottok-123" not in shown.text and shown.json()["partner_secret_set"] is True
    cleared = await api.admin(
        "PATCH", f"/api/v1/advertisers/{made['id']}", json={"partner_secret": None}
    )
    assert cleared.json()["partner_secret_set"] is False
    # A secret belongs to a platform that proves its postbacks with one.
    for body in (
        {"name": "x", "partner_secret": "s"},
        {"name": "x", "template": "keitaro", "partner_secret": "s"},
        {"name": "x", "template": "hotmart", "partner_secret": "bad\nline"},
        {"name": "x", "template": "hotmart", "partner_secret": ""},
    ):
        refused = await api.admin("POST", "/api/v1/advertisers", json=body)
        assert error_of(refused, 400, "invalid_param")["param"] == "partner_secret", body
    plain = await api.advertiser()
    patched = await api.admin(
        "PATCH", f"/api/v1/advertisers/{plain['id']}", json={"partner_secret": "s"}
    )
    assert error_of(patched, 400, "invalid_param")["param"] == "partner_secret"


async def test_field_map_rules_are_checked_when_saved(api: Api) -> None:
    good = {"a.sck|a.src": "click_id", "cents": "revenue,attr.order_total*0.01"}
    assert (await api.advertiser(field_map=good))["field_map"] == good
    for bad in ({"a": "revenue*0"}, {"a b": "txid"}, {"a": "txid,nope"}, {"a": "attr.X"}):
        refused = await api.admin(
            "POST", "/api/v1/advertisers", json={"name": "x", "field_map": bad}
        )
        assert error_of(refused, 400, "invalid_param")["param"].startswith("field_map"), bad


async def test_offer_lifecycle_fields_and_what_affiliates_see(api: Api) -> None:
    offer = await api.offer(lifecycle_events=["checkout_abandoned", "approved", "refunded"])
    assert offer["affiliates_receive"] == ["approved", "refunded"]
    assert offer["affiliate_events"] is None and offer["affiliate_personal_data"] is False
    changed = await api.admin(
        "PATCH", f"/api/v1/offers/{offer['id']}", json={"affiliate_events": ["checkout_abandoned"]}
    )
    assert changed.json()["affiliates_receive"] == ["checkout_abandoned"]
    back = await api.admin(
        "PATCH", f"/api/v1/offers/{offer['id']}", json={"affiliate_events": None}
    )
    assert back.json()["affiliates_receive"] == ["approved", "refunded"]
    wrong = await api.admin(
        "PATCH", f"/api/v1/offers/{offer['id']}", json={"lifecycle_events": ["paid"]}
    )
    error_of(wrong, 400, "invalid_param")


async def test_alert_refusals(api: Api) -> None:
    base = {"name": "a", "kind": "bad_tokens", "webhook_url": "https://hooks.example/a"}
    made = await api.created("/api/v1/alerts", base)
    assert made["state"] == "ok" and made["secret"].startswith("whsec_")
    for changes, param in (
        ({"webhook_url": "http://127.0.0.1/x"}, "webhook_url"),
        ({"kind": "delivery_failures"}, "postback_id"),
        ({"kind": "delivery_failures", "postback_id": 999999}, "postback_id"),
        ({"kind": "no_conversions", "offer_id": 999999}, "offer_id"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"percent": 101}, "percent"),
        ({"kind": "sunshine"}, "kind"),
    ):
        refused = await api.admin("POST", "/api/v1/alerts", json={**base, **changes})
        assert error_of(refused, 400, "invalid_param")["param"] == param, changes
    patched = await api.admin(
        "PATCH", f"/api/v1/alerts/{made['id']}", json={"webhook_url": "http://10.0.0.1/"}
    )
    error_of(patched, 400, "invalid_param")
    assert (await api.admin("DELETE", f"/api/v1/alerts/{made['id']}")).status_code == 204
    error_of(await api.admin("GET", f"/api/v1/alerts/{made['id']}/incidents"), 404, "not_found")


async def test_affiliates_see_attributes_only_where_the_offer_allows(api: Api) -> None:
    aff = await api.affiliate()
    for allowed in (False, True):
        offer = await api.offer(affiliate_personal_data=allowed)
        pending = await convert(api.store, offer["id"], aff["id"], status="pending")
        click = await api.store.get_click(pending.conversion.click_id)
        stored = await api.store.get_offer(offer["id"])
        assert click is not None and stored is not None
        now = datetime.now(UTC)
        entry = IncomingEntry(now, "GET", None, "q", None, 200, "pending")
        command = PostbackCommand(
            click,
            stored,
            "sale",
            None,
            "approved",
            None,
            None,
            now,
            entry,
            attributes={"email": "buyer@example.com"},
        )
        await api.store.record_postback(command)
        path = f"/api/v1/conversions/{pending.conversion.id}"
        mine = await api.as_key(aff["api_key"], "GET", path)
        assert mine.status_code == 200, mine.text
        expected = {"email": "buyer@example.com"} if allowed else {}
        assert mine.json()["attributes"] == expected
        listed = await api.as_key(
            aff["api_key"], "GET", "/api/v1/conversions", params={"offer_id": offer["id"]}
        )
        assert [c["attributes"] for c in listed.json()["items"]] == [expected]
        admin = await api.admin("GET", path)
        assert admin.json()["attributes"] == {"email": "buyer@example.com"}
