"""What PostgreSQL's time partitions cost the postback path's click lookup.

    .venv/bin/python bench/click_lookup.py [--days 60] [--per-day 5000] [--runs 2]

Each run makes a fresh database and stores --days days of clicks (--per-day a day, ids
made as the edge makes them: ending with their day), then looks clicks up through the
store as the postback path does (`Store.get_click`): 2,000 one at a time, and 20,000 in
rounds of 64 at once (the store batches concurrent lookups into one statement), ids drawn
uniformly over all the days (the worst case: real postbacks mostly follow recent clicks).
Three cases, alternated in each run:
  - plain: the clicks table as before partitions (the database taken back to migration
    0014), looked up by id;
  - partitioned: weekly partitions (migration 0015), each id looked up in its own day;
  - by id alone: the same partitions, looked up by id without the day (what every id
    costs that does not carry its day, and what every lookup would cost without it).
Lookups/s and their ratio to plain, measured in the same run. Everything on 127.0.0.1;
each database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from alembic import command  # noqa: E402

from postback.settings import Settings  # noqa: E402
from postback.store import partitions  # noqa: E402
from postback.store.factory import open_store  # noqa: E402
from postback.store.migrate import alembic_config  # noqa: E402
from postback.store.sql import Store  # noqa: E402
from tests.store import factories as make  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1/postgres"
DATABASE = "bench_click_lookup"
CASES = ("plain", "partitioned", "by id alone")


def psql(*statements: str) -> None:
    args = ["psql", "-q", "-X", ADMIN]
    for statement in statements:
        args += ["-c", statement]
    subprocess.run(args, check=True, capture_output=True)


async def fill(store: Store, case: str, days: int, per_day: int) -> list[str]:
    now = datetime.now(UTC)
    if case == "plain":
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0014"))
    else:
        async with store.engine.begin() as conn:
            first = (now - timedelta(days=days)).date()
            await conn.run_sync(partitions.ensure_days, "clicks", first, now.date())
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    rng = random.Random(5)
    ids: list[str] = []
    for day in range(days):
        made = [
            make.click(
                offer, affiliate.id, now - timedelta(days=day, seconds=rng.randrange(80_000))
            )
            for _ in range(per_day)
        ]
        for start in range(0, len(made), 5_000):
            await store.insert_clicks(made[start : start + 5_000])
        ids += [click.click_id for click in made]
    async with store.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE clicks")
        await conn.commit()
    return ids


async def measure(case: str, days: int, per_day: int) -> dict[str, Any]:
    psql(f"DROP DATABASE IF EXISTS {DATABASE}", f"CREATE DATABASE {DATABASE}")
    store = open_store(Settings(database_url=f"postgresql://postgres@127.0.0.1/{DATABASE}"))
    try:
        await store.migrate()
        ids = await fill(store, case, days, per_day)
        # The postback path's lookups, by id alone where the case says so.
        store.clicks_by_day = case == "partitioned"
        rng = random.Random(9)
        for click_id in rng.sample(ids, 200):  # warm: plans cached, pages read
            assert await store.get_click(click_id) is not None
        began = time.perf_counter()
        for click_id in rng.sample(ids, 2_000):
            assert await store.get_click(click_id) is not None
        single = 2_000 / (time.perf_counter() - began)
        began = time.perf_counter()
        found = 0
        for _ in range(20_000 // 64):
            batch = rng.sample(ids, 64)
            found += sum(c is not None for c in await asyncio.gather(*map(store.get_click, batch)))
        concurrent = found / (time.perf_counter() - began)
        return {"case": case, "rows": len(ids), "single": single, "concurrent": concurrent}
    finally:
        await store.close()
        psql(f"DROP DATABASE IF EXISTS {DATABASE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {case: [] for case in CASES}
    for run in range(args.runs):
        for case in CASES:
            result = asyncio.run(measure(case, args.days, args.per_day))
            results[case].append(result)
            print(
                f"run {run + 1} {case:12} {result['rows']:,} clicks:"
                f" {result['single']:8.0f} lookups/s one at a time,"
                f" {result['concurrent']:8.0f} lookups/s 64 at once"
            )
    plain = results["plain"]
    for case in CASES[1:]:
        for kind in ("single", "concurrent"):
            ratios = [
                mine[kind] / base[kind] for mine, base in zip(results[case], plain, strict=True)
            ]
            shown = ", ".join(f"{ratio:.2f}" for ratio in ratios)
            print(f"{case} / plain, {kind}: {shown}")


if __name__ == "__main__":
    main()
