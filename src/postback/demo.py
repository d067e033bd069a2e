"""`postback demo`: the real server in-process, demo data, simulated traffic, a summary.

Everything goes through the public HTTP surface (tracking links, incoming postbacks, the
admin API), and the outgoing postbacks land on a small local receiver, so the demo also
works as an end-to-end smoke test: it exits non-zero when its own checks fail.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import typer
import uvicorn
from aiohttp import web
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from postback.domain.costs import CostRow
from postback.domain.records import Click
from postback.domain.report import metric_values, parse_query
from postback.domain.visitor import visitor_id
from postback.settings import Settings
from postback.store.base import IncomingEntry

if TYPE_CHECKING:
    from postback.store.sql import Store

DEFAULT_DATABASE_URL = "sqlite:///./postback.db"
DEMO_DATABASE_URL = "sqlite:///./postback-demo.db"
DEMO_DATABASE_FILE = Path("postback-demo.db")
DEMO_RETRY_SCHEDULE = "1,2,5"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
DELIVERY_WAIT = 30.0
CLICK_CONCURRENCY = 16
PAGE_LIMIT = 100
FAIL_FIRST_PATH = "/crm"
SUBS = ("summer sale", "a&b=c", "café", "日本語 テスト", "100% off", "", "q?x=1#top", "🚀 rocket")

T = TypeVar("T")
Json = dict[str, Any]


class DemoFailure(Exception):
    """The demo could not go on (server did not start, an API call was refused...)."""


# -- settings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoSettings:
    settings: Settings
    admin_key: str
    fresh_database: bool


def demo_settings(settings: Settings) -> DemoSettings:
    """The given settings, adjusted so the demo can reach its local receiver quickly."""
    update: dict[str, Any] = {
        "allow_private_targets": True,
        "retry_schedule": DEMO_RETRY_SCHEDULE,
    }
    fresh = settings.database_url == DEFAULT_DATABASE_URL
    if fresh:
        update["database_url"] = DEMO_DATABASE_URL
    if settings.admin_key is None:
        admin_key = "demo_" + secrets.token_urlsafe(24)
        update["admin_key"] = SecretStr(admin_key)
    else:
        admin_key = settings.admin_key.get_secret_value()
    adjusted = Settings.model_validate(settings.model_dump() | update)
    return DemoSettings(adjusted, admin_key, fresh)


def remove_demo_database(directory: Path) -> None:
    base = directory / DEMO_DATABASE_FILE
    for suffix in ("", "-wal", "-shm", "-journal"):
        base.with_name(base.name + suffix).unlink(missing_ok=True)


# -- the receiver standing in for the affiliates' trackers and the network's CRM ---------


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path_qs: str
    path: str
    headers: dict[str, str]
    body: str
    answered: int
    at: float  # time.monotonic() when it arrived

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id") or self.headers.get("Webhook-Id")


class Receiver:
    """Records every request and answers 200; the first request on one path gets a 500."""

    def __init__(self, fail_first: str) -> None:
        self.requests: list[Received] = []
        self._fail_pending = {fail_first}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        status = 200
        if request.path in self._fail_pending:
            self._fail_pending.discard(request.path)
            status = 500
        self.requests.append(
            Received(
                method=request.method,
                path_qs=request.path_qs,
                path=request.path,
                headers=dict(request.headers),
                body=body,
                answered=status,
                at=time.monotonic(),
            )
        )
        text = "ok" if status == 200 else "temporary failure, try again"
        return web.Response(status=status, text=text)


# -- the product, served in-process -------------------------------------------------------


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the demo decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits when it cannot bind or start up
        raise DemoFailure(f"the server stopped while starting (exit code {exc.code})") from None


async def start_server(
    settings: Settings, port: int, store: Store
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    from postback.app import create_app

    app = create_app(settings, store, run_worker=True)
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # as `serve`: POSTBACK_TRUSTED_PROXIES decides (serving.py)
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(_serve(server))
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if task.done():
            task.result()
            raise DemoFailure("the server stopped while starting")
        if time.monotonic() > deadline:
            raise DemoFailure(f"the server did not start within {START_TIMEOUT:.0f} s")
        await asyncio.sleep(0.05)
    return server, task


def bound_port(server: uvicorn.Server) -> int:
    return int(server.servers[0].sockets[0].getsockname()[1])


async def wait_healthy(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/healthz")).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise DemoFailure(f"/healthz did not answer 200 within {START_TIMEOUT:.0f} s")
        await asyncio.sleep(0.1)


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=15)
    except TimeoutError:
        server.force_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
    except Exception:  # already reported where it happened
        return


# -- demo data through the admin API ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoParties:
    advertiser: Json
    offers: tuple[Json, Json]
    affiliates: tuple[Json, Json]

    @property
    def offer_ids(self) -> tuple[int, int]:
        return (int(self.offers[0]["id"]), int(self.offers[1]["id"]))

    @property
    def affiliate_ids(self) -> tuple[int, int]:
        return (int(self.affiliates[0]["id"]), int(self.affiliates[1]["id"]))


@dataclass(frozen=True, slots=True)
class DemoNetwork:
    advertiser: Json
    offers: tuple[Json, Json]
    affiliates: tuple[Json, Json]
    postbacks: dict[str, Json]  # label -> config


async def api_call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await client.request(method, path, **kwargs)
    if response.status_code >= 300:
        raise DemoFailure(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
    return response.json()


async def create_parties(api: httpx.AsyncClient, receiver: str) -> DemoParties:
    """The demo's advertiser, offers and affiliates."""
    advertiser = await api_call(
        api,
        "POST",
        "/api/v1/advertisers",
        json={
            "name": "Acme Shop",
            "status_map": {"1": "approved", "0": "rejected", "2": "pending"},
        },
    )
    offers = []
    for number, name, revenue, payout, currency in (
        (1, "Acme Summer Sale", 12.5, 8.75, "USD"),
        (2, "Acme Premium Plan", 40, 25.5, "EUR"),
    ):
        landing = (
            f"{receiver}/landing/{number}" + "?cid={click_id}&s1={sub1}&s2={sub2}&aff={aff_id}"
        )
        offers.append(
            await api_call(
                api,
                "POST",
                "/api/v1/offers",
                json={
                    "advertiser_id": advertiser["id"],
                    "name": name,
                    "destination_url": landing,
                    "revenue": revenue,
                    "payout": payout,
                    "currency": currency,
                },
            )
        )
    affiliates = [
        await api_call(api, "POST", "/api/v1/affiliates", json={"name": name})
        for name in ("Blue Media", "Green Traffic")
    ]
    return DemoParties(advertiser, (offers[0], offers[1]), (affiliates[0], affiliates[1]))


