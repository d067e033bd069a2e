"""Backup and restore of a SQLite database (`postback backup` / `postback restore`), with
SQLite's online backup API.

A backup reads the live database while the server writes: in WAL mode one read
transaction holds a snapshot for the whole copy (writers go on appending to the WAL),
so the copy is the database as of one moment, and it is made a step of pages at a time
with a short pause between steps. It goes to a temporary file beside the target, which
is renamed onto it when complete; the copy is a single file (journal mode DELETE).

A restore checks that the file is a database of this product, refuses to replace a
database that holds data unless forced, and copies the file into the configured
database with the same API: the target is replaced in one transaction of the
destination, so a restore that fails leaves it as it was. Switching the target out of
WAL mode first needs it to have no other connection, which is how a running server is
noticed. The caller migrates it afterwards, so an older backup comes up to date.

A compaction (`postback compact`) rewrites a database without its free pages and with
incremental auto-vacuum, which databases made before it lack: from then on, what a
purge removes is given back to the file system as it goes. It needs the database to
itself, noticed the same way as by a restore.

PostgreSQL has pg_dump and pg_restore for this (PG_ADVICE, docs/RELIABILITY.md), and
gives space back by itself (PG_COMPACT_ADVICE).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import func, select, table
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url

from postback.errors import PostbackError
from postback.exporting import CannotWrite, replacing_file
from postback.store.migrate import alembic_config

#: Pages copied per step (4 MiB at SQLite's default page size).
STEP_PAGES: Final = 1024
#: Pause between two steps of a backup of a live database.
STEP_PAUSE: Final = 0.005
#: How long to wait for another connection's lock.
LOCK_WAIT_SECONDS: Final = 10.0
#: How long a restore waits for other connections to the target to go.
IN_USE_WAIT_MS: Final = 1000
#: The tables whose rows a backup or a restore reports, and those that make a database
#: one that "holds data".
COUNTED: Final = ("offers", "affiliates", "clicks", "conversions", "deliveries", "incoming_log")
HOLDING: Final = ("advertisers", "offers", "affiliates", "clicks", "conversions")
SQLITE_HEADER: Final = b"SQLite format 3\x00"

PG_ADVICE: Final = (
    "backup and restore copy a SQLite database. On PostgreSQL use pg_dump, and pg_restore "
    "into a new, empty database (createdb; --clean cannot drop partitioned tables), with "
    "URLs in libpq's form (postgresql://user:password@host:port/db, without +asyncpg):\n"
    '  pg_dump --format=custom --file=postback.dump "$DATABASE_URL"\n'
    '  pg_restore --no-owner --single-transaction --dbname="$NEW_DATABASE_URL" postback.dump\n'
    "then run postback migrate against it. See docs/RELIABILITY.md."
)

PG_COMPACT_ADVICE: Final = (
    "compact rewrites a SQLite database. PostgreSQL needs none: old clicks, incoming log "
    "rows and attempts go as dropped partitions, which give their space back at once, and "
    "autovacuum reuses the space of rows deleted one by one. VACUUM FULL gives that space "
    "back to the disk too, but locks the table while it rewrites it. See docs/RELIABILITY.md."
)
#: PRAGMA auto_vacuum's value for incremental.
INCREMENTAL: Final = 2

# (pages left, pages in all), after each step.
Progress = Callable[[int, int], None]


class BackupFailed(PostbackError):
    """A backup or a restore that could not be made, or was refused; the message says why."""

    code = "backup_failed"


@dataclass(frozen=True, slots=True)
class Copied:
    """What a backup or a restore copied."""

    path: Path
    size: int  # bytes
    seconds: float
    revision: str | None  # the schema's migration revision in the copy
    rows: dict[str, int] = field(default_factory=dict)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupFailed(f"{database_url} is not a database file")
    return Path(url.database)


def backup(
    database: Path,
    target: Path,
    *,
    force: bool = False,
    pages: int = STEP_PAGES,
    pause: float = STEP_PAUSE,
    progress: Progress | None = None,
) -> Copied:
    """Copy the live database at `database` to `target` (which must not exist unless
    `force`), consistently, while other processes write."""
    if not database.is_file():
        raise BackupFailed(f"no database at {database}")
    if target.is_dir():
        raise BackupFailed(f"cannot write {target}: it is a directory")
    if target.exists() and not force:
        raise BackupFailed(f"{target} exists: add --force to replace it")
    if target.exists() and target.resolve() == database.resolve():
        raise BackupFailed(f"{target} is the database itself")
    started = time.monotonic()
    try:
        with (
            replacing_file(target, replace=force) as temporary,
            _connect(database, "rw") as source,
        ):
            (mode,) = source.execute("PRAGMA journal_mode").fetchone()
            if mode == "wal":
                # One snapshot for every step: without it, each step reads the database
                # anew and a write in between starts the copy over.
                source.execute("BEGIN")
                source.execute("SELECT count(*) FROM sqlite_schema").fetchone()
            with _connect(temporary, "rw") as copy:
                source.backup(copy, pages=pages, progress=_stepping(progress, pause))
                if source.in_transaction:
                    source.execute("ROLLBACK")  # lets go of the snapshot
                # A single file: the copy needs no -wal beside it.
                copy.execute("PRAGMA journal_mode=DELETE").fetchone()
                revision, counted = _describe(copy)
    except CannotWrite as exc:
        raise BackupFailed(exc.message) from None
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot back up {database}: {exc}") from None
    return Copied(target, target.stat().st_size, time.monotonic() - started, revision, counted)


def restore(
    source: Path,
    database: Path,
    *,
    force: bool = False,
    pages: int = STEP_PAGES,
    progress: Progress | None = None,
) -> Copied:
    """Copy the backup at `source` into the database at `database`, replacing what it
    holds (refused when it holds data, unless `force`). The caller migrates it next."""
    revision = check_backup(source)
    if database.exists():
        if database.resolve() == source.resolve():
            raise BackupFailed(f"{source} is the database itself")
        if not force:
            _refuse_if_holding(database)
    started = time.monotonic()
    try:
        with _connect(source, "ro") as backup_copy, _connect(database, "rwc") as target:
            _leave_wal(target, database)
            backup_copy.backup(target, pages=pages, progress=_stepping(progress, 0))
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot restore into {database}: {exc}") from None
    with _connect(database, "ro") as restored:
        _, counted = _describe(restored)
    return Copied(database, database.stat().st_size, time.monotonic() - started, revision, counted)


@dataclass(frozen=True, slots=True)
class Compacted:
    """What a compaction did: the file's size (with its WAL) before and after."""

    path: Path
    before: int  # bytes
    after: int
    seconds: float
    was_incremental: bool  # the database gave pages back already


