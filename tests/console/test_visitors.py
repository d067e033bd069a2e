"""The visitor's country, device, OS and browser in the console, on both backends: the
report grouped and filtered by them with unique clicks, bots, cost and ROI, the
dashboard's top countries and devices, and an affiliate who sees only its own.

Each test has a database of its own: the dashboard counts every click of the week."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from postback.domain.records import Click
from postback.store.sql import Store
from tests.api.conftest import convert
from tests.conftest import _create_db, _drop_db, _with_database
from tests.console.conftest import Browser, new_browser
from tests.console.tables import table_lines, table_rows
from tests.console.test_pages import make_world


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for each test (not each module), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'postback.db'}"
        return
    server = str(request.getfixturevalue("pg_server"))
    name = "postback_test_" + secrets.token_hex(6)
    asyncio.run(_create_db(server, name))
    yield _with_database(server, name)
    asyncio.run(_drop_db(server, name))


def visitor_click(
    offer_id: int,
    affiliate_id: int,
    country: str | None,
    device: str,
    cost: str,
    *,
    os: str | None = None,
    browser: str | None = None,
    is_bot: bool = False,
    is_unique: bool = True,
) -> Click:
    """A click of today (never yesterday, whatever the time), placed and profiled."""
    now = datetime.now(UTC)
    return Click(
        click_id=secrets.token_urlsafe(12),
        offer_id=offer_id,
        affiliate_id=affiliate_id,
        subs=(None, None, None, None, None),
        ip="192.0.2.1",
        user_agent="test",
        referrer=None,
        country=country,
        created_at=max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=0)),
        device=device,
        os=os,
        browser=browser,
        is_bot=is_bot,
        is_unique=is_unique,
        cost=Decimal(cost),
    )


async def visitors_world(admin: Browser, store: Store) -> dict[str, int]:
    """make_world plus Bob, and today's traffic: Alice's from Brazil (two phone clicks,
    one a repeat, and a bot), Germany and nowhere known; Bob's from Japan. One
    conversion (revenue 10, payout 7.25) each on Alice's first phone click, her German
    click and Bob's."""
    world = await make_world(admin)
    made = await admin.submit("/affiliates/new", "/affiliates/new", {"name": "Bob"})
    bob = int(re.search(r"Affiliate #(\d+)", made.text).group(1))  # type: ignore[union-attr]
    offer, alice = world["offer"], world["affiliate"]
    phone = visitor_click(offer, alice, "BR", "mobile", "0.50", os="iOS", browser="Mobile Safari")
    german = visitor_click(offer, alice, "DE", "desktop", "1.00", os="Windows", browser="Chrome")
    japanese = visitor_click(offer, bob, "JP", "tablet", "2.00", os="iPadOS")
    await store.insert_clicks(
        [
            phone,
            visitor_click(offer, alice, "BR", "mobile", "0.50", os="iOS", is_unique=False),
            visitor_click(offer, alice, "BR", "bot", "0", is_bot=True),
            german,
            visitor_click(offer, alice, None, "desktop", "0.25", os="Linux"),
            japanese,
        ]
    )
    for click in (phone, german, japanese):
        await convert(store, offer, click.affiliate_id, click_id=click.click_id)
    return {**world, "bob": bob}


async def test_a_report_by_country_and_device_shows_each_visitors_figures(
    admin: Browser, store: Store
) -> None:
    await visitors_world(admin, store)
    page = await admin.get("/reports?group_by=country&group_by=device")
    assert page.status_code == 200
    head = table_rows(page.text, ".report", "thead")[0]
    assert head[:6] == ["country", "device", "clicks", "unique clicks", "bots", "conversions"]
    assert head[-5:] == ["cost", "profit", "CR %", "EPC", "ROI %"]
    # country, device, clicks, unique, bots, conversions, approved, pending, rejected,
    # revenue, payout, cost, profit, CR %, EPC, ROI % ((revenue - payout - cost) /
    # (payout + cost)); a click without a country is "unknown", first.
    assert table_lines(page.text, ".report") == [
        "unknown desktop 1 1 0 0 0 0 0 0.00 0.00 0.25 0.00 0.00 0.00 -100.00",
        "BR bot 1 1 1 0 0 0 0 0.00 0.00 0.00 0.00 0.00 0.00 0.00",
        "BR mobile 2 1 0 1 1 0 0 10.00 7.25 1.00 2.75 50.00 3.625 21.21",
        "DE desktop 1 1 0 1 1 0 0 10.00 7.25 1.00 2.75 100.00 7.25 21.21",
        "JP tablet 1 1 0 1 1 0 0 10.00 7.25 2.00 2.75 100.00 7.25 8.11",
    ]
    assert table_lines(page.text, ".report", "tfoot") == [
        "Total  6 5 1 3 3 0 0 30.00 21.75 4.25 8.25 50.00 3.625 15.38"
    ]
    # The CSV of the same page holds the same rows, exact.
    csv = await admin.get("/reports.csv?group_by=country&group_by=device")
    lines = csv.text.splitlines()
    assert lines[0].startswith("country,device,clicks,unique_clicks,bot_clicks,conversions")
    assert lines[0].endswith(",cost,profit,cr,epc,roi")
    assert lines[3] == "BR,mobile,2,1,0,1,1,0,0,10,7.25,1,2.75,50,3.625,21.2121"


