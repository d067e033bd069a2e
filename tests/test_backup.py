"""`postback backup` and `postback restore` on SQLite: a consistent copy of a database
being written, restored and migrated with every click acknowledged before the backup
began; what each refuses; and the advice on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine
from typer.testing import CliRunner

from postback.backup import backup
from postback.cli import cli
from postback.domain.report import parse_query
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.migrate import alembic_config, head_revision
from tests.store import factories as make

pytestmark = pytest.mark.timeout(120)


def run(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"POSTBACK_DATABASE_URL": url})
    return result.exit_code, result.stderr


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


async def _fill(path: Path, clicks: int, name: str = "offer") -> None:
    store = open_store(Settings(database_url=url_of(path)))
    await store.migrate()
    try:
        offer = await make.offer(store, name=name)
        affiliate = await make.affiliate(store)
        moment = datetime.now(UTC) - timedelta(hours=1)
        for start in range(0, clicks, 500):
            batch = [
                make.click(offer, affiliate.id, moment) for _ in range(min(500, clicks - start))
            ]
            await store.insert_clicks(batch)
    finally:
        await store.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "live" / "postback.db"
    path.parent.mkdir()
    asyncio.run(_fill(path, 50))
    return path


# ---- a live database ------------------------------------------------------------------------


class ClickWriter:
    """Writes batches of clicks through the product's store in a thread of its own, and
    keeps the id of every click whose batch was acknowledged (committed)."""

    def __init__(self, path: Path) -> None:
        self.url = url_of(path)
        self.acknowledged: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.running = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            asyncio.run(self._write())
        except BaseException as exc:  # the test reports it
            self.failure = exc
            self.running.set()

    async def _write(self) -> None:
        store = open_store(Settings(database_url=self.url))
        try:
            offer = await make.offer(store)
            affiliate = await make.affiliate(store)
            while not self.stop.is_set():
                batch = [make.click(offer, affiliate.id) for _ in range(20)]
                await store.insert_clicks(batch)
                with self.lock:
                    self.acknowledged.extend(click.click_id for click in batch)
                if len(self.acknowledged) >= 200:
                    self.running.set()
        finally:
            await store.close()

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def so_far(self) -> set[str]:
        with self.lock:
            return set(self.acknowledged)


@pytest.fixture
def writer(database: Path) -> Iterator[ClickWriter]:
    running = ClickWriter(database)
    running.thread.start()
    assert running.running.wait(60) and running.failure is None
    yield running
    running.stop.set()
    running.thread.join(30)
    assert running.failure is None


def test_a_backup_of_a_database_being_written_restores_every_acknowledged_click(
    database: Path, writer: ClickWriter, tmp_path: Path
) -> None:
    asyncio.run(_fill(database, 20_000, "bulk"))  # several steps of pages to copy
    acknowledged = writer.so_far()
    written_during: list[int] = []

    copy = tmp_path / "backup.db"
    copied = backup(
        database,
        copy,
        pages=64,
        pause=0.002,
        progress=lambda _left, _total: written_during.append(writer.count()),
    )

    assert len(written_during) > 3  # in steps,
    assert written_during[-1] > written_during[0]  # while the writer went on
    assert copied.rows["clicks"] >= len(acknowledged) + 20_050
    assert rows(copy, "PRAGMA journal_mode") == [("delete",)]  # one file, no -wal to carry
    assert sorted(path.name for path in tmp_path.iterdir()) == ["backup.db", "live"]

    restored = tmp_path / "restored.db"
    code, err = run(url_of(restored), "restore", str(copy))
    assert code == 0, err
    assert f"restored {copy} into {restored}" in err
    code, err = run(url_of(restored), "migrate")
    assert code == 0 and "database is up to date" in err

    kept = {click_id for (click_id,) in rows(restored, "SELECT click_id FROM clicks")}
    assert acknowledged <= kept
    assert rows(restored, "PRAGMA integrity_check") == [("ok",)]
    # One moment's copy: the rollups count exactly the clicks the copy holds (each
    # batch writes both in one transaction).
    assert asyncio.run(_clicks_reported(restored)) == len(kept)


async def _clicks_reported(path: Path) -> int:
    store = open_store(Settings(database_url=url_of(path)))
    try:
        today = datetime.now(UTC).date()
        query = parse_query(first=str(today - timedelta(days=1)), last=str(today))
        return (await store.report(query)).totals.clicks
    finally:
        await store.close()


# ---- backup ---------------------------------------------------------------------------------


def test_backup_reports_what_it_copied_and_refuses_to_overwrite(
    database: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "backup.db"
    code, err = run(url_of(database), "backup", str(copy))
    assert code == 0, err
    assert f"backed up {database} to {copy}: " in err
    assert "clicks 50" in err and f"schema {head_revision()}" in err
    made = copy.read_bytes()

    code, err = run(url_of(database), "backup", str(copy))
    assert code == 1
    assert err == f"{copy} exists: add --force to replace it\n"
    assert copy.read_bytes() == made

    asyncio.run(_fill(database, 5))
    code, err = run(url_of(database), "backup", str(copy), "--force")
    assert code == 0, err
    assert rows(copy, "SELECT count(*) FROM clicks") == [(55,)]


@pytest.mark.parametrize(
    ("where", "reason"),
    [("missing/backup.db", "No such file or directory"), ("", "it is a directory")],
)
def test_backup_to_a_path_that_cannot_be_written(
    database: Path, tmp_path: Path, where: str, reason: str
) -> None:
    target = tmp_path / where if where else tmp_path
    code, err = run(url_of(database), "backup", str(target))
    assert code == 1
    assert err == f"cannot write {target}: {reason}\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["live"]


def test_backup_of_a_database_that_is_not_there(tmp_path: Path) -> None:
    code, err = run(url_of(tmp_path / "none.db"), "backup", str(tmp_path / "copy.db"))
    assert code == 1 and "no database at" in err
    assert list(tmp_path.iterdir()) == []


# ---- restore --------------------------------------------------------------------------------


@pytest.fixture
def saved(database: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "backup.db"
    backup(database, copy)
    return copy


def test_restore_refuses_to_replace_a_database_that_holds_data(saved: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    asyncio.run(_fill(other, 3, "theirs"))

    code, err = run(url_of(other), "restore", str(saved))
    assert code == 1
    assert "holds data (1 advertisers, 1 offers, 1 affiliates, 3 clicks)" in err
    assert "--force" in err
    assert rows(other, "SELECT name FROM offers") == [("theirs",)]

    code, err = run(url_of(other), "restore", str(saved), "--force")
    assert code == 0, err
    assert rows(other, "SELECT name FROM offers") == [("offer",)]
    assert rows(other, "SELECT count(*) FROM clicks") == [(50,)]


def test_restore_refuses_a_database_in_use(saved: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    asyncio.run(_fill(other, 3, "theirs"))
    holder = sqlite3.connect(other)  # as a running server holds its connections
    try:
        holder.execute("SELECT count(*) FROM clicks").fetchone()
        code, err = run(url_of(other), "restore", str(saved), "--force")
    finally:
        holder.close()
    assert code == 1
    assert err == f"the database {other} is in use: stop the server and workers first\n"
    assert rows(other, "SELECT name FROM offers") == [("theirs",)]


def test_restore_refuses_what_is_not_a_backup_of_ours(tmp_path: Path) -> None:
    target = tmp_path / "postback.db"
    text = tmp_path / "notes.txt"
    text.write_text("not a database", encoding="utf-8")
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    conn.close()

    code, err = run(url_of(target), "restore", str(text))
    assert code == 1 and err == f"{text} is not a SQLite database\n"
    code, err = run(url_of(target), "restore", str(foreign))
    assert code == 1 and err == f"{foreign} is not a postback database (no meta table)\n"
    code, err = run(url_of(target), "restore", str(tmp_path / "none.db"))
    assert code == 1 and "cannot read" in err
    assert not target.exists()


def test_restore_refuses_a_backup_of_a_newer_version(saved: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(saved)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.close()
    target = tmp_path / "postback.db"
    code, err = run(url_of(target), "restore", str(saved))
    assert code == 1
    assert "schema revision 9999_future, which this version does not know" in err
    assert not target.exists()


def test_an_older_backup_comes_up_to_date(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    engine = create_engine(url_of(old))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0010")
    engine.dispose()
    copy = tmp_path / "old-backup.db"
    code, err = run(url_of(old), "backup", str(copy))
    assert code == 0 and "schema 0010" in err

    target = tmp_path / "postback.db"
    code, err = run(url_of(target), "restore", str(copy))
    assert code == 0, err
    assert "database is up to date" in err
    assert rows(target, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


# ---- compact ---------------------------------------------------------------------------------


def test_compact_gives_an_older_database_its_free_pages_back_and_incremental_vacuum(
    tmp_path: Path,
) -> None:
    path = tmp_path / "postback.db"
    asyncio.run(_fill(path, 3000))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA auto_vacuum=NONE")  # as databases made before it were
    conn.execute("VACUUM")
    conn.execute("DELETE FROM clicks WHERE rowid % 10 != 0")  # what a purge would leave
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert rows(path, "PRAGMA auto_vacuum") == [(0,)]
    (free,) = rows(path, "PRAGMA freelist_count")[0]
    assert isinstance(free, int) and free > 50
    before = path.stat().st_size

    code, err = run(url_of(path), "compact")

    assert code == 0, err
    assert f"compacted {path}: " in err and "purges give space back from now on" in err
    assert path.stat().st_size < before * 0.6
    assert rows(path, "PRAGMA auto_vacuum") == [(2,)]
    assert rows(path, "PRAGMA freelist_count") == [(0,)]
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(path, "SELECT count(*) FROM clicks") == [(300,)]
    code, err = run(url_of(path), "migrate")
    assert code == 0 and "database is up to date" in err
    # A database that has it already is only rewritten.
    code, err = run(url_of(path), "compact")
    assert code == 0 and "purges give space back" not in err


def test_compact_refuses_a_database_in_use_and_changes_nothing(database: Path) -> None:
    holder = sqlite3.connect(database)  # as a running server holds its connections
    try:
        holder.execute("SELECT count(*) FROM clicks").fetchone()
        code, err = run(url_of(database), "compact")
    finally:
        holder.close()
    assert code == 1
    assert err == f"the database {database} is in use: stop the server and workers first\n"
    assert rows(database, "PRAGMA journal_mode") == [("wal",)]
    assert rows(database, "SELECT count(*) FROM clicks") == [(50,)]


def test_compact_refuses_what_is_not_a_database_of_ours(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    conn.close()
    code, err = run(url_of(foreign), "compact")
    assert code == 1 and err == f"{foreign} is not a postback database (no meta table)\n"
    code, err = run(url_of(tmp_path / "none.db"), "compact")
    assert code == 1 and "cannot read" in err
    assert not (tmp_path / "none.db").exists()


# ---- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["backup", "restore"])
def test_on_postgresql_the_advice_is_pg_dump(name: str, tmp_path: Path) -> None:
    code, err = run("postgresql://postback@db.example/postback", name, str(tmp_path / "x"))
    assert code == 2
    assert 'pg_dump --format=custom --file=postback.dump "$DATABASE_URL"' in err
    assert 'pg_restore --no-owner --single-transaction --dbname="$NEW_DATABASE_URL"' in err
    assert "docs/RELIABILITY.md" in err
    assert list(tmp_path.iterdir()) == []


def test_on_postgresql_compact_says_there_is_nothing_to_do() -> None:
    code, err = run("postgresql://postback@db.example/postback", "compact")
    assert code == 2
    assert "PostgreSQL needs none" in err and "VACUUM FULL" in err
