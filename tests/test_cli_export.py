"""`postback export`: rows of a period as files, and a conversions CSV that imports back
into another database to the same report figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from postback.cli import cli
from postback.domain.lifecycle import LIFECYCLE_EVENTS
from postback.domain.records import Click, Offer
from postback.domain.report import Report, parse_query
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(120)

WHEN = datetime(2024, 3, 10, 21, tzinfo=UTC)
FROM = "2024-03-10T00:00:00Z"
TO = "2024-03-13T00:00:00Z"


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"POSTBACK_DATABASE_URL": url})
    # The bytes as written: `stdout` would turn CSV's CRLF into LF.
    return result.exit_code, result.stdout_bytes.decode(), result.stderr


async def _create_database(admin: str, name: str, drop: bool = False) -> None:
    conn = await asyncpg.connect(admin)
    try:
        if drop:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture
def fresh_url(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """Makes empty databases of the module's backend, dropped after the test."""
    made: list[str] = []
    admin = "" if database_url.startswith("sqlite") else str(request.getfixturevalue("pg_server"))

    def fresh() -> str:
        name = "postback_test_" + secrets.token_hex(6)
        made.append(name)
        if not admin:
            return f"sqlite:///{tmp_path / name}.db"
        asyncio.run(_create_database(admin, name))
        return f"{admin.rpartition('/')[0]}/{name}"

    yield fresh
    for name in made if admin else []:
        asyncio.run(_create_database(admin, name, drop=True))


# ---- the same offers, affiliates and clicks in two databases -----------------------------


async def _world(store: Store) -> tuple[list[Offer], list[int]]:
    """Offers (one with a sale lifecycle) and affiliates, made in the same order in every
    fresh database, so they get the same ids there."""
    advertiser = await make.advertiser(store, name="adv")
    offers = [
        await make.offer(
            store, advertiser.id, name="plain", revenue=Decimal("10"), payout=Decimal("4")
        ),
        await make.offer(
            store,
            advertiser.id,
            name="euro",
            revenue=Decimal("20.5"),
            payout=Decimal("7.25"),
            currency="EUR",
        ),
        await make.offer(
            store,
            advertiser.id,
            name="shop",
            revenue=Decimal("50"),
            payout=Decimal("15"),
            lifecycle_events=list(LIFECYCLE_EVENTS),
        ),
    ]
    affiliates = [(await make.affiliate(store, name)).id for name in ("alice", "bob")]
    return offers, affiliates


def _clicks(offers: list[Offer], affiliates: list[int]) -> list[Click]:
    """Twelve clicks over three offers, two affiliates and two UTC days."""
    return [
        replace(
            make.click(offers[n % 3], affiliates[n % 2], WHEN + timedelta(minutes=37 * n)),
            subs=(f"s{n % 4}", None, None, None, None),
        )
        for n in range(12)
    ]


async def _conversions(store: Store, offers: list[Offer], clicks: list[Click]) -> None:
    """Conversions of every kind in the first database: statuses, changes of status,
    revenue and currency sent, events, attributes, an order's lifecycle, a txid to quote."""
    plain, euro, shop = offers

    async def send(
        n: int, status: str, later: int = 0, offer: Offer | None = None, **fields: object
    ) -> None:
        click = clicks[n]
        at = click.created_at + timedelta(seconds=30 + later)
        command = make.command(click, offer or plain, received_at=at, status=status)
        result = await store.record_postback(replace(command, **fields))  # type: ignore[arg-type]
        assert result.conversion is not None

    await send(0, "approved", txid="T0")
    await send(3, "pending", txid="T3")
    await send(3, "approved", later=3 * 3600, txid="T3")
    await send(6, "pending")
    await send(9, "rejected", txid='A,"quoted"')
    await send(1, "approved", offer=euro, event="lead", revenue=Decimal("12.3456"))
    await send(1, "approved", offer=euro, event="deposit", txid="D1", currency="USD")
    await send(
        4, "approved", offer=euro, txid="R4", attributes={"email": "a@example.com", "plan": "pro"}
    )
    await send(4, "refunded", later=86_400, offer=euro, txid="R4")
    # An order through the lifecycle: recorded under `sale`, its stage the last event.
    await send(2, "approved", offer=shop, event="approved", txid="O2")
    await send(2, "refunded", later=600, offer=shop, event="refunded", txid="O2")
    await send(5, "pending", offer=shop, event="awaiting_payment", txid="O5")
    await send(5, "approved", later=60, offer=shop, event="completed", txid="O5")


