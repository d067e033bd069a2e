"""Console pages through the forms, on both backends: login, CSRF, the admin's forms, the
trace of a conversion, reports, and an affiliate that sees only its own world."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from postback.domain.records import Click
from postback.domain.retention import Retention
from postback.store.sql import Store
from tests.api.conftest import convert
from tests.console.conftest import ADMIN_KEY, Browser, csrf_of, new_browser
from tests.store import factories as make
from tests.store.test_delivery_health import result as attempt_result


def created_id(answer: httpx.Response, kind: str) -> int:
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(rf"/{kind}/(\d+)\?saved=1", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


async def make_world(admin: Browser) -> dict[str, int]:
    """An advertiser, an offer, an affiliate with a postback config, through the forms."""
    advertiser = created_id(
        await admin.submit(
            "/advertisers/new",
            "/advertisers/new",
            {"name": "Shop", "allowed_ips": "", "status_map": "1=approved", "require_token": "on"},
        ),
        "advertisers",
    )
    offer = created_id(
        await admin.submit(
            "/offers/new",
            "/offers/new",
            {
                "advertiser_id": str(advertiser),
                "name": "Shoes",
                "destination_url": "https://shop.example/?cid={click_id}",
                "revenue": "10",
                "payout": "7.25",
                "currency": "usd",
                "status": "active",
            },
        ),
        "offers",
    )
    made = await admin.submit("/affiliates/new", "/affiliates/new", {"name": "Alice"})
    assert made.status_code == 201, made.text
    key = re.search(r'value="(aff_[^"]+)"', made.text)
    assert key, made.text
    affiliate = int(re.search(r"Affiliate #(\d+)", made.text).group(1))  # type: ignore[union-attr]
    postback = created_id(
        await admin.submit(
            "/postbacks/new",
            "/postbacks/new",
            {
                "affiliate_id": str(affiliate),
                "offer_id": "",
                "url": "https://tracker.example/pb?cid={sub1}&p={payout}",
                "method": "GET",
                "content_type": "application/json",
                "events": "*",
                "statuses": "approved",
                "active": "on",
            },
        ),
        "postbacks",
    )
    return {
        "advertiser": advertiser,
        "offer": offer,
        "affiliate": affiliate,
        "postback": postback,
        "key": key.group(1),  # type: ignore[dict-item]
    }


async def test_pages_need_a_login(browser: Browser) -> None:
    answer = await browser.get("/conversions")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fconversions"
    login = await browser.get("/login")
    assert login.status_code == 200
    assert "content-security-policy" in login.headers
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie


async def test_login_with_a_wrong_key_is_refused_and_counted(browser: Browser) -> None:
    for _ in range(5):
        answer = await browser.login("not-a-key-at-all-000000")
        assert answer.status_code == 401
        assert "invalid API key" in answer.text
        assert "postback_session" not in answer.headers.get("set-cookie", "")
    # The limiter (5 a minute here) now answers before the key is looked at.
    answer = await browser.login(ADMIN_KEY)
    assert answer.status_code == 429
    assert "retry-after" in answer.headers


async def test_login_session_and_logout(browser: Browser) -> None:
    answer = await browser.login(ADMIN_KEY)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("postback_session=")
    assert "HttpOnly" in cookie and "Secure" in cookie and "Max-Age=" in cookie
    home = await browser.get("/")
    assert home.status_code == 200 and "Dashboard" in home.text
    out = await browser.client.post("/logout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    assert (await browser.get("/")).status_code == 303


async def test_a_tampered_session_cookie_is_no_session(admin: Browser) -> None:
    value = admin.client.cookies["postback_session"]
    payload, mac = value.split(".")
    admin.client.cookies.set("postback_session", f"{payload}x.{mac}", domain="console.test")
    assert (await admin.get("/")).status_code == 303


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    admin: Browser, store: Store
) -> None:
    before = await store.list_advertisers()
    for data in ({"name": "Forged"}, {"name": "Forged", "csrf_token": "wrong"}):
        answer = await admin.client.post("/advertisers/new", data=data)
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
    after = await store.list_advertisers()
    assert [a.id for a in after.items] == [a.id for a in before.items]


async def test_forms_show_the_servers_messages_next_to_the_fields(admin: Browser) -> None:
    answer = await admin.submit(
        "/offers/new",
        "/offers/new",
        {"advertiser_id": "", "name": "", "destination_url": "ftp://x", "revenue": "x"},
    )
    assert answer.status_code == 400
    for field in ("advertiser_id", "name", "destination_url", "revenue"):
        assert f'id="{field}-error"' in answer.text, field
    bad_macro = await admin.submit(
        "/postbacks/new", "/postbacks/new", {"url": "https://t.example/?x={nope}", "active": "on"}
    )
    assert bad_macro.status_code == 400
    assert 'id="url-error"' in bad_macro.text and "{nope}" in bad_macro.text


async def test_the_admin_builds_a_world_and_reads_a_conversion_trace(
    admin: Browser, store: Store
) -> None:
    world = await make_world(admin)
    offer_page = await admin.get(f"/offers/{world['offer']}?aff_id={world['affiliate']}")
    assert (
        f"https://track.example/click?offer_id={world['offer']}&amp;aff_id={world['affiliate']}"
        in offer_page.text
    )
    advertiser_page = await admin.get(f"/advertisers/{world['advertiser']}")
    assert "https://track.example/postback?click_id={click_id}" in advertiser_page.text

    result = await convert(store, world["offer"], world["affiliate"], txid="T-1")
    conversion_id = result.conversion.id
    trace = await admin.get(f"/conversions/{conversion_id}")
    assert trace.status_code == 200
    assert "Incoming postbacks" in trace.text
    assert "https://tracker.example/pb?cid=s1&amp;p=7.25" in trace.text
    listing = await admin.get(f"/conversions?offer_id={world['offer']}&status=approved")
    assert f'href="/conversions/{conversion_id}"' in listing.text
    outgoing = await admin.get(f"/logs/outgoing?offer_id={world['offer']}")
    assert f"/conversions/{conversion_id}#delivery-" in outgoing.text
    incoming = await admin.get("/logs/incoming")
    assert incoming.status_code == 200

    delivery = (await store.list_deliveries(filters={"conversion_id": conversion_id})).items[0]
    resend = await admin.client.post(
        f"/deliveries/{delivery.id}/retry", data={"csrf_token": csrf_of(trace.text)}
    )
    assert resend.status_code == 303
    assert resend.headers["location"] == f"/conversions/{conversion_id}?resent={delivery.id}"

    report = await admin.get("/reports?group_by=offer_id")
    assert report.status_code == 200
    assert '<td class="num">10.00</td>' in report.text  # revenue of the approved conversion
    csv = await admin.get("/reports.csv?group_by=offer_id")
    assert csv.headers["content-type"].startswith("text/csv")
    header = "offer_id,clicks,unique_clicks,bot_clicks,conversions"
    assert csv.text.splitlines()[0].startswith(header)
    assert csv.text.splitlines()[1].startswith(f"{world['offer']},1,1,0,1,1,0,0,10,7.25,0,2.75")
    home = await admin.get("/")
    assert home.status_code == 200 and "Delivery health" in home.text


async def test_an_affiliate_sees_only_its_own_world(
    admin: Browser, store: Store, app_and_store: tuple[object, Store]
) -> None:
    world = await make_world(admin)
    other = await admin.submit("/affiliates/new", "/affiliates/new", {"name": "Bob"})
    bob_id = int(re.search(r"Affiliate #(\d+)", other.text).group(1))  # type: ignore[union-attr]
    bob_config = created_id(
        await admin.submit(
            "/postbacks/new",
            "/postbacks/new",
            {
                "affiliate_id": str(bob_id),
                "url": "https://bob.example/?c={click_id}",
                "active": "on",
            },
        ),
        "postbacks",
    )
    bobs = await convert(store, world["offer"], bob_id, txid="B-1")
    mine = await convert(store, world["offer"], world["affiliate"], txid="A-1")

    app, _ = app_and_store
    alice = new_browser(app, store)
    async with alice.client:
        assert (await alice.login(world["key"])).status_code == 303  # type: ignore[arg-type]
        own = await alice.get(f"/conversions/{mine.conversion.id}")
        assert own.status_code == 200
        assert "Incoming postbacks" not in own.text and "Revenue" not in own.text
        for path in (
            f"/conversions/{bobs.conversion.id}",
            f"/postbacks/{bob_config}",
            f"/affiliates/{bob_id}",
            "/affiliates",
            "/advertisers",
            f"/advertisers/{world['advertiser']}",
            "/offers/new",
            "/logs/incoming",
        ):
            answer = await alice.get(path)
            assert answer.status_code == 404, path
        listing = await alice.get("/conversions")
        assert f"/conversions/{mine.conversion.id}" in listing.text
        assert f'/conversions/{bobs.conversion.id}"' not in listing.text
        report = await alice.get("/reports?group_by=affiliate_id")
        assert "revenue" not in report.text and "profit" not in report.text
        page = await alice.get("/")
        bobs_delivery = await store.list_deliveries(filters={"conversion_id": bobs.conversion.id})
        retry = await alice.client.post(
            f"/deliveries/{bobs_delivery.items[0].id}/retry",
            data={"csrf_token": csrf_of(page.text)},
        )
        assert retry.status_code == 404
        offers = await alice.get("/offers")
        assert f"click?offer_id={world['offer']}&amp;aff_id={world['affiliate']}" in offers.text


async def test_a_platform_advertiser_is_made_from_its_template_with_its_secret(
    admin: Browser, store: Store
) -> None:
    form = await admin.get("/advertisers/new")
    assert 'value="hotmart"' in form.text and 'name="partner_secret"' in form.text
    made = await admin.submit(
        "/advertisers/new",
        "/advertisers/new",
        {"name": "Course shop", "template": "hotmart", "partner_secret": "hot-tok-1"},
    )
    advertiser_id = created_id(made, "advertisers")
    stored = await store.get_advertiser(advertiser_id)
    assert stored is not None and stored.template == "hotmart"
    assert stored.partner_secret == "hot-tok-1" and stored.event_map
    page = await admin.get(f"/advertisers/{advertiser_id}")
    # The URL to paste into the platform, without our token; the secret never shown.
    assert f"/postback?adv_id={advertiser_id}<" in page.text or (
        f'/postback?adv_id={advertiser_id}"' in page.text
    )
    assert "hot-tok-1" not in page.text and "Hotmart" in page.text
    # Saving the page without typing a secret keeps the stored one.
    kept = await admin.submit(
        f"/advertisers/{advertiser_id}",
        f"/advertisers/{advertiser_id}",
        {"name": "Course shop", "partner_secret": "", "require_token": "on"},
    )
    assert kept.status_code in (200, 303), kept.text
    again = await store.get_advertiser(advertiser_id)
    assert again is not None and again.partner_secret == "hot-tok-1"
    # A secret for an advertiser without a platform is refused next to the field.
    refused = await admin.submit(
        "/advertisers/new", "/advertisers/new", {"name": "Plain", "partner_secret": "x"}
    )
    assert refused.status_code == 400 and 'id="partner_secret-error"' in refused.text


async def test_an_offers_bot_url_and_a_clicks_visitor_in_the_trace(
    admin: Browser, store: Store
) -> None:
    world = await make_world(admin)
    page = await admin.get(f"/offers/{world['offer']}")
    assert 'name="bot_url"' in page.text
    offer = await store.get_offer(world["offer"])
    assert offer is not None
    click = Click(
        click_id=secrets.token_urlsafe(12),
        offer_id=offer.id,
        affiliate_id=world["affiliate"],
        subs=(None, None, None, None, None),
        ip="200.147.67.0",
        user_agent="Mozilla/5.0 (iPhone)",
        referrer=None,
        country="BR",
        created_at=datetime.now(UTC),
        region="São Paulo",
        device="mobile",
        os="iOS",
        browser="Mobile Safari",
        cost=Decimal("0.25"),
        visitor="v" * 32,
    )
    await store.insert_clicks([click])
    result = await convert(store, offer.id, world["affiliate"], click_id=click.click_id)
    trace = await admin.get(f"/conversions/{result.conversion.id}")
    assert trace.status_code == 200
    for shown in ("BR, São Paulo", "mobile · iOS · Mobile Safari", "0.25", "yes"):
        assert shown in trace.text, shown


async def test_an_offers_attribution_window_is_shown_and_edited(
    admin: Browser, store: Store
) -> None:
    new = await admin.get("/offers/new")
    assert 'name="attribution_days"' in new.text and 'value="30"' in new.text
    world = await make_world(admin)  # its form leaves the window out: the default
    offer = await store.get_offer(world["offer"])
    assert offer is not None and offer.attribution_days == 30
    fields = {
        "advertiser_id": str(offer.advertiser_id),
        "name": offer.name,
        "destination_url": offer.destination_url,
        "revenue": "10",
        "payout": "7.25",
        "status": "active",
    }
    path = f"/offers/{offer.id}"
    refused = await admin.submit(path, path, {**fields, "attribution_days": "3651"})
    assert refused.status_code == 400 and 'id="attribution_days-error"' in refused.text
    saved = await admin.submit(path, path, {**fields, "attribution_days": "7"})
    assert saved.status_code < 400, saved.text
    page = await admin.get(path)
    assert 'name="attribution_days"' in page.text and 'value="7"' in page.text
    changed = await store.get_offer(offer.id)
    assert changed is not None and changed.attribution_days == 7


async def test_a_trace_says_what_retention_removed(admin: Browser, store: Store) -> None:
    world = await make_world(admin)
    config = await make.postback(
        store, world["affiliate"], world["offer"], method="POST", body='{"c":"{click_id}"}'
    )
    result = await convert(store, world["offer"], world["affiliate"])
    claims = await store.claim_deliveries(limit=100, lease_seconds=60, now=datetime.now(UTC))
    for claim in claims:
        await store.finish_attempt(claim, attempt_result(claim, datetime.now(UTC), success=True))
    done = await store.purge(Retention(attempts_days=1), datetime.now(UTC) + timedelta(days=30))
    assert done is not None and done.purged.bodies >= 1
    trace = await admin.get(f"/conversions/{result.conversion.id}")
    assert trace.status_code == 200
    assert "body removed by retention" in trace.text
    assert "Its attempts were removed by retention." in trace.text
    (purged,) = [
        d
        for d in (
            await store.list_deliveries(filters={"conversion_id": result.conversion.id})
        ).items
        if d.postback_id == config.id
    ]
    assert f'action="/deliveries/{purged.id}/retry"' not in trace.text
    refused = await admin.client.post(
        f"/deliveries/{purged.id}/retry", data={"csrf_token": csrf_of(trace.text)}
    )
    assert refused.status_code == 410 and "removed by retention" in refused.text
    assert "No longer available" in refused.text
