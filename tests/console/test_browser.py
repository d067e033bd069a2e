"""The console in a real browser against the real `postback serve` process (SQLite) and a
real partner receiver on 127.0.0.1: an admin builds a network through the forms, traffic
flows, the conversion, its delivery and the report figures appear; an affiliate cannot
reach another affiliate's pages; a form without its CSRF token is refused. Then visitors
from several countries on several devices, behind a trusted proxy: the report grouped
and filtered by them through the form, the dashboard's top countries and devices, and
an affiliate who sees only its own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.console.browser import LAUNCH_ARGS, chromium_path
from tests.e2e.harness import ADMIN_KEY, Receiver, ServerProcess, eventually
from tests.e2e.network import create_network

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
STEP_MS = 15_000


@pytest.fixture(scope="module")
def server(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(sqlite_url, Path(tmp_path_factory.mktemp("console")))
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=path, headless=True, args=LAUNCH_ARGS
        )
        yield launched
        await launched.close()


async def new_page(browser: Browser, problems: list[str]) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(STEP_MS)
    # Script errors and CSP violations show up as console errors.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


async def log_in(page: Page, base: str, key: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")


def id_in(url: str, kind: str) -> int:
    found = re.search(rf"/{kind}/(\d+)", url)
    assert found, url
    return int(found.group(1))


async def create_affiliate(page: Page, base: str, name: str) -> tuple[int, str]:
    await page.goto(f"{base}/affiliates/new")
    await page.fill("#name", name)
    await page.click("text=Create affiliate")
    heading = await page.inner_text("h1")
    key = await page.input_value("[data-copy-source]")
    return int(re.search(r"#(\d+)", heading).group(1)), key  # type: ignore[union-attr]


async def test_console_end_to_end(
    server: ServerProcess, receiver: Receiver, browser: Browser
) -> None:
    base = server.base_url
    problems: list[str] = []
    admin = await new_page(browser, problems)
    await log_in(admin, base, ADMIN_KEY)
    await expect(admin.locator("h1")).to_have_text("Dashboard")

    # Advertiser, offer, affiliate and postback config, through the forms.
    await admin.goto(f"{base}/advertisers/new")
    await admin.fill("#name", "Shoe shop")
    await admin.click("text=Create advertiser")
    advertiser_id = id_in(admin.url, "advertisers")
    postback_url = await admin.input_value("[data-copy-source]")
    token = re.search(r"token=([^&]+)", postback_url).group(1)  # type: ignore[union-attr]

    await admin.goto(f"{base}/offers/new")
    await admin.select_option("#advertiser_id", str(advertiser_id))
    await admin.fill("#name", "Running shoes")
    await admin.fill("#destination_url", receiver.url("/landing?cid={click_id}"))
    await admin.fill("#revenue", "10")
    await admin.fill("#payout", "7.5")
    await admin.click("text=Create offer")
    offer_id = id_in(admin.url, "offers")
    await expect(admin.locator(".notice.ok")).to_have_text("Saved.")

    alice_id, alice_key = await create_affiliate(admin, base, "Alice")
    bob_id, _ = await create_affiliate(admin, base, "Bob")

    await admin.goto(f"{base}/postbacks/new?affiliate_id={alice_id}")
    await admin.fill("#url", receiver.url("/pb?cid={sub1}&payout={payout}&status={status}"))
    # The live preview (htmx) renders the URL for a sample conversion.
    await expect(admin.locator("#preview pre")).to_contain_text("cid=sub1_value&payout=")
    await admin.fill("#url", receiver.url("/pb?cid={sub1}&x={nope}"))
    await expect(admin.locator("#preview")).to_contain_text("nope")
    await admin.fill("#url", receiver.url("/pb?cid={sub1}&payout={payout}&status={status}"))
    await admin.click("text=Create postback")
    alice_config = id_in(admin.url, "postbacks")
    # The Test button shows the partner's answer.
    await admin.click("#test-button")
    await expect(admin.locator("#test-result")).to_contain_text("HTTP 200")
    await expect(admin.locator("#test-result .response")).to_have_text("ok")

    await admin.goto(f"{base}/postbacks/new?affiliate_id={bob_id}")
    await admin.fill("#url", receiver.url("/bob?cid={click_id}"))
    await admin.click("text=Create postback")
    bob_config = id_in(admin.url, "postbacks")

    # The tracking link, as the offer page hands it out, followed by the browser.
    await admin.goto(f"{base}/offers/{offer_id}?aff_id={alice_id}")
    link = await admin.locator("[data-copy-source]").nth(1).input_value()
    visitor = await new_page(browser, problems)
    await visitor.goto(f"{link}&sub1=campaign7")
    click_id = re.search(r"cid=([A-Za-z0-9_-]+)", visitor.url).group(1)  # type: ignore[union-attr]

    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        sent = await client.get(
            "/postback", params={"click_id": click_id, "txid": "T-1", "token": token}
        )
        assert sent.json()["result"] == "created", sent.text
        conversion_id = sent.json()["conversion_id"]
        bob_click = await client.get("/click", params={"offer_id": offer_id, "aff_id": bob_id})
        bob_cid = re.search(r"cid=([A-Za-z0-9_-]+)", bob_click.headers["location"]).group(1)  # type: ignore[union-attr]
        bob_sent = await client.get(
            "/postback", params={"click_id": bob_cid, "txid": "T-2", "token": token}
        )
        bob_conversion = bob_sent.json()["conversion_id"]

    await eventually(lambda: receiver.at("/pb") and receiver.at("/bob"), timeout=20)
    assert receiver.at("/pb")[-1].query == {
        "cid": "campaign7",
        "payout": "7.5",
        "status": "approved",
    }

    # The conversion in the list, and its trace with the delivery.
    await admin.goto(f"{base}/conversions")
    await admin.click(f"a[href='/conversions/{conversion_id}']")
    await expect(admin.locator("h1")).to_contain_text(f"Conversion #{conversion_id}")
    await expect(admin.locator(".trace")).to_contain_text("campaign7")
    await expect(admin.locator(".delivery .badge").first).to_have_text("delivered")
    await expect(admin.locator(".delivery")).to_contain_text("HTTP 200")
    await admin.click(".delivery button:has-text('Resend')")
    await expect(admin.locator(".notice.ok")).to_contain_text("queued")

    # The report's figures: Alice's and Bob's conversions, 10 revenue and 7.5 payout each.
    # Both clicks are bots (headless Chromium, httpx), unique, free: ROI 5 / 15.
    await admin.goto(f"{base}/reports?group_by=offer_id")
    cells = admin.locator("table.report tbody tr").first.locator("td")
    counts = ["2", "2", "2", "2", "2", "0", "0"]
    money = ["20.00", "15.00", "0.00", "5.00", "100.00", "7.50", "33.33"]
    await expect(cells).to_have_text([str(offer_id), *counts, *money])
    await admin.goto(f"{base}/")
    await expect(admin.locator(".period").nth(0)).to_contain_text("20.00")  # two conversions
    assert await admin.locator("#week-chart").evaluate("c => c.width > 0")

    # A form without its CSRF token is refused and changes nothing.
    await admin.goto(f"{base}/advertisers/new")
    await admin.fill("#name", "Forged")
    await admin.evaluate(
        "document.querySelectorAll('main input[name=csrf_token]').forEach(e => e.remove())"
    )
    await admin.click("text=Create advertiser")
    await expect(admin.locator("h1")).to_contain_text("403")
    await admin.goto(f"{base}/advertisers")
    await expect(admin.locator("table")).not_to_contain_text("Forged")

    # An affiliate sees its own conversion and none of the other affiliate's pages.
    alice = await new_page(browser, problems)
    await log_in(alice, base, alice_key)
    await alice.goto(f"{base}/conversions/{conversion_id}")
    await expect(alice.locator("h1")).to_contain_text(f"Conversion #{conversion_id}")
    await expect(alice.locator("main")).not_to_contain_text("Revenue")
    for path in (
        f"/conversions/{bob_conversion}",
        f"/postbacks/{bob_config}",
        f"/affiliates/{bob_id}",
        "/advertisers",
        "/logs/incoming",
    ):
        answer = await alice.goto(f"{base}{path}")
        assert answer is not None and answer.status == 404, path
        await expect(alice.locator("h1")).to_contain_text("404")
    await alice.goto(f"{base}/postbacks/{alice_config}")
    await expect(alice.locator("h1")).to_have_text(f"Postback #{alice_config}")

    # The refusals above log their 4xx; anything else (a script error, a CSP refusal) counts.
    unexpected = [p for p in problems if not p.startswith("Failed to load resource")]
    assert unexpected == [], problems


# Who clicks, from where (the bundled registry data places these addresses) and on what.
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IPAD = IPHONE.replace("iPhone; CPU iPhone OS", "iPad; CPU OS")
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BRAZIL, GERMANY, JAPAN, USA = "200.147.67.142", "81.169.145.156", "133.242.0.1", "8.8.8.8"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own, behind a proxy on 127.0.0.1 it trusts (X-Forwarded-For)."""
    folder = Path(tmp_path_factory.mktemp("proxied"))
    process = ServerProcess(
        f"sqlite:///{folder / 'postback.db'}", folder, POSTBACK_TRUSTED_PROXIES="127.0.0.1"
    )
    process.start()
    yield process
    process.stop()


