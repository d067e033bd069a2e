"""`postback demo`: the settings it runs with, and a full run as a real process."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, select

from postback.demo import DEMO_DATABASE_URL, DEMO_RETRY_SCHEDULE, demo_settings
from postback.demo_history import AGENTS, HISTORY_DAYS, History, plan_history, postback_rounds
from postback.domain.records import Click, Conversion, StatusChange
from postback.domain.report import Report, parse_query
from postback.domain.status import can_transition
from postback.settings import Settings
from postback.store import rows
from postback.store.factory import open_store
from postback.store.schema import clicks
from postback.visitors.agents import read_agent

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)  # a Wednesday afternoon


def test_default_database_becomes_a_fresh_demo_database() -> None:
    setup = demo_settings(Settings(database_url="sqlite:///./postback.db", admin_key=None))

    assert setup.fresh_database
    assert setup.settings.database_url == DEMO_DATABASE_URL
    assert setup.settings.allow_private_targets
    assert setup.settings.retry_schedule == DEMO_RETRY_SCHEDULE
    assert setup.settings.retry_delays == (1.0, 2.0, 5.0)
    assert setup.settings.admin_key is not None
    assert setup.settings.admin_key.get_secret_value() == setup.admin_key
    assert len(setup.admin_key) >= 16


def test_given_database_and_admin_key_are_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    key = "k" * 24
    setup = demo_settings(Settings(database_url=url, admin_key=SecretStr(key)))

    assert not setup.fresh_database
    assert setup.settings.database_url == url
    assert setup.admin_key == key
    assert setup.settings.allow_private_targets


@pytest.mark.e2e
def test_demo_runs_end_to_end_and_delivers(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("POSTBACK_")}
    env["COLUMNS"] = "200"  # keep the summary lines unwrapped
    command = [sys.executable, "-m", "postback", "demo", "--port", "0", "--clicks", "40"]
    command.append("--no-keep-running")

    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    found = re.search(r"deliveries: (\d+) delivered, (\d+) failed, (\d+) pending", done.stdout)
    assert found is not None, output
    delivered, failed, pending = (int(group) for group in found.groups())
    assert delivered > 0, output
    assert (failed, pending) == (0, 0), output
    assert "clicks: 40 sent, 40 redirected correctly" in done.stdout, output
    assert "demo checks passed" in done.stdout, output
    assert (tmp_path / "postback-demo.db").exists()


@pytest.fixture(scope="module")
def checked_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One `postback demo --check` run: its output and the demo database it leaves."""
    directory = tmp_path_factory.mktemp("demo")
    env = {name: value for name, value in os.environ.items() if not name.startswith("POSTBACK_")}
    env["COLUMNS"] = "200"
    command = [sys.executable, "-m", "postback", "demo", "--check", "--port", "0", "--clicks", "20"]

    done = subprocess.run(
        command, cwd=directory, env=env, capture_output=True, text=True, timeout=90, check=False
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return done.stdout, directory / "postback-demo.db"


@pytest.mark.e2e
def test_demo_check_runs_its_checks_and_exits(checked_demo: tuple[str, Path]) -> None:
    stdout, _ = checked_demo

    assert "clicks: 20 sent, 20 redirected correctly" in stdout, stdout
    assert re.search(r"deliveries: [1-9]\d* delivered, 0 failed, 0 pending", stdout), stdout
    assert re.search(r"history: \d+ clicks over the last 30 days", stdout), stdout
    assert "demo checks passed" in stdout, stdout
    assert "press Ctrl-C" not in stdout, stdout


# -- the month of history ------------------------------------------------------------------


@pytest.fixture(scope="module")
def history() -> History:
    return plan_history((1, 2), (1, 2), NOW)


def test_history_is_the_same_every_run(history: History) -> None:
    again = plan_history((1, 2), (1, 2), NOW)

    assert again.clicks == history.clicks
    assert again.postbacks == history.postbacks
    assert again.cost_rows == history.cost_rows


def test_history_covers_the_month_before_now_with_a_weekly_shape(history: History) -> None:
    days = Counter(click.created_at.date() for click in history.clicks)

    assert 2000 <= len(history.clicks) <= 5000
    assert min(days) == (NOW - timedelta(days=HISTORY_DAYS - 1)).date()
    assert max(click.created_at for click in history.clicks) < NOW
    assert len(days) == HISTORY_DAYS
    full = {day: n for day, n in days.items() if day < NOW.date()}
    weekend = [n for day, n in full.items() if day.weekday() >= 5]
    weekdays = [n for day, n in full.items() if day.weekday() < 5]
    assert sum(weekend) / len(weekend) < 0.85 * sum(weekdays) / len(weekdays)
    assert [click.created_at for click in history.clicks] == sorted(
        click.created_at for click in history.clicks
    )


def test_history_visitors_have_countries_and_consistent_devices(history: History) -> None:
    countries = Counter(click.country for click in history.clicks)
    devices = Counter(click.device for click in history.clicks)

    assert {"US", "BR", "DE", "GB", "IN", "FR", "MX", "ID", None} <= set(countries)
    assert countries.most_common(1)[0][0] == "US"
    assert set(devices) == {"mobile", "desktop", "tablet", "bot"}
    assert devices["mobile"] > len(history.clicks) / 2
    assert 0 < devices["bot"] < len(history.clicks) / 5
    for click in history.clicks:
        assert click.is_bot == (click.device == "bot")
        assert click.visitor is not None
        assert click.user_agent is not None
    for agent in AGENTS:  # what the product itself reads from the User-Agent
        read = read_agent(agent.user_agent)
        assert (read.device, read.os, read.browser) == (agent.device, agent.os, agent.browser)


def test_history_costs_part_of_the_traffic(history: History) -> None:
    paid = [click for click in history.clicks if click.cost is not None]

    assert 0.3 < len(paid) / len(history.clicks) < 0.7
    assert all(Decimal("0.05") <= click.cost <= Decimal("0.40") for click in paid if click.cost)
    assert {click.subs[0] for click in paid} == {"facebook", "google"}
    assert history.cost_rows
    assert {row.subs for row in history.cost_rows} == {("native", None, None, None, None)}
    assert all(row.amount > 0 and row.day <= NOW.date() for row in history.cost_rows)


def test_history_conversions_change_status_over_the_month(history: History) -> None:
    by_txid: dict[str, list[str]] = {}
    clicked = {click.click_id: click.created_at for click in history.clicks}
    for postback in history.postbacks:
        assert clicked[postback.click_id] < postback.at < NOW
        by_txid.setdefault(postback.txid, []).append(postback.status)

    assert len(by_txid) == sum(history.statuses.values()) > 50
    for statuses in by_txid.values():
        assert statuses[0] in {"pending", "approved"}
        for before, after in itertools.pairwise(statuses):
            assert can_transition(before, after), statuses
    assert Counter(statuses[-1] for statuses in by_txid.values()) == history.statuses
    assert {"pending", "approved", "rejected"} <= set(history.statuses)
    assert history.statuses["refunded"] + history.statuses["chargeback"] > 0
    assert history.status_changes > len(by_txid) / 2

    rounds = postback_rounds(history.postbacks)
    assert len(rounds[0]) == len(by_txid)
    for batch in rounds:  # one postback per conversion and round, numbered in time order
        assert len({postback.txid for _, postback in batch}) == len(batch)
        assert [history.postbacks[number - 1] for number, _ in batch] == [p for _, p in batch]
    assert sum(len(batch) for batch in rounds) == len(history.postbacks)


# -- the demo's database after a run -------------------------------------------------------


def _stored_clicks(database: Path) -> list[Click]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return [rows.click(row) for row in conn.execute(select(clicks))]
    finally:
        engine.dispose()


async def _read_store(
    database: Path, first: str, last: str
) -> tuple[dict[str, Report], list[Conversion], dict[int, list[StatusChange]]]:
    store = open_store(Settings(database_url=f"sqlite:///{database}"))
    try:
        reports = {
            dimension: await store.report(
                parse_query(first=first, last=last, group_by=[dimension], limit=1000)
            )
            for dimension in ("country", "device")
        }
        page = await store.list_conversions(limit=1000)
        histories = {item.id: await store.conversion_history(item.id) for item in page.items}
    finally:
        await store.close()
    return reports, page.items, histories


@pytest.mark.e2e
def test_demo_database_holds_a_month_of_history(checked_demo: tuple[str, Path]) -> None:
    _, database = checked_demo
    stored = _stored_clicks(database)
    today = datetime.now(UTC).date()
    first = (today - timedelta(days=HISTORY_DAYS - 1)).isoformat()

    reports, conversions, histories = asyncio.run(_read_store(database, first, today.isoformat()))

    assert len(stored) > 2000
    assert len({click.created_at.date() for click in stored}) >= HISTORY_DAYS - 1
    assert len({click.country for click in stored if click.country}) >= 8
    assert {"mobile", "desktop", "tablet", "bot"} <= {click.device for click in stored}
    assert all(click.is_bot for click in stored if click.device == "bot")
    assert any(not click.is_unique for click in stored)
    assert sum(click.is_unique for click in stored) > 0.8 * len(stored)
    cost = sum((click.cost for click in stored if click.cost is not None), Decimal(0))
    assert cost > 0
    assert any(click.cost and click.subs[0] == "native" for click in stored)  # imported
    for dimension, report in reports.items():
        made = Counter(getattr(click, dimension) for click in stored)
        shown = {row.keys[0]: row.figures.clicks for row in report.rows}
        assert shown == dict(made), dimension
        assert report.totals.clicks == len(stored)
        assert report.totals.cost == int(cost * 10_000)
        assert report.totals.roi_units(admin=True) != 0
        assert report.totals.bot_clicks == sum(click.is_bot for click in stored)
        assert report.totals.unique_clicks == sum(click.is_unique for click in stored)
    statuses = Counter(conversion.status for conversion in conversions)
    assert {"pending", "approved", "rejected"} <= set(statuses)
    changed = [changes for changes in histories.values() if len(changes) >= 2]
    assert len(changed) > 30
    assert all(len(changes) >= 1 for changes in histories.values())
    assert min(conversion.created_at for conversion in conversions).date() < today - timedelta(
        days=20
    )