async def _fill(url: str, clicks: list[Click] | None, convert: bool) -> list[Click]:
    store = open_store(Settings(database_url=url))
    await store.migrate()
    try:
        offers, affiliates = await _world(store)
        made = clicks or _clicks(offers, affiliates)
        await store.insert_clicks(made)
        if convert:
            await _conversions(store, offers, made)
        return made
    finally:
        await store.close()


async def _report(url: str) -> Report:
    store = open_store(Settings(database_url=url))
    try:
        query = parse_query(
            first="2024-03-10",
            last="2024-03-12",
            group_by=["day", "offer_id", "affiliate_id", "event", "sub1"],
            limit=10_000,
        )
        return await store.report(query)
    finally:
        await store.close()


async def _payouts(url: str) -> dict[tuple[str, str, str | None], Decimal]:
    """Each conversion's payout, by its click, event and txid."""
    store = open_store(Settings(database_url=url))
    try:
        found = await make.all_pages(store.list_conversions)
        return {(c.click_id, c.event, c.txid): c.payout for c in found}
    finally:
        await store.close()


@pytest.fixture
def exported_world(fresh_url: Callable[[], str], tmp_path: Path) -> tuple[str, str, Path]:
    """A database with conversions, another with the same clicks and none, and the
    first one's conversions exported as CSV."""
    source, target = fresh_url(), fresh_url()
    clicks = asyncio.run(_fill(source, None, convert=True))
    asyncio.run(_fill(target, clicks, convert=False))
    path = tmp_path / "conversions.csv"
    code, out, err = run(
        source, "export", "conversions", "--from", FROM, "--to", TO, "-o", str(path)
    )
    assert code == 0, err
    assert out == ""
    assert err.strip() == f"9 rows written to {path}"
    return source, target, path