async def test_report_filters_by_country_device_os_and_browser(
    admin: Browser, store: Store
) -> None:
    await visitors_world(admin, store)
    form = await admin.get("/reports")
    for name in ("country", "device", "os", "browser"):
        assert f'name="{name}"' in form.text, name
        assert f'name="group_by" value="{name}"' in form.text, name
    mobile = await admin.get("/reports?group_by=country&device=mobile")
    assert [row[:4] for row in table_rows(mobile.text, ".report")] == [["BR", "2", "1", "0"]]
    assert '<option value="mobile" selected>' in mobile.text
    german = await admin.get("/reports?group_by=device&country=de")  # any case
    assert [row[:2] for row in table_rows(german.text, ".report")] == [["desktop", "1"]]
    assert 'name="country" size="4" maxlength="255" placeholder="BR" value="de"' in german.text
    ios = await admin.get("/reports?group_by=os&os=iOS")
    assert [row[:3] for row in table_rows(ios.text, ".report")] == [["iOS", "2", "1"]]
    chrome = await admin.get("/reports?group_by=browser&browser=Chrome")
    assert [row[:2] for row in table_rows(chrome.text, ".report")] == [["Chrome", "1"]]
    nothing = await admin.get("/reports?group_by=country&country=FR")
    assert table_rows(nothing.text, ".report") == [["No clicks or conversions in this period."]]
    # The CSV link of a filtered page keeps its filters.
    assert 'href="/reports.csv?group_by=country&amp;device=mobile"' in mobile.text
    csv = await admin.get("/reports.csv?group_by=country&device=mobile")
    assert csv.text.splitlines()[1:] == ["BR,2,1,0,1,1,0,0,10,7.25,1,2.75,50,3.625,21.2121"]


async def test_the_dashboard_shows_top_countries_and_devices_cost_and_roi(
    admin: Browser, store: Store
) -> None:
    await visitors_world(admin, store)
    home = await admin.get("/")
    assert home.status_code == 200
    # Most clicks first; ties by conversions, then revenue; ROI in percent.
    assert table_rows(home.text, "#top-country") == [
        ["BR", "3", "1", "10.00", "21.21"],
        ["DE", "1", "1", "10.00", "21.21"],
        ["JP", "1", "1", "10.00", "8.11"],
        ["unknown", "1", "0", "0.00", "-100.00"],
    ]
    assert table_rows(home.text, "#top-device") == [
        ["desktop", "2", "1", "10.00", "17.65"],
        ["mobile", "2", "1", "10.00", "21.21"],
        ["tablet", "1", "1", "10.00", "8.11"],
        ["bot", "1", "0", "0.00", "0.00"],
    ]
    # Each country and device links to its report of the week.
    today = datetime.now(UTC).date()
    week = f"from={today - timedelta(days=6)}&amp;to={today}"
    assert f'href="/reports?{week}&amp;group_by=country&amp;country=BR"' in home.text
    assert f'href="/reports?{week}&amp;group_by=device&amp;device=tablet"' in home.text
    # Today's headline figures: cost 4.25 and ROI (30 - 21.75 - 4.25) / 26.
    first = home.text.split('class="card period"')[1]
    assert re.search(r"<dt>Cost</dt><dd>4\.25</dd>", first), first
    assert re.search(r"<dt>ROI</dt><dd[^>]*>15\.38&nbsp;%</dd>", first), first


async def test_an_affiliate_sees_only_its_own_countries(
    admin: Browser, store: Store, app_and_store: tuple[object, Store]
) -> None:
    world = await visitors_world(admin, store)
    app, _ = app_and_store
    alice = new_browser(app, store)
    async with alice.client:
        assert (await alice.login(world["key"])).status_code == 303  # type: ignore[arg-type]
        report = await alice.get("/reports?group_by=country")
        assert report.status_code == 200
        # Her view: no revenue nor profit; ROI = (payout - cost) / cost.
        head = table_rows(report.text, ".report", "thead")[0]
        assert "revenue" not in head and "profit" not in head and "ROI %" in head
        rows = table_rows(report.text, ".report")
        assert [row[0] for row in rows] == ["unknown", "BR", "DE"]
        brazil = dict(zip(head, rows[1], strict=True))
        assert (brazil["clicks"], brazil["payout"], brazil["cost"]) == ("3", "7.25", "1.00")
        assert brazil["ROI %"] == "625.00"  # (7.25 - 1) / 1
        # Bob's Japan is not hers, asked for or not.
        japan = await alice.get("/reports?group_by=country&country=JP")
        assert table_rows(japan.text, ".report") == [["No clicks or conversions in this period."]]
        home = await alice.get("/")
        assert [row[0] for row in table_rows(home.text, "#top-country")] == [
            "BR",
            "DE",
            "unknown",
        ]
        assert [row[0] for row in table_rows(home.text, "#top-device")] == [
            "desktop",
            "mobile",
            "bot",
        ]
        assert "Revenue" not in home.text and "Profit" not in home.text
