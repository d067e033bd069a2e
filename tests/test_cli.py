"""`postback report`: the API's figures at a terminal, straight from the database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from postback.cli import cli
from postback.settings import Settings
from postback.store.factory import open_store
from tests.store import factories as make

WHEN = datetime(2024, 2, 20, 21, tzinfo=UTC)


async def _fill(url: str) -> int:
    store = open_store(Settings(database_url=url))
    await store.migrate()
    try:
        offer = await make.offer(store, revenue=Decimal("10.25"), payout=Decimal("4"))
        affiliate = await make.affiliate(store)
        for index in range(4):
            click = make.click(offer, affiliate.id, WHEN + timedelta(hours=index))
            await store.insert_clicks([click])
            if index % 2 == 0:
                command = make.command(click, offer, txid=f"T{index}", received_at=click.created_at)
                await store.record_postback(command)
        return offer.id
    finally:
        await store.close()


@pytest.fixture(scope="module")
def filled(database_url: str) -> tuple[str, int]:
    return database_url, asyncio.run(_fill(database_url))


def run(url: str, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(cli, ["report", *args], env={"POSTBACK_DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def test_table_with_totals(filled: tuple[str, int]) -> None:
    url, offer = filled
    code, out, err = run(
        url, "--from", "2024-02-20", "--to", "2024-02-21", "-g", "day", "--offer-id", str(offer)
    )
    assert code == 0, err
    assert "Report 2024-02-20 .. 2024-02-21 (UTC)" in out
    lines = [line for line in out.splitlines() if "2024-02-2" in line and "│" in line]
    assert len(lines) == 2  # 21:00 and 22:00 on the 20th, 23:00 and 00:00
    assert "20.5000" in out and "total" in out


def test_time_zone_moves_the_day(filled: tuple[str, int]) -> None:
    url, offer = filled
    code, out, err = run(
        url,
        "--from",
        "2024-02-21",
        "--to",
        "2024-02-21",
        "--tz",
        "Asia/Kathmandu",
        "--offer-id",
        str(offer),
        "--format",
        "json",
    )
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert (totals["clicks"], totals["approved"], totals["revenue"]) == (4, 2, 20.5)


def test_csv_and_sorting(filled: tuple[str, int]) -> None:
    url, offer = filled
    code, out, err = run(
        url,
        "--from=2024-02-20",
        "--to=2024-02-21",
        "--group-by=day",
        f"--offer-id={offer}",
        "--sort=-day",
        "--format=csv",
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["day"] for row in rows] == ["2024-02-21", "2024-02-20"]
    assert rows[1]["revenue"] == "20.5" and rows[1]["cr"] == "66.6667"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--from", "2024-13-01"], "--from"),
        (["--tz", "Nowhere/City"], "--tz"),
        (["-g", "week"], "--group-by"),
        (["--offer-id", "x"], "--offer-id"),
        (["--format", "xml"], "--format"),
    ],
)
def test_bad_options(filled: tuple[str, int], args: list[str], option: str) -> None:
    code, _, err = run(filled[0], *args)
    assert code == 2
    assert f"invalid {option}" in err


def test_unmigrated_database(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    code, _, err = run(url, "--from", "2024-01-01", "--to", "2024-01-02")
    assert code == 1 and "postback migrate" in err