def test_exported_conversions_import_back_to_the_same_figures(
    exported_world: tuple[str, str, Path],
) -> None:
    source, target, path = exported_world
    code, _, err = run(target, "import", "conversions", str(path))
    assert code == 0, err
    assert "9 rows: 9 created, 0 updated, 0 duplicate" in err

    before, after = asyncio.run(_report(source)), asyncio.run(_report(target))
    assert after.totals == before.totals
    assert after.rows == before.rows
    totals = before.totals
    assert (totals.clicks, totals.conversions) == (12, 9)
    assert (totals.approved, totals.pending, totals.rejected) == (5, 1, 1)
    assert asyncio.run(_payouts(target)) == asyncio.run(_payouts(source))

    # And the file is the first database's conversions, as the import reads them.
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    by_txid = {row["txid"]: row for row in rows}
    assert by_txid['A,"quoted"']["status"] == "rejected"
    assert by_txid["T3"]["time"] == (WHEN + timedelta(minutes=37 * 3, seconds=30)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    assert by_txid["O2"]["event"] == "sale" and by_txid["O2"]["stage"] == "refunded"
    assert json.loads(by_txid["R4"]["attributes"]) == {"email": "a@example.com", "plan": "pro"}
    assert by_txid["D1"]["currency"] == "USD" and by_txid["D1"]["affiliate_payout"] == "7.2500"

    # Imported again: nothing changes.
    code, _, err = run(target, "import", "conversions", str(path))
    assert code == 0, err
    assert "0 created, 0 updated, 9 duplicate" in err
    assert asyncio.run(_report(target)).totals == before.totals


def test_the_import_takes_the_payout_from_the_offer_not_the_file(
    exported_world: tuple[str, str, Path],
) -> None:
    """The limit of the round trip: a payout the offer no longer pays comes back as the
    offer's payout now."""
    source, target, path = exported_world

    async def raise_payout() -> None:
        store = open_store(Settings(database_url=target))
        try:
            (plain, *_) = (await make.all_pages(store.list_offers))[::-1]
            assert plain.name == "plain"
            await store.update_offer(plain.id, {"payout": Decimal("5")})
        finally:
            await store.close()

    asyncio.run(raise_payout())
    code, _, err = run(target, "import", "conversions", str(path))
    assert code == 0, err
    imported = {txid: payout for (_, _, txid), payout in asyncio.run(_payouts(target)).items()}
    first = {txid: payout for (_, _, txid), payout in asyncio.run(_payouts(source)).items()}
    assert (imported["T0"], first["T0"]) == (Decimal("5"), Decimal("4"))
    assert asyncio.run(_report(target)).totals.payout != asyncio.run(_report(source)).totals.payout


# ---- the command's options and outputs ------------------------------------------------------


@pytest.fixture
def filled(fresh_url: Callable[[], str]) -> str:
    url = fresh_url()
    asyncio.run(_fill(url, None, convert=True))
    return url


def test_clicks_as_jsonl_on_standard_output(filled: str) -> None:
    code, out, err = run(filled, "export", "clicks", "--format", "jsonl", "--to", TO)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 12
    assert lines[0]["created_at"] == "2024-03-10T21:00:00.000000Z"
    assert lines[0]["is_bot"] is False and lines[0]["sub1"] == "s0"
    assert [line["created_at"] for line in lines] == sorted(line["created_at"] for line in lines)
    assert err.strip() == "12 rows written to standard output"


def test_gzipped_to_a_file(filled: str, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "incoming.csv"
    code, _, err = run(filled, "export", "incoming", "--gzip", "-o", str(path), "--to", TO)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    assert len(rows) == 13  # one log row per postback sent
    assert os.listdir(tmp_path / "out") == ["incoming.csv"]


def test_an_empty_range(filled: str, tmp_path: Path) -> None:
    empty = ("--from", "2020-01-01T00:00:00Z", "--to", "2020-01-02T00:00:00Z")
    code, out, err = run(filled, "export", "conversions", *empty)
    assert code == 0, err
    assert out == "id,click_id,txid,event,status,revenue,currency,time,updated_at," + (
        "affiliate_payout,offer_id,affiliate_id,advertiser_id,stage,attributes\r\n"
    )
    assert err.strip() == "0 rows written to standard output"
    path = tmp_path / "none.jsonl"
    code, _, err = run(filled, "export", "attempts", *empty, "--format", "jsonl", "-o", str(path))
    assert code == 0, err
    assert path.read_bytes() == b""


def test_a_directory_that_does_not_exist(filled: str) -> None:
    code, out, err = run(filled, "export", "clicks", "-o", "/nonexistent/dir/x.csv")
    assert code == 1
    assert out == ""
    assert err == "cannot write /nonexistent/dir/x.csv: No such file or directory\n"


def test_a_failure_leaves_an_earlier_file_alone(tmp_path: Path) -> None:
    """The database is not migrated: the command stops before a row is written."""
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "clicks.csv"
    path.write_text("kept\n", encoding="utf-8")
    code, _, err = run(f"sqlite:///{tmp_path}/empty.db", "export", "clicks", "-o", str(path))
    assert code == 1 and "postback migrate" in err
    assert path.read_text(encoding="utf-8") == "kept\n"
    assert os.listdir(tmp_path / "out") == ["clicks.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["visitors"], "invalid KIND: use clicks, conversions, incoming, attempts"),
        (["clicks", "--format", "xml"], "invalid --format: use csv or jsonl"),
        (["clicks", "--from", "yesterday"], "invalid --from"),
        (["clicks", "--to", "2024-13-01"], "invalid --to"),
        (["clicks", "--from", TO, "--to", FROM], "invalid --from: it must be before --to"),
        (["clicks", "--from", TO, "--to", TO], "invalid --from: it must be before --to"),
        (["clicks", "--from", "2999-01-01"], "it must be before now (the default --to)"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    """Refused before the database is opened: it is not even made."""
    code, out, err = run(f"sqlite:///{tmp_path}/postback.db", "export", *args)
    assert code == 2
    assert message in err
    assert out == ""
    assert list(tmp_path.iterdir()) == []