def compact(database: Path) -> Compacted:
    """Rewrite the database at `database` without its free pages, with incremental
    auto-vacuum from now on. Refused while another connection has it open (the server,
    a worker): the rewrite holds it whole, for as long as it takes."""
    check_backup(database)
    before = _file_size(database)
    started = time.monotonic()
    try:
        with _connect(database, "rw") as conn:
            was_incremental = conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
            _leave_wal(conn, database)
            try:
                # The mode changes only with a VACUUM; both hold the database alone.
                conn.execute(f"PRAGMA auto_vacuum={INCREMENTAL}")
                conn.execute("VACUUM")
            finally:
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot compact {database}: {exc}") from None
    seconds = time.monotonic() - started
    return Compacted(database, before, _file_size(database), seconds, was_incremental)


def _file_size(database: Path) -> int:
    wal = database.with_name(database.name + "-wal")
    return database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def check_backup(path: Path) -> str:
    """The migration revision of a backup of this product's database; BackupFailed when
    the file is none, or comes from a newer version of the product."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise BackupFailed(f"cannot read {path}: {exc.strerror or exc}") from None
    if header != SQLITE_HEADER:
        raise BackupFailed(f"{path} is not a SQLite database")
    try:
        with _connect(path, "ro") as conn:
            tables = _tables(conn)
            if not {"meta", "alembic_version"} <= tables:
                raise BackupFailed(f"{path} is not a postback database (no meta table)")
            found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot read {path}: {exc}") from None
    if found is None:
        raise BackupFailed(f"{path} has no schema revision")
    revision = str(found[0])
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupFailed(
            f"{path} has schema revision {revision}, which this version does not know "
            "(a backup of a newer version?)"
        )
    return revision


def _refuse_if_holding(database: Path) -> None:
    try:
        with _connect(database, "ro") as conn:
            tables = _tables(conn)
            held = {
                name: count for name in HOLDING if name in tables and (count := _count(conn, name))
            }
    except sqlite3.Error as exc:
        raise BackupFailed(
            f"{database} exists and cannot be read ({exc}): add --force to replace it"
        ) from None
    if held:
        what = ", ".join(f"{count} {name}" for name, count in held.items())
        raise BackupFailed(
            f"the database {database} holds data ({what}): stop the server and workers, "
            "then add --force to replace it"
        )


def _leave_wal(conn: sqlite3.Connection, database: Path) -> None:
    """Switch the target to a rollback journal, which needs every other connection gone:
    a server still running is refused instead of having its database replaced under it."""
    in_use = BackupFailed(f"the database {database} is in use: stop the server and workers first")
    conn.execute(f"PRAGMA busy_timeout={IN_USE_WAIT_MS}")
    try:
        (mode,) = conn.execute("PRAGMA journal_mode=DELETE").fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        raise in_use from None
    if mode != "delete":
        raise in_use


def _stepping(progress: Progress | None, pause: float) -> Callable[[int, int, int], None]:
    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(remaining, total)
        if remaining and pause:
            time.sleep(pause)  # lets the writers' checkpoints and the disk breathe

    return step


@contextlib.contextmanager
def _connect(path: Path, mode: str) -> Iterator[sqlite3.Connection]:
    """A connection with our own transactions (no implicit BEGIN); `mode` as SQLite's
    URI takes it: `ro`, `rw` (the file must exist) or `rwc`."""
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode={mode}"
    conn = sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT_SECONDS, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    found = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {str(name) for (name,) in found}


def _count(conn: sqlite3.Connection, name: str) -> int:
    stmt = select(func.count()).select_from(table(name))
    return int(conn.execute(str(stmt.compile(dialect=sqlite.dialect()))).fetchone()[0])


def _describe(conn: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    """A copy's schema revision and its rows in the COUNTED tables."""
    tables = _tables(conn)
    revision = None
    if "alembic_version" in tables:
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = None if found is None else str(found[0])
    return revision, {name: _count(conn, name) for name in COUNTED if name in tables}


def size_text(size: int) -> str:
    """Bytes for people: 912 bytes, 4.2 MB, 1.3 GB."""
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def copy_summary(copied: Copied) -> str:
    """`PATH: 4.2 MB in 0.3 s, schema 0014; rows: offers 3, clicks 12000, ...`"""
    text = f"{copied.path}: {size_text(copied.size)} in {copied.seconds:.1f} s"
    if copied.revision:
        text += f", schema {copied.revision}"
    if copied.rows:
        text += "; rows: " + ", ".join(f"{name} {count}" for name, count in copied.rows.items())
    return text
