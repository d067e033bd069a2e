"""The demo's month of history: seeded clicks, conversions, status changes and costs,
written through the store.

So that the console's dashboard and the reports show real shapes on first start: a month
of clicks (a weekly rhythm, countries, devices, bots, repeat visitors, paid traffic),
conversions whose statuses change over the following days, and one affiliate's daily spend
imported afterwards. Clicks go in through the store's batch write and conversions through
the same use case as `postback import conversions`, so the report rollups count them
exactly as they count live traffic. A fixed seed makes the history the same every run
for the same moment.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from postback.domain.costs import CostRow
from postback.domain.records import Click
from postback.domain.report import metric_values, parse_query
from postback.domain.visitor import visitor_id
from postback.store.base import IncomingEntry

if TYPE_CHECKING:
    from rich.progress import Progress

    from postback.store.sql import Store

T = TypeVar("T")

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
