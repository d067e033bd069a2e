"""`postback purge`: what retention removes, said in a table; --dry-run changes nothing;
a purge under way elsewhere is left alone; bad options are refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from postback.cli import cli
from postback.settings import Settings
from postback.store.factory import open_store
from tests.store import factories as make


async def _fill(url: str) -> list[str]:
    """Clicks 100 days old and one of today; their ids."""
    store = open_store(Settings(database_url=url))
    await store.migrate()
    try:
        offer = await make.offer(store)
        affiliate = await make.affiliate(store)
        now = datetime.now(UTC)
        clicks = [make.click(offer, affiliate.id, now - timedelta(days=100)) for _ in range(7)]
        clicks.append(make.click(offer, affiliate.id, now))
        await store.insert_clicks(clicks)
        return [click.click_id for click in clicks]
    finally:
        await store.close()


async def _found(url: str, click_ids: list[str]) -> list[bool]:
    store = open_store(Settings(database_url=url))
    try:
        return [await store.get_click(click_id) is not None for click_id in click_ids]
    finally:
        await store.close()


def run(url: str, *args: str) -> tuple[int, str]:
    env = {"POSTBACK_DATABASE_URL": url, "POSTBACK_RETAIN_CLICKS_DAYS": "90", "COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["purge", *args], env=env)
    return result.exit_code, result.stdout + result.stderr


def test_dry_run_then_purge(database_url: str) -> None:
    click_ids = asyncio.run(_fill(database_url))
    code, said = run(database_url, "--dry-run")
    assert code == 0, said
    assert "would go" in said and "│ clicks" in said
    # PostgreSQL says its clicks go by whole weeks (from a week's start, not the cutoff).
    assert ("whole weeks" in said) == database_url.startswith("postgresql")
    assert asyncio.run(_found(database_url, click_ids)) == [True] * 8
    code, said = run(database_url, "--batch", "3")
    assert code == 0, said
    assert "removed" in said
    assert asyncio.run(_found(database_url, click_ids)) == [False] * 7 + [True]


@pytest.mark.parametrize("args", [["--batch", "0"], ["--batch", "x"], ["--now"]])
def test_bad_options(database_url: str, args: list[str]) -> None:
    code, _ = run(database_url, *args)
    assert code == 2


def test_a_purge_under_way_elsewhere_is_left_to_it(tmp_path: object) -> None:
    from postback.store.turns import only_one

    path = f"{tmp_path}/held.db"
    url = f"sqlite:///{path}"
    with only_one(path, "purge") as ours:
        assert ours
        code, said = run(url)
    assert code == 0 and "another process is purging" in said