async def test_reports_and_dashboard_by_country_and_device(
    proxied: ServerProcess, browser: Browser
) -> None:
    base = proxied.base_url
    async with proxied.admin() as api, proxied.client() as visitors:
        network = await create_network(api)
        offer, alice = network.offer["id"], network.affiliate["id"]
        bob = (await api.post("/affiliates", json={"name": "Bob"})).json()["id"]
        clicks = []
        for affiliate, address, agent, cost in (
            (alice, BRAZIL, IPHONE, "0.40"),
            (alice, BRAZIL, IPHONE, "0.40"),  # the same visitor again: not unique
            (alice, GERMANY, WINDOWS, "1"),
            (alice, USA, GOOGLEBOT, "0"),
            (bob, JAPAN, IPAD, "2"),
        ):
            answer = await visitors.get(
                "/click",
                params={"offer_id": offer, "aff_id": affiliate, "cost": cost},
                headers={"user-agent": agent, "x-forwarded-for": address},
            )
            assert answer.status_code == 302, answer.text
            clicks.append(re.search(r"cid=([A-Za-z0-9_-]+)", answer.headers["location"]))
        first = clicks[0].group(1)  # type: ignore[union-attr]
        sent = await visitors.get(
            "/postback", params={"click_id": first, "txid": "V-1", "token": network.token}
        )
        assert sent.json()["result"] == "created", sent.text

        async def counted() -> bool:
            found = await api.get("/reports", params={"offer_id": offer})
            return bool(found.json()["totals"]["clicks"] == 5)

        await eventually(counted, timeout=20)

    problems: list[str] = []
    admin = await new_page(browser, problems)
    await log_in(admin, base, ADMIN_KEY)
    # Grouped by country and device through the form (instead of the default day).
    await admin.goto(f"{base}/reports")
    await admin.uncheck("input[name=group_by][value=day]")
    await admin.check("input[name=group_by][value=country]")
    await admin.check("input[name=group_by][value=device]")
    await admin.fill("input[name=offer_id]", str(offer))
    await admin.click("form.report-form button[type=submit]")
    await admin.wait_for_url(re.compile(r"group_by=country&group_by=device"))
    rows = admin.locator("table.report tbody tr")
    # country, device, clicks, unique, bots, conversions, approved, pending, rejected,
    # revenue, payout, cost, profit, CR %, EPC, ROI % = (10.5 - 7.25 - 0.8) / 8.05.
    expected = [
        "BR mobile 2 1 0 1 1 0 0 10.50 7.25 0.80 3.25 50.00 3.625 30.43",
        "DE desktop 1 1 0 0 0 0 0 0.00 0.00 1.00 0.00 0.00 0.00 -100.00",
        "JP tablet 1 1 0 0 0 0 0 0.00 0.00 2.00 0.00 0.00 0.00 -100.00",
        "US bot 1 1 1 0 0 0 0 0.00 0.00 0.00 0.00 0.00 0.00 0.00",
    ]
    await expect(rows).to_have_count(len(expected))
    for index, line in enumerate(expected):
        await expect(rows.nth(index).locator("td")).to_have_text(line.split(" "))
    # Filtered by device through its picker: the phones only.
    await admin.select_option("select[name=device]", "mobile")
    await admin.click("form.report-form button[type=submit]")
    await admin.wait_for_url(re.compile(r"device=mobile"))
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("td").nth(0)).to_have_text("BR")
    await expect(rows.first.locator("td").nth(2)).to_have_text("2")
    csv = admin.locator("a:has-text('CSV')")
    assert "device=mobile" in (await csv.get_attribute("href") or "")

    # The dashboard: most clicks first, with ROI.
    await admin.goto(f"{base}/")
    countries = admin.locator("#top-country tbody tr")
    await expect(countries.first.locator("td")).to_have_text(["BR", "2", "1", "10.50", "30.43"])
    await expect(countries).to_have_count(4)
    await expect(admin.locator("#top-device tbody tr").first.locator("td").first).to_have_text(
        "mobile"
    )
    await expect(admin.locator(".period").nth(0)).to_contain_text("ROI")
    await admin.click("#top-country a:has-text('JP')")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("td").first).to_have_text("JP")

    # Alice sees her countries; Bob's Japan is nowhere on her pages.
    own = await new_page(browser, problems)
    await log_in(own, base, network.affiliate["api_key"])
    await own.goto(f"{base}/reports?group_by=country")
    await expect(own.locator("table.report tbody tr td:first-child")).to_have_text(
        ["BR", "DE", "US"]
    )
    await expect(own.locator("table.report thead")).not_to_contain_text("revenue")
    await own.goto(f"{base}/")
    await expect(own.locator("#top-country tbody tr td:first-child")).to_have_text(
        ["BR", "DE", "US"]
    )
    await expect(own.locator("#top-device")).not_to_contain_text("tablet")
    # The browser asks for /favicon.ico, which is not there (404); anything else counts.
    unexpected = [p for p in problems if not p.startswith("Failed to load resource")]
    assert unexpected == [], problems