async def create_network(
    api: httpx.AsyncClient, parties: DemoParties, receiver: str, created: list[int]
) -> DemoNetwork:
    """The demo's postback configs (ids into `created`), on top of its parties."""
    offers, affiliates = parties.offers, parties.affiliates
    aff1, aff2 = affiliates[0]["id"], affiliates[1]["id"]
    specs: dict[str, Json] = {
        "affiliate 1, global": {
            "affiliate_id": aff1,
            "url": receiver + "/tracker?cid={click_id}&payout={payout}&status={status}&s1={sub1}",
            "method": "GET",
            "statuses": ["pending", "approved", "rejected"],
        },
        "affiliate 1, offer 2": {
            "affiliate_id": aff1,
            "offer_id": offers[1]["id"],
            "url": receiver + "/tracker/premium?cid={click_id}&txid={txid}&amount={payout}"
            "&cur={currency}&ctit={ctit}",
            "method": "GET",
        },
        "affiliate 2, global": {
            "affiliate_id": aff2,
            "url": receiver + "/green?click={click_id}&sum={payout}&event={event}&sub={sub1}",
            "method": "GET",
        },
        "network CRM": {
            "affiliate_id": None,
            "url": receiver + FAIL_FIRST_PATH,
            "method": "POST",
            "content_type": "application/json",
            "events": ["*"],
            "statuses": ["*"],
        },
    }
    postbacks: dict[str, Json] = {}
    for label, spec in specs.items():
        postbacks[label] = await api_call(api, "POST", "/api/v1/postbacks", json=spec)
        created.append(int(postbacks[label]["id"]))
    return DemoNetwork(parties.advertiser, offers, affiliates, postbacks)


