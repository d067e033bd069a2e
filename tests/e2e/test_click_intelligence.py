"""What a click tells about its visitor, through the real server: country (a trusted
proxy's header, or the bundled registry data), device, bots sent to the offer's bot URL,
cost, the visitor's macros in the destination and in outgoing postbacks, and hostile
values refused with nothing stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.e2e.harness import Receiver, ServerProcess, eventually
from tests.e2e.network import add_postback, create_network

pytestmark = pytest.mark.e2e

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
DESTINATION = (
    "https://shop.example/lp?cid={click_id}&c={country}&d={device}&o={os}&b={browser}&k={cost}"
)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # 127.0.0.1 is the trusted proxy: it may say who the client is and where it is.
    process = ServerProcess(
        database_url,
        Path(tmp_path_factory.mktemp("intel")),
        POSTBACK_TRUSTED_PROXIES="127.0.0.1/32",
    )
    process.start()
    yield process
    process.stop()


async def test_a_click_knows_its_visitor_and_tells_the_destination_and_the_affiliate(
    server: ServerProcess, receiver: Receiver
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(
            admin, destination=DESTINATION, offer={"bot_url": "https://shop.example/bots"}
        )
        await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            url=receiver.url("/aff") + "?c={country}&d={device}&o={os}&b={browser}&k={cost}",
        )
        base = {"offer_id": net.offer["id"], "aff_id": net.affiliate["id"]}
        # The proxy's country wins; the registry places 200.147.67.142 in Brazil.
        answers = [
            await client.get(
                "/click",
                params={**base, "cost": "0.25"},
                headers={"User-Agent": IPHONE, "X-Forwarded-For": "200.147.67.142"},
            ),
            await client.get(
                "/click",
                params=base,
                headers={
                    "User-Agent": IPHONE,
                    "X-Forwarded-For": "81.2.69.142",
                    "CF-IPCountry": "pt",
                },
            ),
        ]
        queries = []
        for answer in answers:
            assert answer.status_code == 302, answer.text
            queries.append(parse_qs(urlsplit(answer.headers["location"]).query))
        assert queries[0]["c"] == ["BR"] and queries[1]["c"] == ["PT"]
        assert queries[0]["d"] == ["mobile"] and queries[0]["o"] == ["iOS"]
        assert queries[0]["k"] == ["0.25"] and "k" not in queries[1]
        # A bot goes to the offer's bot URL, and is stored flagged.
        bot = await client.get(
            "/click",
            params=base,
            headers={"User-Agent": GOOGLEBOT, "X-Forwarded-For": "8.8.8.8"},
        )
        assert bot.status_code == 302 and bot.headers["location"] == "https://shop.example/bots"

        cid = queries[0]["cid"][0]
        done = await client.get("/postback", params={"click_id": cid, "token": net.token})
        assert done.status_code == 200, done.text
        (told,) = await eventually(lambda: receiver.at("/aff"))
        assert (told.query["c"], told.query["d"], told.query["k"]) == ("BR", "mobile", "0.25")
        trace = (await admin.get(f"/conversions/{done.json()['conversion_id']}")).json()
        click = trace["click"]
        assert (click["country"], click["device"], click["os"]) == ("BR", "mobile", "iOS")
        assert click["cost"] == 0.25 and click["is_bot"] is False and click["is_unique"] is True
        # The second click is the same browser from another address: another visitor.
        second = await client.get(
            "/postback", params={"click_id": queries[1]["cid"][0], "token": net.token}
        )
        trace = (await admin.get(f"/conversions/{second.json()['conversion_id']}")).json()
        assert trace["click"]["is_unique"] is True and trace["click"]["country"] == "PT"


async def raw_click(server: ServerProcess, query: str, user_agent: bytes) -> int:
    """A click with a User-Agent of any bytes (an HTTP client would refuse to send some)."""
    url = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(
        f"GET /click?{query} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n".encode()
        + b"User-Agent: "
        + user_agent
        + b"\r\n\r\n"
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


async def test_hostile_click_values_are_refused_or_clipped_never_a_5xx(
    server: ServerProcess,
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin)
        base = {"offer_id": net.offer["id"], "aff_id": net.affiliate["id"]}
        for cost in ("-1", "1e400", "NaN", "Infinity", "0.00001", "abc", "1_0"):
            refused = await client.get("/click", params={**base, "cost": cost})
            assert refused.status_code == 400, (cost, refused.text)
            assert refused.json()["error"]["param"] == "cost"
        for agent in (b"x" * 10_000, b"Mozilla/5.0 \xff\xfe broken (invalid UTF-8)"):
            assert await raw_click(server, urlencode(base), agent) == 302
        # Nothing was stored from the refused clicks: the report counts the two others.
        report = await admin.get("/reports", params={"group_by": "offer_id"})
        assert report.status_code == 200, report.text
        rows = [r for r in report.json()["rows"] if r.get("offer_id") == net.offer["id"]]
        assert rows and rows[0]["clicks"] == 2


DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


async def test_reports_by_country_and_device_with_costs_imported_afterwards(
    server: ServerProcess, tmp_path: Path
) -> None:
    async with server.admin() as admin, server.client() as client:
        net = await create_network(admin, offer={"revenue": "10", "payout": "4"})
        base = {"offer_id": net.offer["id"], "aff_id": net.affiliate["id"]}
        visits = [
            (IPHONE, "200.147.67.142", "0.1"),  # Brazil
            (IPHONE, "200.147.67.142", "0.1"),  # the same visitor again: not unique
            (DESKTOP_CHROME, "8.8.8.8", None),  # the United States
            (GOOGLEBOT, "8.8.4.4", None),
        ]
        cids = []
        for agent, address, cost in visits:
            params = {**base, **({"cost": cost} if cost else {})}
            answer = await client.get(
                "/click", params=params, headers={"User-Agent": agent, "X-Forwarded-For": address}
            )
            assert answer.status_code == 302, answer.text
            cids.append(parse_qs(urlsplit(answer.headers["location"]).query).get("cid", [""])[0])
        sale = await client.get("/postback", params={"click_id": cids[0], "token": net.token})
        assert sale.status_code == 200, sale.text
        day = (await admin.get("/conversions/" + str(sale.json()["conversion_id"]))).json()
        today = day["created_at"][:10]

        async def report(**params: str) -> dict[str, Any]:
            asked = {"from": today, "to": today, "offer_id": net.offer["id"], **params}
            answer = await admin.get("/reports", params=asked)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found

        rows = (await report(group_by="country,device"))["rows"]
        figures = {
            (r["country"], r["device"]): (r["clicks"], r["unique_clicks"], r["bot_clicks"])
            for r in rows
        }
        assert figures == {
            ("BR", "mobile"): (2, 1, 0),
            ("US", "bot"): (1, 1, 1),
            ("US", "desktop"): (1, 1, 0),
        }
        brazil = (await report(country="br"))["totals"]
        # (10 - 4 - 0.2) / (4 + 0.2) x 100
        assert (brazil["conversions"], brazil["cost"], brazil["roi"]) == (1, 0.2, 138.0952)

        # Costs imported afterwards replace the link's: 3 over the day's four clicks.
        path = tmp_path / "costs.csv"
        path.write_text(
            f"day,offer_id,affiliate_id,sub1,amount\n{today},{net.offer['id']},"
            f"{net.affiliate['id']},,3\n{today},{net.offer['id']},999999,,1\n"
        )
        refused = await asyncio.to_thread(server.cli, "import", "costs", str(path))
        assert refused.returncode == 2 and "line 3, affiliate_id: no affiliate" in refused.stderr
        header, first, _ = path.read_text().splitlines(keepends=True)
        path.write_text(header + first)
        done = await asyncio.to_thread(server.cli, "import", "costs", str(path))
        assert done.returncode == 0, done.stderr
        assert "1 spread over 4 clicks" in done.stderr
        totals = (await report())["totals"]
        # (10 - 4 - 3) / (4 + 3) x 100
        assert (totals["cost"], totals["roi"]) == (3, 42.8571)
        by_device = (await report(group_by="device", device="mobile"))["rows"]
        assert [(r["device"], r["cost"]) for r in by_device] == [("mobile", 1.5)]
