"""Report benchmark: reports read from rollups against a plain GROUP BY over the raw rows.

Loads clicks and conversions over a number of days into a fresh database on each backend
through the store's own write paths (Store.insert_clicks in large batches, and
Store.record_postback for every conversion and status change), so the rollups come from
the production code. The clicks carry visitor data as click intelligence would set it:
a country from a long-tailed list (or none), a device with an OS and a browser that go
with it, bots flagged, about 85 % unique, and a cost on about half of them. Then, for a
30-day window, it checks that each report (by day, offer and affiliate; sub1; country by
day; device; a few countries by day) equals the same figures computed by a GROUP BY over
the clicks and conversions tables, and times both. A difference stops the run (with
--keep-going: reported, and the exit status is 1). Only 127.0.0.1 is touched; the
databases it creates are dropped at the end.

    .venv/bin/python bench/reports.py                       # 10M clicks, 200k conversions
    .venv/bin/python bench/reports.py --clicks 1000000 --conversions 20000 --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    case,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from postback.app import create_web
from postback.domain.buckets import offset_segments
from postback.domain.ids import hash_key, new_api_key, new_click_id
from postback.domain.records import Click, Offer
from postback.domain.report import TEXTS, Figures, Group, ReportQuery, parse_query
from postback.settings import Settings
from postback.store.base import IncomingEntry, PostbackCommand
from postback.store.factory import open_store
from postback.store.schema import clicks, conversions
from postback.store.sql import Store

console = Console(stderr=True)
US = 1_000_000
DAY_US = 86_400 * US
FIRST_DAY = date(2024, 1, 1)
# Where visitors click from: ISO 3166 codes with a long tail, and None (no geo match).
COUNTRY_WEIGHTS: dict[str | None, float] = {
    "US": 22, "IN": 8, "BR": 5, "GB": 5, "DE": 5, "FR": 4, "ID": 3.5, "MX": 3, "JP": 3,
    "CA": 3, "ES": 2.5, "IT": 2.5, "RU": 2, "TR": 2, "PH": 2, "VN": 1.8, "NG": 1.5,
    "PL": 1.5, "TH": 1.5, "AU": 1.5, "KR": 1.4, "NL": 1.3, "PK": 1.2, "EG": 1.1, "AR": 1.1,
    "CO": 1, "SA": 1, "ZA": 0.9, "BD": 0.9, "UA": 0.8, "MY": 0.8, "SE": 0.7, "BE": 0.6,
    "CH": 0.6, "AT": 0.5, "RO": 0.5, "CL": 0.5, "PE": 0.5, "AE": 0.5, "IL": 0.4, "CZ": 0.4,
    "PT": 0.4, "GR": 0.4, "HU": 0.3, "DK": 0.3, "NO": 0.3, "FI": 0.3, "IE": 0.3, "NZ": 0.3,
    "SG": 0.3, "KE": 0.3, "MA": 0.3, "DZ": 0.25, "KZ": 0.25, "VE": 0.2, "EC": 0.2,
    "LK": 0.15, "NP": 0.15, "GH": 0.15, "HR": 0.1, "RS": 0.1, "BG": 0.1, "SK": 0.1,
    "LT": 0.05, "LV": 0.05, "EE": 0.05, "CY": 0.03, "LU": 0.03, "IS": 0.02, "MT": 0.02,
    None: 2.5,
}  # fmt: skip
# (device, weight, [(os, browser, weight)]) with the names read_agent gives
# (postback.visitors.agents): OS and browser go with the device. None: not known.
AGENTS: list[tuple[str | None, float, list[tuple[str | None, str | None, float]]]] = [
    ("mobile", 55, [
        ("Android", "Chrome Mobile", 40), ("iOS", "Mobile Safari", 28),
        ("Android", "Samsung Internet", 7), ("iOS", "Chrome Mobile iOS", 5),
        ("Android", "Facebook", 4), ("iOS", "Instagram", 3),
        ("Android", "Chrome Mobile WebView", 3), ("iOS", "Facebook", 2),
        ("iOS", "Google", 2), ("Android", "Opera Mobile", 2), ("Android", "MiuiBrowser", 2),
        ("Android", "UC Browser", 2), ("Android", "Firefox Mobile", 1),
        ("KaiOS", "Firefox Mobile", 0.3), ("Windows Phone", "IE Mobile", 0.1),
    ]),
    ("desktop", 32, [
        ("Windows", "Chrome", 45), ("Windows", "Edge", 14), ("Mac OS X", "Chrome", 12),
        ("Mac OS X", "Safari", 10), ("Windows", "Firefox", 6), ("Linux", "Chrome", 3),
        ("Linux", "Firefox", 2), ("Chrome OS", "Chrome", 2), ("Windows", "Opera", 2),
        ("Ubuntu", "Firefox", 1), ("Windows", "Yandex Browser", 1),
        ("Mac OS X", "Firefox", 1), ("Windows", "IE", 0.2),
    ]),
    ("tablet", 7, [
        ("iOS", "Mobile Safari", 50), ("Android", "Chrome", 35),
        ("Android", "Samsung Internet", 8), ("Android", "Amazon Silk", 5),
        ("iOS", "Chrome Mobile iOS", 2),
    ]),
    ("bot", 3, [
        (None, "Googlebot", 30), (None, "bingbot", 15), (None, "AhrefsBot", 10),
        (None, "YandexBot", 6), (None, "facebookexternalhit", 8), (None, "Python Requests", 10),
        (None, "curl", 8), ("Linux", "HeadlessChrome", 8), ("Mac OS X", "Applebot", 5),
    ]),
    ("tv", 1, [("Tizen", "Samsung Internet", 50), ("webOS TV", "Chrome", 30), ("Roku", None, 20)]),
    ("console", 0.3, [("PlayStation", "NetFront NX", 60), ("Xbox", "Edge", 40)]),
    ("other", 1.2, [(None, None, 80), (None, "Opera Mini", 20)]),
    (None, 0.5, [(None, None, 100)]),  # no User-Agent
]  # fmt: skip
UNIQUE_SHARE = 0.85
COST_SHARE = 0.5
# (statuses in order, weight): each conversion's history.
HISTORIES = [
    (["approved"], 55),
    (["approved", "refunded"], 10),
    (["approved", "chargeback"], 3),
    (["pending", "approved"], 12),
    (["pending", "rejected"], 8),
    (["pending"], 5),
    (["rejected"], 5),
    (["rejected", "approved"], 2),
]
ADMIN_KEY = "bench-admin-key-0123456789"
TARGET_MS = 200  # every report, from the rollups, at 10 million clicks


# ---- the traffic ----------------------------------------------------------------------


@dataclass
class World:
    offers: list[Offer]
    pairs: list[tuple[Offer, int]]  # (offer, affiliate id) an affiliate runs
    pair_weights: list[float]
    placements: dict[int, list[str]]  # sub1 values per affiliate
    placement_weights: list[float]
    visitors: Visitors
    conversions: list[Click] = field(default_factory=list)  # clicks that convert


def zipf(count: int, exponent: float) -> list[float]:
    return [1 / (rank**exponent) for rank in range(1, count + 1)]


def cumulative(weights: list[float]) -> list[float]:
    total, found = 0.0, []
    for weight in weights:
        total += weight
        found.append(total)
    return found


async def make_world(store: Store, rng: random.Random, offers: int, affiliates: int) -> World:
    advertisers = [
        await store.create_advertiser(
            {
                "name": f"adv{n}",
                "postback_token": secrets.token_urlsafe(18),
                "require_token": True,
                "allowed_ips": [],
                "status_map": {},
            }
        )
        for n in range(4)
    ]
    made = []
    for n in range(offers):
        revenue = Decimal(rng.randint(10_000, 500_000)) / 10_000
        payout = (revenue * Decimal(rng.randint(60, 80)) / 100).quantize(Decimal("0.0001"))
        made.append(
            await store.create_offer(
                {
                    "advertiser_id": advertisers[n % len(advertisers)].id,
                    "name": f"offer{n}",
                    "destination_url": "https://shop.example/?c={click_id}",
                    "fallback_url": None,
                    "revenue": revenue,
                    "payout": payout,
                    "currency": "USD",
                    "status": "active",
                }
            )
        )
    pairs, weights, placements = [], [], {}
    for rank, weight in enumerate(zipf(affiliates, 1.1)):
        affiliate = await store.create_affiliate(f"aff{rank}", hash_key(new_api_key("aff")))
        for share, offer in zip((0.6, 0.3, 0.1), rng.sample(made, 3), strict=True):
            pairs.append((offer, affiliate.id))
            weights.append(weight * share)
        placements[affiliate.id] = [f"p{affiliate.id}-{k}" for k in range(25)]
    return World(
        made,
        pairs,
        cumulative(weights),
        placements,
        cumulative(zipf(25, 1.0)),
        Visitors.make(rng.randrange(2**32)),
    )


# A visitor profile: (device, os, browser, is_bot).
Profile = tuple[str | None, str | None, str | None, bool]


@dataclass(frozen=True)
class Visitors:
    """Pools to draw visitor fields from, built once (cumulative weights, Decimal costs):
    random.choices picks from them for a whole day at once, so a click costs a few list
    reads and no Decimal or weighting of its own."""

    countries: list[str | None]
    country_weights: list[float]  # cumulative
    profiles: list[Profile]
    profile_weights: list[float]  # cumulative
    costs: list[Decimal]  # per-click costs, four decimals

    @classmethod
    def make(cls, seed: int) -> Visitors:
        profiles: list[Profile] = []
        weights: list[float] = []
        for device, share, agents in AGENTS:
            total = sum(weight for *_, weight in agents)
            for os_name, browser, weight in agents:
                profiles.append((device, os_name, browser, device == "bot"))
                weights.append(share * weight / total)
        rng = random.Random(seed)
        # CPCs from half a cent to a few units, log-uniform: most are cents.
        costs = [
            Decimal(round(10 ** rng.uniform(1.7, 4.5))).scaleb(-4).quantize(Decimal("0.0001"))
            for _ in range(4096)
        ]
        return cls(
            list(COUNTRY_WEIGHTS),
            cumulative(list(COUNTRY_WEIGHTS.values())),
            profiles,
            cumulative(weights),
            costs,
        )

    def draw(
        self, rng: random.Random, count: int
    ) -> Iterator[tuple[str | None, Profile, bool, Decimal | None]]:
        """(country, profile, is_unique, cost) for `count` clicks."""
        countries = rng.choices(self.countries, cum_weights=self.country_weights, k=count)
        profiles = rng.choices(self.profiles, cum_weights=self.profile_weights, k=count)
        random_ = rng.random
        costs, pool = self.costs, len(self.costs)
        # One random number per click: under COST_SHARE a cost, its rank in the pool from
        # the same number; UNIQUE_SHARE from another draw.
        for country, profile in zip(countries, profiles, strict=True):
            spent = random_()
            cost = costs[int(spent / COST_SHARE * pool)] if spent < COST_SHARE else None
            yield country, profile, random_() < UNIQUE_SHARE, cost


def visitor_click(
    click_id: str,
    offer_id: int,
    affiliate_id: int,
    sub1: str,
    at: datetime,
    visitor: tuple[str | None, Profile, bool, Decimal | None],
) -> Click:
    """A click as click intelligence leaves it. Without a visitor hash the store keeps
    is_unique as drawn (store/visitors.py), and sub2 carries the device, as trackers do."""
    country, (device, os_name, browser, is_bot), unique, cost = visitor
    return Click(
        click_id=click_id,
        offer_id=offer_id,
        affiliate_id=affiliate_id,
        subs=(sub1, device, None, None, None),
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (bench)",
        referrer=None,
        country=country,
        created_at=at,
        device=device,
        os=os_name,
        browser=browser,
        is_bot=is_bot,
        is_unique=unique,
        cost=cost,
    )


def day_of_clicks(world: World, rng: random.Random, day: int, count: int) -> list[Click]:
    start = datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), UTC)
    seconds = sorted(rng.randrange(86_400) for _ in range(count))
    pairs = rng.choices(world.pairs, cum_weights=world.pair_weights, k=count)
    places = rng.choices(range(25), cum_weights=world.placement_weights, k=count)
    visitors = world.visitors.draw(rng, count)
    return [
        visitor_click(
            new_click_id(start),
            offer.id,
            affiliate,
            world.placements[affiliate][place],
            start + timedelta(seconds=second, microseconds=rng.randrange(US)),
            visitor,
        )
        for second, (offer, affiliate), place, visitor in zip(
            seconds, pairs, places, visitors, strict=True
        )
    ]


def history_plan(rng: random.Random, count: int) -> list[list[str]]:
    statuses = [h for h, _ in HISTORIES]
    return rng.choices(statuses, weights=[w for _, w in HISTORIES], k=count)


def command(
    click: Click,
    offer: Offer,
    txid: str,
    status: str,
    at: datetime,
    revenue: Decimal | None,
    event: str,
) -> PostbackCommand:
    log = IncomingEntry(
        received_at=at,
        method="GET",
        ip="198.51.100.1",
        query=f"click_id={click.click_id}&txid={txid}&status={status}",
        body=None,
        http_status=200,
        result="pending",
        click_id=click.click_id,
    )
    return PostbackCommand(click, offer, event, txid, status, revenue, None, at, log)


# ---- loading ----------------------------------------------------------------------------


async def gather_limited(jobs: Iterator[Awaitable[Any]], limit: int) -> None:
    pending: set[asyncio.Task[Any]] = set()
    for job in jobs:
        pending.add(asyncio.ensure_future(job))
        if len(pending) >= limit:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
    if pending:
        for task in (await asyncio.wait(pending))[0]:
            task.result()


async def load(store: Store, args: argparse.Namespace, rng: random.Random) -> dict[str, float]:
    timings: dict[str, float] = {}
    world = await make_world(store, rng, args.offers, args.affiliates)
    offers = {offer.id: offer for offer in world.offers}
    per_day, extra = divmod(args.clicks, args.days)
    convert_share = args.conversions / args.clicks
    chosen: list[Click] = []
    folding = 0.0
    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("clicks", total=args.clicks)
        for day in range(args.days):
            batch = day_of_clicks(world, rng, day, per_day + (1 if day < extra else 0))
            chosen.extend(c for c in batch if rng.random() < convert_share)
            for at in range(0, len(batch), args.batch):
                await store.insert_clicks(batch[at : at + args.batch])
                if store.folds_rollups:
                    # PostgreSQL: each batch's rollup changes folded in before the next, as
                    # the serve processes keep them. A fold takes up to 2,000 pending
                    # rows whatever they hold: the whole load's (100 batches at 2 million
                    # clicks) made one upsert over the 1 GB a protocol message can carry,
                    # after 14 GB of Python memory.
                    folded = time.perf_counter()
                    await store.fold_rollups()
                    folding += time.perf_counter() - folded
                bar.advance(task, len(batch[at : at + args.batch]))
    timings["load clicks (s)"] = time.perf_counter() - started
    if store.folds_rollups:
        timings["of which folding their rollup changes (s)"] = folding

    plans = history_plan(rng, len(chosen))
    created: list[tuple[Click, str, datetime, list[str]]] = []
    for number, (click, plan) in enumerate(zip(chosen, plans, strict=True)):
        delay = timedelta(seconds=min(rng.expovariate(1 / 7200), 3 * 86_400))
        created.append((click, f"T{number}", click.created_at + delay, plan))
    revenue_of = {
        txid: (Decimal(rng.randint(1, 9_999_999)) / 10_000 if rng.random() < 0.3 else None)
        for _, txid, _, _ in created
    }
    event_of = {txid: "sale" if rng.random() < 0.7 else "lead" for _, txid, _, _ in created}
    started = time.perf_counter()
    with progress() as bar:
        steps = sum(len(plan) for *_, plan in created)
        task = bar.add_task("postbacks", total=steps)
        for step in range(max(len(p) for *_, p in created)):

            def jobs(step: int = step) -> Iterator[Awaitable[Any]]:
                for click, txid, at, plan in created:
                    if step < len(plan):
                        later = at + timedelta(days=2 * step)
                        revenue = revenue_of[txid] if step == 0 else None
                        offer = offers[click.offer_id]
                        status, event = plan[step], event_of[txid]
                        cmd = command(click, offer, txid, status, later, revenue, event)
                        yield counted(store.record_postback(cmd), bar, task)

            await gather_limited(jobs(), args.concurrency)
    timings["load postbacks (s)"] = time.perf_counter() - started
    timings["postbacks"] = steps
    return timings


async def counted(job: Awaitable[Any], bar: Progress, task: Any) -> None:
    await job
    bar.advance(task)


def progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


# ---- the raw GROUP BY -----------------------------------------------------------------


def local_day(created_at: ColumnElement[int], tz: str, lo: int, hi: int) -> ColumnElement[Any]:
    """Days since the epoch in `tz`: (time + offset) / day, the offset by segment."""
    segments = offset_segments(tz, lo // US - 86_400, hi // US + 86_400)
    if len(segments) == 1:
        return (created_at + segments[0].offset * US) // DAY_US
    whens = [
        (created_at < segment.end * US, (created_at + segment.offset * US) // DAY_US)
        for segment in segments[:-1]
    ]
    return case(*whens, else_=(created_at + segments[-1].offset * US) // DAY_US)


#: The raw side's counters, in the order of Figures.
RAW_COUNTERS = ("clicks", "conv", "appr", "pend", "rej", "rev", "pay", "uniq", "bots", "cost")


def raw_select(query: ReportQuery, lo: int, hi: int) -> Any:
    """The report's figures straight from clicks and conversions (current status): a
    conversion's texts (subs, country, device, os, browser) are its click's, as in the
    rollups; a missing text and '' are one key, as in a filter."""
    texts = [name for name in (*query.group_by, *query.filters) if name in TEXTS]
    click_keys: list[ColumnElement[Any]] = []
    conv_keys: list[ColumnElement[Any]] = []
    for name in query.group_by:
        if name == "day":
            click_keys.append(local_day(clicks.c.created_at, query.tz, lo, hi).label("day"))
            conv_keys.append(local_day(conversions.c.created_at, query.tz, lo, hi).label("day"))
        elif name in ("offer_id", "affiliate_id"):
            click_keys.append(clicks.c[name].label(name))
            conv_keys.append(conversions.c[name].label(name))
        elif name in TEXTS:
            text = func.coalesce(clicks.c[name], "")
            click_keys.append(text.label(name))
            conv_keys.append(text.label(name))
        else:
            raise ValueError(f"the raw GROUP BY does not group by {name}")
    click_where = [clicks.c.created_at >= lo, clicks.c.created_at < hi]
    conv_where = [conversions.c.created_at >= lo, conversions.c.created_at < hi]
    for name, allowed in query.filters.items():
        if name in ("offer_id", "affiliate_id"):
            click_where.append(clicks.c[name].in_(allowed))
            conv_where.append(conversions.c[name].in_(allowed))
        elif name in TEXTS:
            among = func.coalesce(clicks.c[name], "").in_(allowed)
            click_where.append(among)
            conv_where.append(among)
        else:
            raise ValueError(f"the raw GROUP BY does not filter by {name}")
    zero = literal(0, BigInteger)
    approved = conversions.c.status == "approved"
    click_sums = {
        "clicks": func.count(),
        "uniq": func.sum(case((clicks.c.is_unique == true(), 1), else_=0)),
        "bots": func.sum(case((clicks.c.is_bot == true(), 1), else_=0)),
        "cost": func.coalesce(func.sum(clicks.c.cost), 0),
    }
    click_part = (
        select(
            *click_keys,
            *(click_sums.get(n, zero).label(n) for n in RAW_COUNTERS),
        )
        .where(*click_where)
        .group_by(*click_keys)
    )
    conv_sums = {
        "conv": func.count(),
        "appr": func.sum(case((approved, 1), else_=0)),
        "pend": func.sum(case((conversions.c.status == "pending", 1), else_=0)),
        "rej": func.sum(case((conversions.c.status == "rejected", 1), else_=0)),
        "rev": func.sum(case((approved, conversions.c.revenue), else_=0)),
        "pay": func.sum(case((approved, conversions.c.payout), else_=0)),
    }
    conv_from = (
        conversions.join(clicks, clicks.c.click_id == conversions.c.click_id)
        if texts
        else conversions
    )
    conv_part = (
        select(*conv_keys, *(conv_sums.get(n, zero).label(n) for n in RAW_COUNTERS))
        .select_from(conv_from)
        .where(*conv_where)
        .group_by(*conv_keys)
    )
    both = union_all(click_part, conv_part).subquery("raw")
    keys = [both.c[name] for name in query.group_by]
    return select(*keys, *(func.sum(both.c[n]) for n in RAW_COUNTERS)).group_by(*keys)


def raw_groups(query: ReportQuery, found: list[Any]) -> list[Group]:
    width = len(query.group_by)
    groups = []
    for row in found:
        keys = []
        for name, value in zip(query.group_by, row[:width], strict=True):
            if name == "day":
                value = (date(1970, 1, 1) + timedelta(days=int(value))).isoformat()
            keys.append(value or None if name in TEXTS else value)
        groups.append(Group(tuple(keys), Figures(*(int(v or 0) for v in row[width:]))))
    return groups


def utc_bounds(query: ReportQuery) -> tuple[int, int]:
    zone = ZoneInfo(query.tz)

    def start(day: date) -> int:
        moment = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        return int(moment.timestamp()) * US

    return start(query.first), start(query.last + timedelta(days=1))


async def raw_report(engine: AsyncEngine, query: ReportQuery) -> tuple[list[Group], Figures]:
    lo, hi = utc_bounds(query)
    async with engine.connect() as conn:
        found = list(await conn.execute(raw_select(query, lo, hi)))
    groups = [g for g in raw_groups(query, found) if not g.figures.is_zero]
    return groups, sum((g.figures for g in groups), Figures())


# ---- timing -----------------------------------------------------------------------------


async def median_ms(run: Callable[[], Awaitable[Any]], times: int) -> float:
    await run()  # warm the caches
    found = []
    for _ in range(times):
        started = time.perf_counter()
        await run()
        found.append((time.perf_counter() - started) * 1000)
    return statistics.median(found)


@dataclass
class Result:
    backend: str
    name: str
    rows: int
    rollup_ms: float
    api_ms: float
    raw_ms: float
    written_clicks: int = 0
    written_postbacks: int = 0
    equal: bool = True  # the report equalled the raw GROUP BY (before and after writes)


class Writes:
    """Clicks (and a postback for one in twenty) on the window's last day, at a steady
    rate, through the store's write paths, while reports are timed: what a report must
    count at once (PostgreSQL folds pending rollup changes before it reads)."""

    def __init__(self, store: Store, day: date, clicks_per_second: int) -> None:
        self.store, self.day, self.rate = store, day, clicks_per_second
        self.clicks = self.postbacks = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._folding: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Writes:
        if self.rate > 0:
            self._task = asyncio.create_task(self._run())
            # As in every serve and worker process: pending rollup changes folded in the
            # background (PostgreSQL; nothing to do on SQLite).
            self._folding = asyncio.create_task(self.store.keep_rollups_folded(self._stop))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        if self._folding is not None:
            await self._folding

    async def _run(self) -> None:
        offers = [offer for n in range(1, 6) if (offer := await self.store.get_offer(n))]
        rng = random.Random(7)
        tick = 0.05
        # Live traffic: clicks stamped as they come, from noon of the last day on.
        noon = datetime.combine(self.day, datetime.min.time(), UTC) + timedelta(hours=12)
        visitors = Visitors.make(7)
        began_at = time.perf_counter()
        while not self._stop.is_set():
            began = time.perf_counter()
            count = max(1, int(self.rate * tick))
            made = [
                visitor_click(
                    new_click_id(noon),
                    rng.choice(offers).id,
                    rng.randint(1, 5),
                    f"live{rng.randrange(10)}",
                    noon + timedelta(seconds=time.perf_counter() - began_at),
                    visitor,
                )
                for visitor in visitors.draw(rng, count)
            ]
            await self.store.insert_clicks(made)
            self.clicks += len(made)
            by_id = {offer.id: offer for offer in offers}
            await asyncio.gather(
                *(
                    self.store.record_postback(
                        command(
                            click,
                            by_id[click.offer_id],
                            f"live-{click.click_id}",
                            "approved",
                            click.created_at,
                            None,
                            "sale",
                        )
                    )
                    for click in made[::20]
                )
            )
            self.postbacks += len(made[::20])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stop.wait(), max(0.0, tick - (time.perf_counter() - began))
                )


def baseline_engine(store: Store) -> AsyncEngine:
    """Where the raw GROUP BY runs: on PostgreSQL a connection with the server's own
    settings (the store's turn JIT off and raise work_mem), on SQLite the store's."""
    if store.engine.dialect.name == "postgresql":
        return create_async_engine(store.engine.url, pool_size=1)
    return store.engine


async def measure(store: Store, backend: str, args: argparse.Namespace) -> list[Result]:
    baseline = baseline_engine(store)
    try:
        return await measure_with(store, baseline, backend, args)
    finally:
        if baseline is not store.engine:
            await baseline.dispose()


@dataclass(frozen=True)
class Case:
    """A report to time: its group_by, filters, and whether it runs in every zone of
    --zones or in UTC and the first other zone only."""

    name: str
    group_by: str
    filters: dict[str, list[str]] = field(default_factory=dict)
    every_zone: bool = True


CASES = (
    Case("day x offer x affiliate", "day,offer_id,affiliate_id"),
    Case("sub1", "sub1"),
    Case("country x day", "day,country", every_zone=False),
    Case("device", "device", every_zone=False),
    # Big and long-tail countries, and clicks without one ('').
    Case(
        "country filtered, by day",
        "day",
        {"country": ["US", "DE", "BR", "NG", "IS", ""]},
        every_zone=False,
    ),
)


def case_zones(case: Case, zones: list[str]) -> list[str]:
    if case.every_zone:
        return zones
    others = [zone for zone in zones if zone != "UTC"]
    return [zone for zone in zones if zone == "UTC"] + others[:1]


def differences(mine: dict[Any, Figures], theirs: dict[Any, Figures]) -> str:
    keys = [k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)]
    shown = "; ".join(f"{k}: rollups {mine.get(k)} raw {theirs.get(k)}" for k in keys[:3])
    return f"{len(keys)} groups, e.g. {shown}"


async def measure_with(
    store: Store, baseline: AsyncEngine, backend: str, args: argparse.Namespace
) -> list[Result]:
    last = FIRST_DAY + timedelta(days=args.days - 1)
    first = last - timedelta(days=29)
    app = create_web(Settings(), store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
    transport = httpx.ASGITransport(app=app)
    results = []
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def differ(label: str, what: str) -> None:
        message = f"{backend} {label}: {what}"
        if not args.keep_going:
            raise SystemExit(message)
        console.print(f"[red]{message}[/red]")

    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for tz in args.zones:
            for case in CASES:
                if tz not in case_zones(case, args.zones):
                    continue
                label = f"{case.name}, {tz}"
                query = parse_query(
                    first=first.isoformat(),
                    last=last.isoformat(),
                    tz=tz,
                    group_by=[case.group_by],
                    filters=case.filters,
                    limit="100000",
                )
                report = await store.report(query)
                raw, raw_totals = await raw_report(baseline, query)
                mine = {g.keys: g.figures for g in report.rows}
                theirs = {g.keys: g.figures for g in raw}
                equal = mine == theirs and report.totals == raw_totals
                if not equal:
                    differ(label, f"reports differ: {differences(mine, theirs)}")
                params: dict[str, str | list[str]] = {
                    "from": first.isoformat(),
                    "to": last.isoformat(),
                    "tz": tz,
                    "group_by": case.group_by,
                    "limit": "100000",
                    **case.filters,
                }

                async def api_call(params: dict[str, str | list[str]] = params) -> None:
                    answer = await client.get("/api/v1/reports", params=params, headers=headers)
                    answer.raise_for_status()

                async def rollup(query: ReportQuery = query) -> None:
                    await store.report(query)

                async def raw_run(query: ReportQuery = query) -> None:
                    await raw_report(baseline, query)

                async with Writes(store, last, args.write_rate) as writes:
                    rollup_ms = await median_ms(rollup, args.repeat)
                    api_ms = await median_ms(api_call, args.repeat)
                if writes.clicks:
                    # Exact again once the writes stop: nothing lost or counted twice.
                    after = await store.report(query)
                    raw, raw_totals = await raw_report(baseline, query)
                    if after.totals != raw_totals:
                        equal = False
                        differ(label, f"totals differ after writes: {after.totals} {raw_totals}")
                result = Result(
                    backend,
                    label,
                    len(report.rows),
                    rollup_ms,
                    api_ms,
                    await median_ms(raw_run, max(1, args.repeat // 3)),
                    writes.clicks,
                    writes.postbacks,
                    equal,
                )
                console.print(
                    f"{backend}: {result.name}: {result.rows} rows, rollups "
                    f"{result.rollup_ms:.1f} ms (API {result.api_ms:.1f} ms), raw GROUP BY "
                    f"{result.raw_ms:.0f} ms, x{result.raw_ms / result.rollup_ms:.0f}, "
                    f"{'equal' if equal else 'NOT EQUAL'}; meanwhile {writes.clicks:,} clicks "
                    f"and {writes.postbacks:,} postbacks written"
                )
                results.append(result)
    return results


# ---- backends -----------------------------------------------------------------------


async def table_rows(store: Store) -> dict[str, int]:
    found = {}
    async with store.engine.connect() as conn:
        for name in (
            "clicks",
            "conversions",
            "rollup_base",
            "rollup_events",
            "rollup_subs",
            "rollup_all",
        ):
            table = {t.name: t for t in store_tables()}[name]
            found[name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    return found


def store_tables() -> list[Any]:
    from postback.store import schema

    return list(schema.metadata.tables.values())


async def analyze(store: Store) -> None:
    """Fresh planner statistics for both sides, as autovacuum or a routine ANALYZE keeps;
    on PostgreSQL also the visibility map that autovacuum keeps (the rollup tables ask
    for it after 1 % of their rows change), which lets reads of the covering keys skip
    the heap."""
    if store.engine.dialect.name == "postgresql":
        async with store.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM (ANALYZE)")
        return
    async with store.engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")


async def run_backend(
    backend: str, url: str, args: argparse.Namespace, fill: bool = True
) -> dict[str, Any]:
    console.rule(f"{backend}: {args.clicks:,} clicks, {args.conversions:,} conversions")
    report_zones = ",".join(report_zones_of(args))
    store = open_store(Settings(database_url=url, report_zones=report_zones))
    assert isinstance(store, Store)
    machine = {"at start": load_average()}
    try:
        timings: dict[str, float] = {}
        if fill:
            await store.migrate()
            timings = await load(store, args, random.Random(args.seed))
        else:
            # A kept database may predate migrations or zones: upgrading it backfills the
            # report zones' days from the stored 15-minute buckets.
            started = time.perf_counter()
            await store.migrate()
            timings["migrate and backfill report zones (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        await store.fold_rollups()  # what serve and worker processes do in the background
        timings["fold pending rollup changes (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        await analyze(store)
        timings["analyze (s)"] = time.perf_counter() - started
        rows = await table_rows(store)
        console.print(f"{backend}: loaded {timings}, rows {rows}")
        machine["before timing"] = load_average()
        results = await measure(store, backend, args)
        machine["after timing"] = load_average()
        return {"timings": timings, "rows": rows, "results": results, "load": machine}
    finally:
        await store.close()


def load_average() -> str:
    """The machine's load (other work shares its cores)."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def report_zones_of(args: argparse.Namespace) -> list[str]:
    """The zones whose local days the rollups keep: by default those reported in."""
    zones = args.zones if args.report_zones is None else args.report_zones
    return [zone for zone in zones if zone != "UTC"]


def check_local(dsn: str) -> None:
    host = urlsplit(dsn).hostname
    if host not in {"127.0.0.1", "localhost"}:
        raise SystemExit(f"the benchmark only touches 127.0.0.1, not {host}")


async def with_postgres(dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    check_local(dsn)
    name = "postback_bench_" + secrets.token_hex(4)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = dsn.rsplit("/", 1)[0]
    try:
        return await run_backend("postgres", f"{base}/{name}", args)
    finally:
        if not args.keep:
            admin = await asyncpg.connect(dsn)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def with_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="postback-bench-")
    try:
        return await run_backend("sqlite", f"sqlite:///{folder}/bench.db", args)
    finally:
        if args.keep:
            console.print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def markdown(all_results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| backend | report (30 days) | rows | rollups ms | via API ms | raw GROUP BY ms "
        "| raw / rollups | equals raw | written meanwhile (clicks / postbacks) |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    every = [r for outcome in all_results.values() for r in outcome["results"]]
    for r in every:
        lines.append(
            f"| {r.backend} | {r.name} | {r.rows:,} | {r.rollup_ms:.1f} | {r.api_ms:.1f} | "
            f"{r.raw_ms:,.0f} | {r.raw_ms / r.rollup_ms:,.0f}x | {'yes' if r.equal else 'NO'} | "
            f"{r.written_clicks:,} / {r.written_postbacks:,} |"
        )
    over = [f"{r.backend} {r.name}" for r in every if r.rollup_ms >= TARGET_MS]
    lines.append("")
    lines.append(
        f"Over {TARGET_MS} ms (rollups): {', '.join(over) or 'none'}; "
        f"equal to the raw rows: {sum(r.equal for r in every)} of {len(every)}"
    )
    for backend, outcome in all_results.items():
        lines.append("")
        lines.append(
            f"{backend} load average (1, 5, 15 min): "
            + "; ".join(f"{k} {v}" for k, v in outcome["load"].items())
        )
        lines.append(
            f"{backend}: " + ", ".join(f"{k} {v:,.0f}" for k, v in outcome["timings"].items())
        )
        lines.append(
            f"{backend} rows: " + ", ".join(f"{k} {v:,}" for k, v in outcome["rows"].items())
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, Any]] = {}
    if args.reuse:
        # Time again on a database an earlier run kept (--keep): no loading, no dropping.
        backend = "sqlite" if args.reuse.startswith("sqlite") else "postgres"
        if backend == "postgres":
            check_local(args.reuse)
        results[backend] = await run_backend(backend, args.reuse, args, fill=False)
    else:
        if args.backend in {"sqlite", "both"}:
            results["sqlite"] = await with_sqlite(args)
        if args.backend in {"postgres", "both"}:
            results["postgres"] = await with_postgres(args.pg, args)
    print(markdown(results))
    if not all(r.equal for outcome in results.values() for r in outcome["results"]):
        raise SystemExit(1)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--conversions", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--offers", type=int, default=40)
    parser.add_argument("--affiliates", type=int, default=120)
    parser.add_argument("--batch", type=int, default=20_000, help="clicks per insert_clicks")
    parser.add_argument("--concurrency", type=int, default=32, help="postbacks in flight")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per report")
    parser.add_argument(
        "--write-rate",
        type=int,
        default=2000,
        help="clicks/s written while reports are timed (a postback per 20 clicks); 0: none",
    )
    parser.add_argument("--zones", nargs="+", default=["UTC", "America/New_York", "Asia/Kathmandu"])
    parser.add_argument(
        "--report-zones",
        nargs="*",
        help="zones whose local days the rollups keep (default: --zones; none: no zone days)",
    )
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="time every report even when one differs from the raw rows (exit 1 at the end)",
    )
    parser.add_argument("--reuse", help="only time reports on this kept database URL")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "POSTBACK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--max-minutes", type=float, default=180, help="stop after this long")
    return parser.parse_args()


if __name__ == "__main__":
    options = arguments()
    try:
        asyncio.run(asyncio.wait_for(main(options), timeout=options.max_minutes * 60))
    except TimeoutError:
        console.print(f"[red]stopped after {options.max_minutes} minutes[/red]")
        sys.exit(1)