async def collect(api: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[Json]:
    """Every item of a paginated list endpoint."""
    items: list[Json] = []
    cursor: str | None = None
    for _ in range(10_000):
        query = dict(params, limit=PAGE_LIMIT)
        if cursor:
            query["cursor"] = cursor
        page = await api_call(api, "GET", path, params=query)
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


# -- traffic --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentClick:
    click_id: str
    offer_id: int
    aff_id: int


@dataclass(frozen=True, slots=True)
class Step:
    """One incoming postback to send and the answer the contract promises for it."""

    click: SentClick
    method: str
    fields: dict[str, Any]
    expect_status: int
    expect_result: str  # result for a 200, error code otherwise
    phase: int = 1
    header_token: str | None = None


@dataclass
class Tally:
    clicks_sent: int = 0
    redirects_ok: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    final_status: dict[tuple[str, str, str], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def expected_statuses(self) -> Counter[str]:
        return Counter(self.final_status.values())

    def approved_scopes(self, clicks: Sequence[SentClick]) -> set[tuple[int, int]]:
        by_id = {click.click_id: click for click in clicks}
        return {
            (by_id[click_id].aff_id, by_id[click_id].offer_id)
            for (click_id, _, _), status in self.final_status.items()
            if status == "approved"
        }


def click_plan(count: int, network: DemoNetwork, rng: random.Random) -> list[dict[str, Any]]:
    plans = []
    for index in range(count):
        offer = network.offers[index % 2]
        affiliate = network.affiliates[(index // 2) % 2]
        plans.append(
            {
                "offer_id": offer["id"],
                "aff_id": affiliate["id"],
                "sub1": rng.choice(SUBS),
                "sub2": f"creative-{index % 7} {rng.choice(('&', 'é', '+', '/'))}",
            }
        )
    return plans


async def send_click(traffic: httpx.AsyncClient, params: dict[str, Any], tally: Tally) -> SentClick:
    response = await traffic.get("/click", params=params)
    tally.clicks_sent += 1
    location = response.headers.get("location", "")
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    click_id = (query.get("cid") or [""])[0]
    if response.status_code != 302 or not click_id:
        tally.problems.append(f"click {params} answered {response.status_code} {location!r}")
        return SentClick("", params["offer_id"], params["aff_id"])
    for name, macro in (("sub1", "s1"), ("sub2", "s2")):
        if query.get(macro, [""])[0] != params[name]:
            tally.problems.append(f"{name}={params[name]!r} came back as {query.get(macro)}")
            break
    else:
        tally.redirects_ok += 1
    return SentClick(click_id, params["offer_id"], params["aff_id"])


def _pick_converting(clicks: Sequence[SentClick]) -> list[SentClick]:
    """About 30% of the clicks, spread evenly over the (affiliate, offer) pairs."""
    groups: dict[tuple[int, int], list[SentClick]] = {}
    for click in clicks:
        if click.click_id:
            groups.setdefault((click.aff_id, click.offer_id), []).append(click)
    wanted = max(1, round(len(clicks) * 0.3))
    picked: list[SentClick] = []
    queues = list(groups.values())
    while len(picked) < wanted and any(queues):
        for queue in queues:
            if queue and len(picked) < wanted:
                picked.append(queue.pop(0))
    return picked


def postback_plan(clicks: Sequence[SentClick], token: str, rng: random.Random) -> list[Step]:
    steps: list[Step] = []

    def get(
        click: SentClick,
        txid: str,
        status: str,
        expect: tuple[int, str] = (200, "created"),
        phase: int = 1,
        auth: str = token,
    ) -> Step:
        fields = {"clickid": click.click_id, "txid": txid, "status": status, "token": auth}
        return Step(click, "GET", fields, *expect, phase=phase)

    for number, click in enumerate(_pick_converting(clicks)):
        txid = f"TX-{number + 1:04d}"
        if number == 0:  # pending first, approved later
            steps.append(get(click, txid, "2"))
            steps.append(get(click, txid, "1", (200, "updated"), phase=2))
        elif number == 1:
            steps.append(get(click, txid, "0"))
        elif number == 2:  # the advertiser sends the same postback twice
            steps.append(get(click, txid, "1"))
            steps.append(get(click, txid, "1", (200, "duplicate"), phase=2))
        elif number == 3:  # approved cannot go back to pending
            steps.append(get(click, txid, "1"))
            steps.append(get(click, txid, "2", (409, "invalid_transition"), phase=2))
        elif number == 4:  # a wrong token first
            steps.append(get(click, txid, "1", (401, "bad_token"), auth="not-the-token"))
            steps.append(get(click, txid, "1"))
        elif number == 5:  # JSON posts: a sale and an upsell on the same click
            for event, status, revenue in (("sale", "approved", 20.5), ("upsell", "1", 7.25)):
                fields = {
                    "click_id": click.click_id,
                    "txid": f"{txid}-{event}",
                    "event": event,
                    "status": status,
                    "revenue": revenue,
                }
                steps.append(Step(click, "POST", fields, 200, "created", header_token=token))
        else:
            status = rng.choices(("1", "2", "0"), weights=(70, 15, 15))[0]
            steps.append(get(click, txid, status))
    return sorted(steps, key=lambda step: step.phase)


STATUS_WORDS = {"1": "approved", "0": "rejected", "2": "pending"}


async def send_postback(traffic: httpx.AsyncClient, step: Step, tally: Tally) -> None:
    if step.method == "GET":
        response = await traffic.get("/postback", params=step.fields)
    else:
        headers = {"X-Postback-Token": step.header_token} if step.header_token else {}
        response = await traffic.post("/postback", json=step.fields, headers=headers)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    result = answer.get("result") or (answer.get("error") or {}).get("code", "?")
    tally.answers[f"{response.status_code} {result}"] += 1
    if (response.status_code, result) != (step.expect_status, step.expect_result):
        tally.problems.append(
            f"postback {step.fields} answered {response.status_code} {response.text[:200]}, "
            f"expected {step.expect_status} {step.expect_result}"
        )
        return
    if response.status_code == 200 and result in {"created", "updated"}:
        raw = str(step.fields["status"])
        event = str(step.fields.get("event", "conversion"))
        key = (step.click.click_id, event, str(step.fields.get("txid", "")))
        tally.final_status[key] = STATUS_WORDS.get(raw, raw)


def new_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def simulate(
    traffic: httpx.AsyncClient,
    network: DemoNetwork,
    count: int,
    progress: Progress,
) -> tuple[list[SentClick], Tally]:
    rng = random.Random(20_240_601)  # fixed: the same demo data every run
    tally = Tally()
    plans = click_plan(count, network, rng)
    clicks_task = progress.add_task("clicks", total=len(plans))
    gate = asyncio.Semaphore(CLICK_CONCURRENCY)

    async def one(params: dict[str, Any]) -> SentClick:
        async with gate:
            sent = await send_click(traffic, params, tally)
        progress.advance(clicks_task)
        return sent

    clicks = list(await asyncio.gather(*(one(params) for params in plans)))
    steps = postback_plan(clicks, network.advertiser["postback_token"], rng)
    postbacks_task = progress.add_task("incoming postbacks", total=len(steps))
    for step in steps:
        await send_postback(traffic, step, tally)
        progress.advance(postbacks_task)
    return clicks, tally


async def count_deliveries(api: httpx.AsyncClient, network: DemoNetwork) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for label, config in network.postbacks.items():
        items = await collect(api, "/api/v1/deliveries", {"postback_id": config["id"]})
        counts[label] = Counter(str(item["state"]) for item in items)
    return counts


async def wait_for_deliveries(
    api: httpx.AsyncClient, network: DemoNetwork, progress: Progress
) -> dict[str, Counter[str]]:
    task = progress.add_task("outgoing postbacks", total=None)
    deadline = time.monotonic() + DELIVERY_WAIT
    while True:
        counts = await count_deliveries(api, network)
        total = sum(sum(counter.values()) for counter in counts.values())
        pending = sum(counter["pending"] for counter in counts.values())
        progress.update(task, total=total, completed=total - pending)
        if pending == 0 or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.25)


# -- a month of history, written through the store --------------------------------------
#
# So that the console's dashboard and the reports show real shapes on first start: a
# month of clicks (a weekly rhythm, countries, devices, bots, repeat visitors, paid
# traffic), conversions whose statuses change over the following days, and one
# affiliate's daily spend imported afterwards. Clicks go in through the store's batch
# write and conversions through the same use case as `postback import conversions`, so
# the report rollups count them exactly as they count live traffic.

HISTORY_DAYS = 30
HISTORY_SEED = 20_240_530
HISTORY_CLICKS_PER_DAY = 100
HISTORY_VISITOR_KEY = b"postback demo history"
WEEKDAY_SHAPE = (1.0, 1.06, 1.1, 1.04, 0.93, 0.68, 0.62)  # Monday first
HOUR_SHAPE = (2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 8, 8, 7, 7, 8, 9, 10, 11, 11, 9, 6, 4)
COUNTRIES: tuple[tuple[str | None, int], ...] = (
    ("US", 26), ("BR", 12), ("IN", 10), ("DE", 9), ("GB", 8), ("FR", 6), ("MX", 6),
    ("ID", 5), ("CA", 4), ("ES", 3), ("IT", 3), ("JP", 2), (None, 5),
)  # fmt: skip
REPEAT_CHANCE = {"bot": 0.5, "desktop": 0.08, "mobile": 0.08, "tablet": 0.06}
# Conversions per click of each demo offer, and how each device converts relative to it.
CONVERSION_RATE = (0.06, 0.025)
DEVICE_FACTOR = {"bot": 0.0, "desktop": 1.25, "mobile": 1.0, "tablet": 0.8}


@dataclass(frozen=True, slots=True)
class Agent:
    """A browser the history's visitors use: what the product reads from its User-Agent
    (visitors/agents.py), the share of traffic it has."""

    device: str
    os: str | None
    browser: str
    user_agent: str
    weight: int


AGENTS = (
    Agent(
        "mobile",
        "iOS",
        "Mobile Safari",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        26,
    ),
    Agent(
        "mobile",
        "Android",
        "Chrome Mobile",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        24,
    ),
    Agent(
        "mobile",
        "Android",
        "Samsung Internet",
        "Mozilla/5.0 (Linux; Android 13; SM-S911B) "
        "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
        "Chrome/117.0.0.0 Mobile Safari/537.36",
        8,
    ),
    Agent(
        "desktop",
        "Windows",
        "Chrome",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
        14,
    ),
    Agent(
        "desktop",
        "Windows",
        "Edge",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 Edg/124.0.2478.80",
        5,
    ),
    Agent(
        "desktop",
        "Mac OS X",
        "Safari",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Safari/605.1.15",
        8,
    ),
    Agent(
        "desktop",
        "Linux",
        "Firefox",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        3,
    ),
    Agent(
        "tablet",
        "iOS",
        "Mobile Safari",
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        4,
    ),
    Agent(
        "tablet",
        "Android",
        "Chrome",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        3,
    ),
    Agent(
        "bot",
        None,
        "Googlebot",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        3,
    ),
    Agent(
        "bot",
        None,
        "bingbot",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        1,
    ),
    Agent(
        "bot",
        None,
        "Python Requests",
        "python-requests/2.31.0",
        1,
    ),
)


@dataclass(frozen=True, slots=True)
class Source:
    """Where one affiliate's traffic comes from (its sub1): paid per click (`cpc`, a
    range in cents), bought by the day and imported afterwards (`daily_spend`, cents per
    click of the day), or free."""

    affiliate: int  # index into the demo's affiliates
    sub1: str
    referrer: str | None
    weight: int
    cpc: tuple[int, int] | None = None
    daily_spend: tuple[int, int] | None = None


SOURCES = (
    Source(0, "facebook", "https://m.facebook.com/", 30, cpc=(5, 40)),
    Source(0, "google", "https://www.google.com/", 20, cpc=(10, 40)),
    Source(0, "newsletter", None, 10),
    Source(1, "native", "https://news.example.com/", 25, daily_spend=(8, 16)),
    Source(1, "seo", "https://www.bing.com/", 15),
)


@dataclass(frozen=True, slots=True)
class HistoryPostback:
    """One status of a history conversion, as the advertiser would have sent it."""

    at: datetime
    click_id: str
    txid: str
    status: str


@dataclass
class History:
    """What the history holds: its clicks, the postbacks that make its conversions, the
    imported spend, and the conversions' final statuses."""

    today: date  # the history's last day (UTC)
    clicks: list[Click]
    postbacks: list[HistoryPostback]
    cost_rows: list[CostRow]
    statuses: Counter[str] = field(default_factory=Counter)
    imported_cost: Decimal = Decimal(0)  # the spend rows that matched clicks

    @property
    def click_cost(self) -> Decimal:
        return sum((click.cost for click in self.clicks if click.cost is not None), Decimal(0))

    @property
    def cost(self) -> Decimal:
        return self.click_cost + self.imported_cost

    @property
    def status_changes(self) -> int:
        return len(self.postbacks) - sum(self.statuses.values())


def _weighted(rng: random.Random, pairs: Sequence[tuple[T, int]]) -> T:
    return rng.choices([value for value, _ in pairs], weights=[w for _, w in pairs])[0]


def history_days(today: date) -> list[date]:
    """The history's days: the 29 before today, then today."""
    return [today - timedelta(days=HISTORY_DAYS - 1 - n) for n in range(HISTORY_DAYS)]


def _day_clicks(day: date, index: int, rng: random.Random) -> int:
    """A weekly rhythm, a slow rise over the month, some noise."""
    trend = 0.85 + 0.3 * index / (HISTORY_DAYS - 1)
    return round(
        HISTORY_CLICKS_PER_DAY * WEEKDAY_SHAPE[day.weekday()] * trend * rng.uniform(0.9, 1.1)
    )


def _ip(rng: random.Random) -> str:
    octets = (rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    return ".".join(map(str, octets))


def _moment(day: date, rng: random.Random) -> datetime:
    hour = rng.choices(range(24), weights=HOUR_SHAPE)[0]
    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)
    return start + timedelta(seconds=rng.uniform(0, 3600))


def _click(
    rng: random.Random,
    at: datetime,
    offer_id: int,
    affiliate_id: int,
    source: Source,
    visitor: tuple[str, str | None, Agent],
) -> Click:
    ip, country, agent = visitor
    cost = None
    if source.cpc is not None:
        cost = Decimal(rng.randint(*source.cpc)) / 100
    return Click(
        click_id=base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("="),
        offer_id=offer_id,
        affiliate_id=affiliate_id,
        subs=(source.sub1, f"creative-{rng.randint(1, 4)}", None, None, None),
        ip=ip,
        user_agent=agent.user_agent,
        referrer=source.referrer,
        country=country,
        created_at=at,
        device=agent.device,
        os=agent.os,
        browser=agent.browser,
        is_bot=agent.device == "bot",
        cost=cost,
        visitor=visitor_id(HISTORY_VISITOR_KEY, ip, agent.user_agent),
    )


def history_clicks(
    offer_ids: Sequence[int], affiliate_ids: Sequence[int], now: datetime, rng: random.Random
) -> list[Click]:
    """A month of clicks up to `now`, in time order; some visitors come back within
    hours (not unique)."""
    agents = [(agent, agent.weight) for agent in AGENTS]
    sources = [(source, source.weight) for source in SOURCES]
    made: list[Click] = []
    for index, day in enumerate(history_days(now.date())):
        for _ in range(_day_clicks(day, index, rng)):
            source = _weighted(rng, sources)
            offer_id = offer_ids[rng.randrange(len(offer_ids))]
            visitor = (_ip(rng), _weighted(rng, COUNTRIES), _weighted(rng, agents))
            at = _moment(day, rng)
            affiliate_id = affiliate_ids[source.affiliate]
            made.append(_click(rng, at, offer_id, affiliate_id, source, visitor))
            while rng.random() < REPEAT_CHANCE[visitor[2].device]:
                at += timedelta(minutes=rng.uniform(1, 240))
                made.append(_click(rng, at, offer_id, affiliate_id, source, visitor))
    early = now - timedelta(minutes=1)
    return sorted((click for click in made if click.created_at < early), key=_click_time)


def _click_time(click: Click) -> datetime:
    return click.created_at


def _status_path(rng: random.Random) -> list[tuple[timedelta, str]]:
    """A conversion's statuses and when each came after the first: most wait as pending
    for a day or a few, then are approved or rejected; some approved ones are refunded
    or charged back later."""
    path = [(timedelta(0), "approved" if rng.random() < 0.1 else "pending")]
    if path[0][1] == "pending":
        roll = rng.random()
        later = timedelta(hours=rng.uniform(12, 120))
        if roll < 0.75:
            path.append((later, "approved"))
        elif roll < 0.9:
            path.append((later, "rejected"))
    if path[-1][1] == "approved":
        roll = rng.random()
        if roll < 0.07:
            path.append((path[-1][0] + timedelta(days=rng.uniform(2, 12)), "refunded"))
        elif roll < 0.1:
            path.append((path[-1][0] + timedelta(days=rng.uniform(5, 20)), "chargeback"))
    return path


def history_postbacks(
    clicks: Sequence[Click], offer_ids: Sequence[int], now: datetime, rng: random.Random
) -> tuple[list[HistoryPostback], Counter[str]]:
    """The postbacks of the clicks that converted, in time order (none after `now`),
    and the statuses their conversions end in."""
    postbacks: list[HistoryPostback] = []
    final: Counter[str] = Counter()
    latest = now - timedelta(minutes=1)
    for click in clicks:
        rate = CONVERSION_RATE[offer_ids.index(click.offer_id) % len(CONVERSION_RATE)]
        if rng.random() >= rate * DEVICE_FACTOR[click.device or "mobile"]:
            continue
        start = click.created_at + timedelta(minutes=min(rng.expovariate(1 / 120), 2880))
        if start >= latest:
            continue
        txid = f"H-{sum(final.values()) + 1:05d}"
        kept = [
            HistoryPostback(start + after, click.click_id, txid, status)
            for after, status in _status_path(rng)
            if start + after < latest
        ]
        postbacks.extend(kept)
        final[kept[-1].status] += 1
    postbacks.sort(key=lambda postback: postback.at)
    return postbacks, final


def history_spend(
    clicks: Sequence[Click], affiliate_ids: Sequence[int], rng: random.Random
) -> list[CostRow]:
    """The daily spend of the sources bought by the day, one row per day and offer."""
    bought = {
        (affiliate_ids[source.affiliate], source.sub1): source
        for source in SOURCES
        if source.daily_spend
    }
    counts: Counter[tuple[date, int, int, str]] = Counter()
    for click in clicks:
        sub1 = click.subs[0] or ""
        if (click.affiliate_id, sub1) in bought:
            counts[(click.created_at.date(), click.offer_id, click.affiliate_id, sub1)] += 1
    rows = []
    for (day, offer_id, affiliate_id, sub1), count in sorted(counts.items()):
        spend = bought[(affiliate_id, sub1)].daily_spend or (0, 0)
        amount = Decimal(sum(rng.randint(*spend) for _ in range(count))) / 100
        rows.append(CostRow(day, offer_id, affiliate_id, (sub1, None, None, None, None), amount))
    return rows


def plan_history(offer_ids: Sequence[int], affiliate_ids: Sequence[int], now: datetime) -> History:
    """The demo's month of history up to `now` (the same every run for the same `now`)."""
    rng = random.Random(HISTORY_SEED)
    clicks = history_clicks(offer_ids, affiliate_ids, now, rng)
    postbacks, statuses = history_postbacks(clicks, offer_ids, now, rng)
    spend = history_spend(clicks, affiliate_ids, rng)
    return History(now.date(), clicks, postbacks, spend, statuses)


def postback_rounds(
    postbacks: Sequence[HistoryPostback],
) -> list[list[tuple[int, HistoryPostback]]]:
    """The postbacks (numbered in time order) in rounds: every conversion's first status,
    then every second one... The postbacks of one round are each about another
    conversion, so they may be recorded together (the store batches them)."""
    rounds: list[list[tuple[int, HistoryPostback]]] = []
    seen: Counter[str] = Counter()
    for number, postback in enumerate(postbacks, start=1):
        rank = seen[postback.txid]
        seen[postback.txid] += 1
        if rank == len(rounds):
            rounds.append([])
        rounds[rank].append((number, postback))
    return rounds


async def write_history(store: Store, history: History, progress: Progress) -> None:
    """Clicks, then conversions and their status changes, then the spend."""
    from postback.services.recording import LogDraft, record_postback

    await store.insert_clicks(history.clicks)
    task = progress.add_task("history", total=len(history.postbacks))

    async def one(number: int, postback: HistoryPostback) -> None:
        params = {
            "click_id": [postback.click_id],
            "txid": [postback.txid],
            "status": [postback.status],
        }
        entry = IncomingEntry(
            received_at=postback.at,
            method="IMPORT",
            ip=None,
            query=f"demo-history:{number}",
            body=None,
            http_status=200,
            result="pending",
        )
        await record_postback(store, params, LogDraft(entry), None, postback.at)
        progress.advance(task)

    for batch in postback_rounds(history.postbacks):
        await asyncio.gather(*(one(number, postback) for number, postback in batch))
    matched = await store.apply_costs(history.cost_rows)
    history.imported_cost = sum(
        (row.amount for row, count in zip(history.cost_rows, matched, strict=True) if count),
        Decimal(0),
    )


async def history_problems(store: Store, history: History) -> list[str]:
    """The reports over the history's days show it: by country and by device, with
    every country's clicks, its cost to the cent, and a return on it."""
    problems = []
    first, last = history_days(history.today)[0].isoformat(), history.today.isoformat()
    for dimension in ("country", "device"):
        query = parse_query(first=first, last=last, group_by=[dimension])
        report = await store.report(query)
        named = [row for row in report.rows if row.keys[0] is not None]
        if not named:
            problems.append(f"the report by {dimension} over the last {HISTORY_DAYS} days is empty")
            continue
        values = metric_values(report.totals, admin=True)
        if values["cost"] != history.cost:
            problems.append(f"the report's cost is {values['cost']}, the history's {history.cost}")
        if not values["cost"] or not values["roi"]:
            problems.append(f"the report by {dimension} shows no cost or no ROI: {values}")
        shown = Counter({row.keys[0]: row.figures.clicks for row in report.rows})
        made = Counter(getattr(click, dimension) for click in history.clicks)
        short = {str(key): (shown[key], n) for key, n in made.items() if key and shown[key] < n}
        if short:
            problems.append(f"the report by {dimension} misses history clicks: {short}")
    return problems


# -- checks and summary ------------------------------------------------------------------


@dataclass
class Outcome:
    clicks: list[SentClick]
    tally: Tally
    deliveries: dict[str, Counter[str]]
    conversions: Counter[str]
    problems: list[str]
    history: History | None = None


async def gather_outcome(
    api: httpx.AsyncClient,
    network: DemoNetwork,
    clicks: list[SentClick],
    tally: Tally,
    deliveries: dict[str, Counter[str]],
    receiver: Receiver,
    history: History | None = None,
) -> Outcome:
    conversions: Counter[str] = Counter()
    for offer in network.offers:
        for item in await collect(api, "/api/v1/conversions", {"offer_id": offer["id"]}):
            conversions[str(item["status"])] += 1
    problems = list(tally.problems)
    expected = tally.expected_statuses() + (history.statuses if history else Counter())
    if conversions != expected:
        problems.append(f"conversions by status {dict(conversions)}, expected {dict(expected)}")
    totals = sum(deliveries.values(), Counter[str]())
    if totals["delivered"] == 0:
        problems.append("no outgoing postback was delivered")
    if totals["failed"] or totals["pending"]:
        problems.append(
            f"{totals['failed']} deliveries failed and {totals['pending']} are still pending "
            f"after {DELIVERY_WAIT:.0f} s"
        )
    problems.extend(_scope_problems(network, clicks, tally, deliveries))
    problems.extend(_retry_problems(receiver))
    return Outcome(clicks, tally, deliveries, conversions, problems, history)


def _scope_problems(
    network: DemoNetwork,
    clicks: list[SentClick],
    tally: Tally,
    deliveries: dict[str, Counter[str]],
) -> list[str]:
    """Each config that an approved conversion should have fired delivered something."""
    approved = tally.approved_scopes(clicks)
    aff1, aff2 = (affiliate["id"] for affiliate in network.affiliates)
    offer1, offer2 = (offer["id"] for offer in network.offers)
    expected = {
        "affiliate 1, global": (aff1, offer1) in approved,
        "affiliate 1, offer 2": (aff1, offer2) in approved,
        "affiliate 2, global": any(scope[0] == aff2 for scope in approved),
        "network CRM": bool(tally.final_status),
    }
    return [
        f"postback config {label!r} delivered nothing"
        for label, should in expected.items()
        if should and deliveries.get(label, Counter())["delivered"] == 0
    ]


def refused_and_retried(receiver: Receiver) -> tuple[Received, Received] | None:
    """The receiver's refused first CRM call and its successful retry, if both happened."""
    crm = [request for request in receiver.requests if request.path == FAIL_FIRST_PATH]
    if not crm or crm[0].answered != 500 or not crm[0].webhook_id:
        return None
    for request in crm[1:]:
        if request.answered == 200 and request.webhook_id == crm[0].webhook_id:
            return crm[0], request
    return None


def _retry_problems(receiver: Receiver) -> list[str]:
    if not any(request.path == FAIL_FIRST_PATH for request in receiver.requests):
        return []
    if refused_and_retried(receiver) is None:
        return ["the refused first CRM call was not retried with the same webhook-id"]
    return []


def _sample_lines(receiver: Receiver, limit: int = 8) -> list[str]:
    """A few requests per path, refused ones always included."""
    shown: Counter[str] = Counter()
    lines = []
    for request in receiver.requests:
        if shown[request.path] >= 2 and request.answered == 200:
            continue
        shown[request.path] += 1
        line = f"{request.answered} <- {request.method} {request.path_qs}"
        if request.body:
            body = request.body if len(request.body) <= 100 else request.body[:97] + "..."
            line += f"  {body}"
        lines.append(line)
        if len(lines) >= limit:
            break
    return lines


def _say(console: Console, text: str, *, highlight: bool = True) -> None:
    """One plain line, never wrapped (so URLs and commands stay copyable)."""
    console.print(escape(text), soft_wrap=True, highlight=highlight)


def _print_counts(console: Console, outcome: Outcome) -> None:
    tally = outcome.tally
    _say(console, f"clicks: {tally.clicks_sent} sent, {tally.redirects_ok} redirected correctly")
    answers = ", ".join(f"{count} x {answer}" for answer, count in sorted(tally.answers.items()))
    _say(console, f"incoming postbacks: {sum(tally.answers.values())} sent ({answers})")
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(outcome.conversions.items()))
    _say(console, f"conversions: {sum(outcome.conversions.values())} ({statuses})")
    totals = sum(outcome.deliveries.values(), Counter[str]())
    _say(
        console,
        f"deliveries: {totals['delivered']} delivered, {totals['failed']} failed, "
        f"{totals['pending']} pending",
    )


def _print_history(console: Console, history: History) -> None:
    clicks = history.clicks
    countries = len({click.country for click in clicks if click.country})
    devices = ", ".join(
        f"{device} {n}" for device, n in Counter(click.device for click in clicks).most_common()
    )
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(history.statuses.items()))
    _say(
        console,
        f"history: {len(clicks)} clicks over the last {HISTORY_DAYS} days from {countries} "
        f"countries ({devices}), cost {history.cost:.2f}; "
        f"{sum(history.statuses.values())} conversions ({statuses}) after "
        f"{history.status_changes} status changes",
    )


def _print_configs(console: Console, outcome: Outcome, network: DemoNetwork) -> None:
    table = Table(title="Outgoing postbacks by config")
    for column in ("config", "method", "url", "delivered", "failed", "pending"):
        table.add_column(column, overflow="fold")
    for label, config in network.postbacks.items():
        counter = outcome.deliveries.get(label, Counter())
        table.add_row(
            label,
            str(config.get("method", "")),
            escape(str(config.get("url", ""))),
            str(counter["delivered"]),
            str(counter["failed"]),
            str(counter["pending"]),
        )
    console.print(table)


def _print_receiver(console: Console, receiver: Receiver) -> None:
    paths = Counter(request.path for request in receiver.requests)
    by_path = ", ".join(f"{path} {n}" for path, n in sorted(paths.items()))
    _say(console, f"receiver {receiver.url} got {len(receiver.requests)} requests ({by_path})")
    for line in _sample_lines(receiver):
        _say(console, "  " + line, highlight=False)
    retry = refused_and_retried(receiver)
    if retry is not None:
        first, again = retry
        _say(
            console,
            f"retry: {first.method} {first.path} got 500, sent again {again.at - first.at:.1f} s "
            f"later with the same webhook-id {first.webhook_id} and got 200",
        )


def _print_explore(
    console: Console, network: DemoNetwork, base: str, admin_key: str, database_url: str
) -> None:
    offer, affiliate = network.offers[0]["id"], network.affiliates[0]["id"]
    token = network.advertiser.get("postback_token", "")
    auth = f"-H 'Authorization: Bearer {admin_key}'"
    console.rule("[bold]explore")
    for line in (
        f"server:     {base}   (database {database_url})",
        f"admin key:  {admin_key}",
        f"console:    {base}/   (log in with the admin key)",
        f"API docs:   {base}/api/v1/docs",
        f"curl {auth} '{base}/api/v1/conversions?limit=10'",
        f"curl {auth} '{base}/api/v1/deliveries?state=delivered&limit=10'",
        f"curl {auth} '{base}/api/v1/incoming?limit=10'",
        f"curl '{base}/metrics'",
        f"curl -i '{base}/click?offer_id={offer}&aff_id={affiliate}&sub1=hello'",
        f"curl '{base}/postback?clickid=<click_id>&txid=T-1&status=1&token={token}'",
    ):
        _say(console, line, highlight=False)


def print_summary(
    console: Console,
    outcome: Outcome,
    receiver: Receiver,
    network: DemoNetwork,
    base: str,
    admin_key: str,
    database_url: str,
) -> None:
    console.rule("[bold]postback demo")
    if outcome.history is not None:
        _print_history(console, outcome.history)
    _print_counts(console, outcome)
    _print_configs(console, outcome, network)
    _print_receiver(console, receiver)
    _print_explore(console, network, base, admin_key, database_url)
    console.rule()
    if outcome.problems:
        console.print(f"[bold red]demo checks failed ({len(outcome.problems)}):[/bold red]")
        for problem in outcome.problems:
            _say(console, "  - " + problem, highlight=False)
    else:
        console.print("[bold green]demo checks passed[/bold green]")


# -- the whole run --------------------------------------------------------------------------


async def until_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """The result of `work`, or None when a stop signal came first (work is cancelled)."""
    job = asyncio.ensure_future(work)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({job, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if job.done():
        return job.result()
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    return None


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def retire_configs(base: str, admin_key: str, config_ids: Sequence[int]) -> None:
    """Deactivate the demo's postback configs: their receiver goes away with the demo."""
    auth = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as api:
        for config_id in config_ids:
            with contextlib.suppress(httpx.HTTPError):
                await api.patch(f"/api/v1/postbacks/{config_id}", json={"active": False})


@dataclass
class DemoRun:
    setup: DemoSettings
    receiver: Receiver
    console: Console
    store: Store | None = None
    base: str = ""
    created: list[int] = field(default_factory=list)

    async def exercise(self, clicks: int) -> tuple[Outcome, DemoNetwork]:
        auth = {"Authorization": f"Bearer {self.setup.admin_key}"}
        async with (
            httpx.AsyncClient(base_url=self.base, headers=auth, timeout=30) as api,
            httpx.AsyncClient(base_url=self.base, timeout=30) as traffic,
        ):
            await wait_healthy(traffic)
            parties = await create_parties(api, self.receiver.url)
            with new_progress(self.console) as progress:
                # Before the postback configs: the history's conversions owe no deliveries.
                history = await self.write_history(parties, progress)
                network = await create_network(api, parties, self.receiver.url, self.created)
                sent, tally = await simulate(traffic, network, clicks, progress)
                deliveries = await wait_for_deliveries(api, network, progress)
            outcome = await gather_outcome(
                api, network, sent, tally, deliveries, self.receiver, history
            )
        if history is not None and self.store is not None:
            outcome.problems.extend(await history_problems(self.store, history))
        return outcome, network

    async def write_history(self, parties: DemoParties, progress: Progress) -> History | None:
        """A month of history, in the demo's own database only (never in one it was given)."""
        if self.store is None or not self.setup.fresh_database:
            return None
        history = plan_history(parties.offer_ids, parties.affiliate_ids, datetime.now(UTC))
        await write_history(self.store, history, progress)
        return history

    async def run(
        self, server_task: asyncio.Task[None], stop: asyncio.Event, clicks: int, keep_running: bool
    ) -> int:
        """The exit code: 0 when every check passed."""
        done = await until_stopped(stop, self.exercise(clicks))
        if done is None:
            self.console.print("[yellow]interrupted[/yellow]")
            return 130
        outcome, network = done
        print_summary(
            self.console,
            outcome,
            self.receiver,
            network,
            self.base,
            self.setup.admin_key,
            self.setup.settings.database_url,
        )
        if keep_running:
            self.console.print(f"serving at {self.base}; press Ctrl-C to stop", soft_wrap=True)
            await until_stopped(stop, asyncio.shield(server_task))
            self.console.print("stopping")
        return 1 if outcome.problems else 0

    async def tidy(self) -> None:
        """Leave a database that outlives the demo without configs aimed at a dead receiver."""
        if self.created and not self.setup.fresh_database:
            await retire_configs(self.base, self.setup.admin_key, self.created)
            self.console.print(
                f"deactivated the demo's postback configs {self.created} (their receiver is gone)"
            )


async def run_demo(settings: Settings, *, port: int, clicks: int, keep_running: bool) -> None:
    """Start the server and a receiver, create demo data, simulate traffic, summarise."""
    setup = demo_settings(settings)
    if setup.fresh_database:
        remove_demo_database(Path.cwd())
    from postback.store.factory import open_store

    demo = DemoRun(setup, Receiver(fail_first=FAIL_FIRST_PATH), Console())
    stop = asyncio.Event()
    code = 1
    with stop_on_signals(stop):
        await demo.receiver.start()
        server: uvicorn.Server | None = None
        task: asyncio.Task[None] | None = None
        try:
            demo.store = open_store(setup.settings)
            server, task = await start_server(setup.settings, port, demo.store)
            demo.base = f"http://{HOST}:{bound_port(server)}"
            demo.console.print(
                f"postback server at {demo.base}, test receiver at {demo.receiver.url}",
                soft_wrap=True,
            )
            code = await demo.run(task, stop, clicks, keep_running)
        except (DemoFailure, httpx.HTTPError) as exc:
            demo.console.print(f"[bold red]demo failed:[/bold red] {escape(str(exc))}")
        finally:
            if server is not None and task is not None:
                await demo.tidy()
                await stop_server(server, task)
            await demo.receiver.stop()
    if code:
        raise typer.Exit(code)
