"""`postback demo`: the real server in-process, demo data, simulated traffic, a summary.

Everything goes through the public HTTP surface (tracking links, incoming postbacks, the
admin API), and the outgoing postbacks land on a small local receiver, so the demo also
works as an end-to-end smoke test: it exits non-zero when its own checks fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

from postback.demo_history import (
    HISTORY_DAYS,
    History,
    history_problems,
    plan_history,
    write_history,
)
from postback.settings import Settings

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
