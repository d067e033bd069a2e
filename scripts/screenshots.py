"""Take the README's console screenshots (docs/screenshots/) from a server with demo-like
data: `make screenshots` (needs /usr/bin/chromium; everything runs on 127.0.0.1).

It starts `postback serve` on a fresh SQLite file and a small partner receiver, builds a
network through the API, writes two weeks of clicks (from several countries, on several
devices, some bots and repeats, each with its cost) and postbacks straight into the store
(so the charts have a history), lets the workers deliver, and photographs the dashboard,
the report by country, a conversion trace and the postback form with Playwright.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from playwright.async_api import Page, async_playwright

from postback.settings import Settings
from postback.store.base import IncomingEntry, PostbackCommand
from postback.store.factory import open_store
from postback.store.sql import Store

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("POSTBACK_CHROMIUM", "/usr/bin/chromium")
ADMIN_KEY = "adm_screenshots_0123456789"
DAYS = 14
SEED = 7
# Where the clicks come from (None: an address no database places), and how often.
COUNTRIES = {"US": 30, "BR": 22, "DE": 14, "GB": 10, "FR": 8, "IN": 7, "JP": 4, None: 5}
# What they click on: device, OS, browser, a User-Agent like theirs, and how often.
AGENTS = (
    ("desktop", "Windows", "Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124", 26),
    ("desktop", "Mac OS X", "Safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari", 9),
    ("mobile", "Android", "Chrome Mobile", "Mozilla/5.0 (Linux; Android 14) Mobile Chrome", 30),
    ("mobile", "iOS", "Mobile Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Mobile", 22),
    ("tablet", "iOS", "Mobile Safari", "Mozilla/5.0 (iPad; CPU OS 17_4) Mobile", 6),
    ("bot", None, "Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1)", 7),
)
# What a click costs the network, per offer (a cost per click, a little spread).
CPC = {
    "Summer Sale": Decimal("0.18"),
    "Premium Plan": Decimal("0.55"),
    "Free Trial": Decimal("0.06"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_receiver() -> tuple[web.AppRunner, int]:
    """A partner endpoint: 200 "ok", except every third call to /flaky answers 503."""
    calls = {"flaky": 0}

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        if request.path == "/flaky":
            calls["flaky"] += 1
            if calls["flaky"] % 3 == 1:
                return web.Response(status=503, text="busy, try later")
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


def start_server(database_url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "POSTBACK_DATABASE_URL": database_url,
        "POSTBACK_ADMIN_KEY": ADMIN_KEY,
        "POSTBACK_ALLOW_PRIVATE_TARGETS": "true",
        "POSTBACK_RETRY_SCHEDULE": "1,1,1",
    }
    log = (workdir / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "postback", "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start; see " + str(workdir / "server.log"))


async def build_network(api: httpx.AsyncClient, receiver: str) -> dict[str, Any]:
    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await api.post(path, json=body)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    shop = await post("/advertisers", {"name": "Acme Shop", "status_map": {"1": "approved"}})
    offers = [
        await post(
            "/offers",
            {
                "advertiser_id": shop["id"],
                "name": name,
                "destination_url": "https://shop.example/landing?cid={click_id}",
                "revenue": revenue,
                "payout": payout,
            },
        )
        for name, revenue, payout in (
            ("Summer Sale", "12.50", "8.75"),
            ("Premium Plan", "40", "25.50"),
            ("Free Trial", "3", "2"),
        )
    ]
    affiliates = [
        await post("/affiliates", {"name": name})
        for name in ("Blue Media", "Green Traffic", "Orange Ads")
    ]
    configs = [
        await post(
            "/postbacks",
            {
                "affiliate_id": affiliates[0]["id"],
                "url": receiver + "/tracker?cid={sub1}&payout={payout}&status={status}",
                "statuses": ["pending", "approved", "rejected"],
            },
        ),
        await post(
            "/postbacks",
            {
                "affiliate_id": affiliates[1]["id"],
                "url": receiver + "/flaky?click={click_id}&sum={payout}&event={event}",
                "events": ["*"],
            },
        ),
        await post(
            "/postbacks",
            {
                "affiliate_id": affiliates[2]["id"],
                "method": "POST",
                "url": receiver + "/hooks/orange",
                "body": '{"id": "{conversion_id}", "payout": {payout}, "sub": "{sub1}"}',
            },
        ),
    ]
    return {"offers": offers, "affiliates": affiliates, "configs": configs}


async def history(store: Store, network: dict[str, Any]) -> None:
    """Two weeks of clicks and conversions, written as the edge would write them."""
    from postback.domain.records import Click

    rng = random.Random(SEED)
    now = datetime.now(UTC)
    offers = [await store.get_offer(o["id"]) for o in network["offers"]]
    affiliates = [a["id"] for a in network["affiliates"]]
    places = list(COUNTRIES)
    agents = [agent[:4] for agent in AGENTS]
    for day in range(DAYS, -1, -1):
        clicks = []
        for _ in range(rng.randint(60, 140) + (DAYS - day) * 6):
            offer = rng.choice(offers)
            assert offer is not None
            moment = now - timedelta(days=day, seconds=rng.randint(0, 20 * 3600))
            moment = min(moment, now - timedelta(minutes=10))
            device, os_name, browser, agent = rng.choices(agents, [a[4] for a in AGENTS])[0]
            cost = CPC[offer.name] * Decimal(rng.randint(70, 130)) / 100
            clicks.append(
                Click(
                    click_id=secrets.token_urlsafe(16),
                    offer_id=offer.id,
                    affiliate_id=rng.choice(affiliates),
                    subs=(rng.choice(["spring-fb", "search-7", "news-2", "video-1"]),)
                    + (None,) * 4,
                    ip=f"203.0.113.{rng.randint(1, 250)}",
                    user_agent=agent,
                    referrer=None,
                    country=rng.choices(places, list(COUNTRIES.values()))[0],
                    created_at=moment,
                    device=device,
                    os=os_name,
                    browser=browser,
                    is_bot=device == "bot",
                    is_unique=rng.random() > 0.15,
                    cost=cost.quantize(Decimal("0.01")),
                )
            )
        await store.insert_clicks(clicks)
        people = [click for click in clicks if not click.is_bot]
        for click in rng.sample(people, k=max(1, len(people) // 14)):
            offer = next(o for o in offers if o is not None and o.id == click.offer_id)
            status = rng.choices(["approved", "pending", "rejected"], [7, 2, 1])[0]
            when = click.created_at + timedelta(minutes=rng.randint(1, 180))
            when = min(when, now - timedelta(seconds=5))
            query = f"click_id={click.click_id}&txid=T{rng.randint(10_000, 99_999)}&status={status}"
            entry = IncomingEntry(
                received_at=when,
                method="GET",
                ip="198.51.100.7",
                query=query,
                body=None,
                http_status=200,
                result="created",
                click_id=click.click_id,
            )
            await store.record_postback(
                PostbackCommand(
                    click=click,
                    offer=offer,
                    event="sale",
                    txid=query.split("txid=")[1].split("&")[0],
                    status=status,
                    revenue=None,
                    currency=None,
                    received_at=when,
                    log=entry,
                )
            )


async def wait_for_deliveries(api: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pending = await api.get("/deliveries", params={"state": "pending", "limit": 1})
        if not pending.json()["items"]:
            return
        await asyncio.sleep(0.5)


async def shoot(page: Page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(OUT / name), full_page=True)
    print("wrote", OUT / name)


async def photograph(base: str, api: httpx.AsyncClient, network: dict[str, Any]) -> None:
    flaky = network["configs"][1]["id"]
    retried = (await api.get("/deliveries", params={"postback_id": flaky, "limit": 50})).json()
    trace = next(
        (d["conversion_id"] for d in retried["items"] if d["attempt_count"] > 1),
        retried["items"][0]["conversion_id"] if retried["items"] else 1,
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await page.goto(f"{base}/login")
        await page.fill("#key", ADMIN_KEY)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/")
        await page.wait_for_timeout(300)  # the chart's first frame
        await shoot(page, "dashboard.png")
        today = datetime.now(UTC).date()
        week = f"from={today - timedelta(days=6)}&to={today}"
        await page.goto(f"{base}/reports?{week}&group_by=country&sort=-clicks")
        await shoot(page, "report-by-country.png")
        await page.goto(f"{base}/conversions/{trace}")
        await shoot(page, "conversion-trace.png")
        await page.goto(f"{base}/postbacks/{network['configs'][0]['id']}")
        await page.wait_for_selector("#preview pre")
        await page.click("#test-button")
        await page.wait_for_selector("#test-result .trial")
        await shoot(page, "postback-form.png")
        phone = await browser.new_context(viewport={"width": 390, "height": 844})
        small = await phone.new_page()
        await small.goto(f"{base}/login")
        await small.fill("#key", ADMIN_KEY)
        await small.click("button[type=submit]")
        await small.wait_for_url(f"{base}/")
        await small.wait_for_timeout(300)
        await shoot(small, "dashboard-phone.png")
        await browser.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database_url = f"sqlite:///{workdir / 'screenshots.db'}"
        runner, receiver_port = await start_receiver()
        port = free_port()
        server = start_server(database_url, port, workdir)
        base = f"http://127.0.0.1:{port}"
        store = open_store(Settings(database_url=database_url))
        try:
            async with httpx.AsyncClient(
                base_url=f"{base}/api/v1",
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                timeout=30,
            ) as api:
                network = await build_network(api, f"http://127.0.0.1:{receiver_port}")
                await history(store, network)
                await wait_for_deliveries(api)
                await photograph(base, api, network)
        finally:
            await store.close()
            server.terminate()
            server.wait(20)
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
