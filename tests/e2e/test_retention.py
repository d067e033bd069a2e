"""Retention through the real server: `postback purge` runs while clicks and postbacks
arrive; nothing younger than its retention goes, every past day's report is as it was,
and a conversion of a purged click still shows its subs, place and time (and its status
still changes), while a purged click without one is unknown."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from postback.domain.records import Click
from postback.settings import Settings
from postback.store import partitions
from postback.store.factory import open_store
from tests.e2e.harness import ServerProcess
from tests.e2e.network import Network, create_network
from tests.store import factories as make

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        database_url,
        Path(tmp_path_factory.mktemp("retention")),
        POSTBACK_RETAIN_CLICKS_DAYS="90",
        POSTBACK_RETAIN_INCOMING_DAYS="30",
        POSTBACK_RETAIN_ATTEMPTS_DAYS="30",
    )
    process.start()
    yield process
    process.stop()


async def seed_old(database_url: str, net: Network, now: datetime) -> tuple[list[Click], int]:
    """Three days of clicks about 200 days back (from two countries, with subs), from 21:00
    UTC, one of them converted three hours after it was made (so on the next day); the
    conversion's id."""
    start = datetime.combine((now - 202 * DAY).date(), time(21), UTC)
    step = timedelta(minutes=14)
    store = open_store(Settings(database_url=database_url))
    try:
        if store.engine.dialect.name == "postgresql":
            async with store.engine.begin() as conn:
                first, last = start.date(), (start + 300 * step).date()
                await conn.run_sync(partitions.ensure_days, "clicks", first, last)
        offer = await store.get_offer(net.offer["id"])
        assert offer is not None
        old = []
        for n in range(300):
            made = make.click(offer, net.affiliate["id"], start + n * step)
            old.append(
                Click(
                    **{
                        **{name: getattr(made, name) for name in Click.__slots__},
                        "subs": (f"camp{n % 3}", "x", None, None, None),
                        "country": "BR" if n % 2 else "MX",
                        "device": "mobile",
                    }
                )
            )
        await store.insert_clicks(old)
        converted = await store.record_postback(
            make.command(
                old[7], offer, status="pending", received_at=old[7].created_at + timedelta(hours=3)
            )
        )
        return old, converted.conversion.id
    finally:
        await store.close()


async def test_purge_under_traffic_keeps_reports_and_what_conversions_need(
    server: ServerProcess, database_url: str
) -> None:
    now = datetime.now(UTC)
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        old, conversion_id = await seed_old(database_url, net, now)
        today = now.date().isoformat()
        yesterday = (now - DAY).date().isoformat()
        period = {"from": (now - 210 * DAY).date().isoformat(), "to": yesterday}

        async def report(group_by: str) -> list[dict[str, Any]]:
            asked = {**period, "offer_id": net.offer["id"], "group_by": group_by, "limit": 1000}
            answer = await admin.get("/reports", params=asked)
            assert answer.status_code == 200, answer.text
            return list(answer.json()["rows"])

        groupings = ("day", "day,country,sub1", "country,device")
        before = {group: await report(group) for group in groupings}
        assert sum(row["clicks"] for row in before["day"]) == 300

        made: list[str] = []

        async def traffic() -> None:
            for n in range(120):
                answer = await client.get(
                    "/click",
                    params={
                        "offer_id": net.offer["id"],
                        "aff_id": net.affiliate["id"],
                        "sub1": "new",
                    },
                )
                assert answer.status_code == 302, answer.text
                cid = parse_qs(urlsplit(answer.headers["location"]).query)["cid"][0]
                made.append(cid)
                if n % 10 == 0:
                    sale = await client.get(
                        "/postback", params={"click_id": cid, "token": net.token}
                    )
                    assert sale.status_code == 200, sale.text
                await asyncio.sleep(0.005)

        purged, _ = await asyncio.gather(asyncio.to_thread(server.cli, "purge"), traffic())
        assert purged.returncode == 0, purged.stderr
        assert "300" in purged.stdout  # the old clicks, as its table says

        # Past days' reports are exactly as they were; the new clicks are all there.
        for group in groupings:
            assert await report(group) == before[group], group
        todays = await admin.get(
            "/reports", params={"from": today, "to": today, "offer_id": net.offer["id"]}
        )
        assert todays.json()["totals"]["clicks"] == len(made) == 120
        for cid in made[::10]:
            again = await client.get("/postback", params={"click_id": cid, "token": net.token})
            assert again.json()["result"] == "duplicate"

        # The converted click is shown from what its conversion kept ...
        trace = await admin.get(f"/conversions/{conversion_id}")
        assert trace.status_code == 200, trace.text
        click = trace.json()["click"]
        assert (click["click_id"], click["sub1"], click["country"], click["device"]) == (
            old[7].click_id,
            "camp1",
            "BR",
            "mobile",
        )
        assert click["created_at"].startswith(old[7].created_at.isoformat()[:19])
        assert click["ip"] is None
        # ... and its status still changes, counted at the place its click had, on the day
        # the conversion was made (the day after its click's).
        approved = await client.get(
            "/postback",
            params={"click_id": old[7].click_id, "token": net.token, "status": "approved"},
        )
        assert approved.status_code == 200 and approved.json()["result"] == "updated"
        by_place = await report("day,country,sub1")
        day_made = (old[7].created_at + timedelta(hours=3)).date().isoformat()
        assert trace.json()["created_at"].startswith(day_made)
        assert day_made != old[7].created_at.date().isoformat()
        row = next(
            r for r in by_place if (r["day"], r["country"], r["sub1"]) == (day_made, "BR", "camp1")
        )
        assert row["approved"] == 1
        # A purged click without a conversion is gone: a postback for it is unknown.
        unknown = await client.get(
            "/postback", params={"click_id": old[8].click_id, "token": net.token}
        )
        assert unknown.status_code == 404, unknown.text
