"""The `postback` command line: serve, worker, migrate, report, import, replay, demo."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from postback.settings import Settings

if TYPE_CHECKING:
    from postback.store.sql_purge import PurgeReport

cli = typer.Typer(help="Server-to-server conversion tracking and postbacks.", no_args_is_help=True)
console = Console(stderr=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "POSTBACK_" + "_".join(str(part) for part in error["loc"]).upper()
            console.print(f"[red]invalid setting {name}:[/red] {error['msg']}")
        raise typer.Exit(2) from None


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def announce_admin_key(key: str) -> None:
    console.print(
        f"[bold yellow]Admin API key (shown once, stored hashed):[/bold yellow] [bold]{key}[/bold]"
    )


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run delivery workers in this process.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port (on SQLite only the first sends deliveries).",
        ),
    ] = 1,
) -> None:
    """Serve tracking links, incoming postbacks and the API (with workers unless --no-worker)."""
    import socket

    from postback.app import create_app
    from postback.serving import Supervisor, bind, run_server

    settings = load_settings()
    setup_logging()
    try:
        sock = bind(host, port)
    except OSError as exc:
        console.print(f"[red]cannot listen on {host}:{port}:[/red] {exc.strerror or exc}")
        raise typer.Exit(1) from None
    if workers == 1:
        app = create_app(settings, run_worker=not no_worker, announce_key=announce_admin_key)
        run_server(app, sock)
        return

    # Once, before the processes start (each would migrate on its own start, at once).
    migrate_database(settings)

    def child(index: int, listening: socket.socket) -> None:
        # SQLite takes one writer at a time: one sender is enough and keeps the others'
        # commits short. On PostgreSQL every process sends (row locks share the work).
        sends = not no_worker and (index == 0 or not settings.is_sqlite)
        app = create_app(settings, run_worker=sends, announce_key=announce_admin_key)
        run_server(app, listening)

    raise typer.Exit(Supervisor(sock, workers, child).run())


@cli.command()
def worker() -> None:
    """Run delivery workers and alert checks only (several can share one PostgreSQL)."""
    import uvloop

    from postback.alerting import AlertChecker
    from postback.dispatch.worker import Dispatcher
    from postback.metrics import Metrics
    from postback.store.factory import open_store

    settings = load_settings()
    setup_logging()

    async def run() -> None:
        store = open_store(settings)
        await store.migrate()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await asyncio.gather(
                Dispatcher(store, settings, Metrics()).run(stop),
                AlertChecker(store, settings).run(stop),
                store.keep_rollups_folded(stop),
                store.keep_purged(settings.retention, stop),
            )
        finally:
            await store.close()

    # uvloop, as `serve` gets through uvicorn: the worker's time goes to the event loop
    # and its sockets.
    uvloop.run(run())


def migrate_database(settings: Settings) -> None:
    from postback.store.factory import open_store

    async def run() -> None:
        store = open_store(settings)
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(run())


@cli.command()
def migrate() -> None:
    """Apply schema migrations (serve does it on start)."""
    migrate_database(load_settings())
    console.print("[green]database is up to date[/green]")


Many = Annotated[list[str] | None, typer.Option(help="Only these (repeat or comma-separate).")]
SubValues = Annotated[
    list[str] | None, typer.Option(help="Only these values (repeat; '' for clicks without).")
]


@cli.command()
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would go; change nothing.")
    ] = False,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1, max=100_000, help="Rows removed per transaction (SQLite 500, else 2000)."
        ),
    ] = None,
) -> None:
    """Remove what is older than its retention (POSTBACK_RETAIN_*_DAYS): raw clicks, the
    incoming log, delivery attempts and delivered bodies. Conversions (with what they
    need of their clicks), their histories and the reports stay. The workers purge every
    hour on their own."""
    from postback.errors import StoreError
    from postback.store.factory import open_store

    settings = load_settings()

    async def run() -> PurgeReport | None:
        store = open_store(settings)
        try:
            await store.migrate()
            return await store.purge(
                settings.retention, datetime.now(UTC), dry_run=dry_run, limit=batch
            )
        finally:
            await store.close()

    try:
        outcome = asyncio.run(run())
    except StoreError as exc:
        console.print(f"[red]database error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    if outcome is None:
        console.print("[yellow]another process is purging now: nothing done[/yellow]")
        return
    print_purge(outcome)


def print_purge(outcome: PurgeReport) -> None:
    from rich.table import Table

    def before(moment: datetime | None) -> str:
        return "kept for ever" if moment is None else moment.isoformat(timespec="seconds")

    done = outcome.purged
    cutoffs, reach = outcome.cutoffs, outcome.reach
    table = Table("what", "older than", "would go" if outcome.dry_run else "removed")
    if reach != cutoffs:
        table.caption = (
            "Clicks, the incoming log and attempts go by whole weeks: "
            "those of the week holding the retention cutoff stay until it has passed."
        )
    table.add_row("clicks", before(reach.clicks), str(done.clicks))
    table.add_row("  of which kept for their conversions", "", str(done.kept_clicks))
    table.add_row("unique-click memories", before(outcome.visitors_before), str(done.visitors))
    table.add_row("incoming log", before(reach.incoming), str(done.incoming))
    table.add_row("delivery attempts", before(reach.attempts), str(done.attempts))
    table.add_row("Test button sends", before(cutoffs.attempts), str(done.tests))
    table.add_row("delivered bodies", before(cutoffs.attempts), str(done.bodies))
    Console().print(table)


@cli.command()
def report(
    first: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: --to).")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last day, inclusive (default: today).")
    ] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone where days and hours start.")] = "UTC",
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by",
            "-g",
            help="day, hour, offer_id, affiliate_id, event, sub1..sub5, country, device, os, "
            "browser (repeat or comma-separate).",
        ),
    ] = None,
    offer_id: Many = None,
    affiliate_id: Many = None,
    event: Many = None,
    sub1: SubValues = None,
    sub2: SubValues = None,
    sub3: SubValues = None,
    sub4: SubValues = None,
    sub5: SubValues = None,
    country: SubValues = None,
    device: SubValues = None,
    os: SubValues = None,
    browser: SubValues = None,
    sort: Annotated[
        list[str] | None,
        typer.Option(help="A figure or group-by key, - first for descending: --sort=-revenue."),
    ] = None,
    limit: Annotated[str | None, typer.Option(help="Rows to show (1..100000).")] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, csv or json (the API's answer).")
    ] = "table",
) -> None:
    """Print a report from the database: the figures of GET /api/v1/reports, same options."""
    from postback.domain.payload import dumps
    from postback.domain.report import parse_query, report_csv, report_fields
    from postback.errors import InvalidInput, StoreError
    from postback.report_table import print_report
    from postback.store.factory import open_store

    settings = load_settings()
    if output not in {"table", "csv", "json"}:
        console.print("[red]invalid --format:[/red] use table, csv or json")
        raise typer.Exit(2)
    filters = {
        "offer_id": offer_id,
        "affiliate_id": affiliate_id,
        "event": event,
        "sub1": sub1,
        "sub2": sub2,
        "sub3": sub3,
        "sub4": sub4,
        "sub5": sub5,
        "country": country,
        "device": device,
        "os": os,
        "browser": browser,
    }

    async def run() -> Any:
        query = parse_query(
            first=first,
            last=last,
            tz=tz,
            group_by=group_by or [],
            filters={name: values for name, values in filters.items() if values},
            sort=sort or [],
            limit=limit,
        )
        store = open_store(settings)
        try:
            if not await store.is_ready():
                console.print("[red]the database is not migrated:[/red] run postback migrate")
                raise typer.Exit(1)
            return await store.report(query)
        finally:
            await store.close()

    try:
        found = asyncio.run(run())
    except InvalidInput as exc:
        option = "--" + exc.param.replace("_", "-")
        console.print(f"[red]invalid {option}:[/red] {exc.message}")
        raise typer.Exit(2) from None
    except StoreError as exc:
        console.print(f"[red]database error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    if output == "csv":
        sys.stdout.write(report_csv(found))
    elif output == "json":
        sys.stdout.write(dumps(report_fields(found)).decode() + "\n")
    else:
        print_report(found)


import_app = typer.Typer(help="Bring in data reported offline.", no_args_is_help=True)
cli.add_typer(import_app, name="import")


@import_app.command("conversions")
def import_conversions(
    file: Annotated[Path, typer.Argument(help="CSV with a header row (see the docs).")],
) -> None:
    """Import conversions from CSV through the same path as incoming postbacks.

    Columns: click_id (required), txid, event, status, revenue, currency, time (ISO 8601)
    and attr.<name>. Importing the same file again changes nothing.
    """
    from rich.progress import Progress

    from postback.errors import InvalidInput, StoreError
    from postback.importing import count_rows, import_file
    from postback.store.factory import open_store

    settings = load_settings()

    async def run() -> Any:
        store = open_store(settings)
        try:
            await store.migrate()
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"importing {file.name}", total=count_rows(file))
                return await import_file(store, file, lambda: progress.advance(task))
        finally:
            await store.close()

    try:
        summary = asyncio.run(run())
    except InvalidInput as exc:
        console.print(f"[red]cannot import {file}:[/red] {exc.message}")
        raise typer.Exit(2) from None
    except StoreError as exc:
        console.print(f"[red]database error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    for line, message in summary.errors:
        console.print(f"[red]line {line}:[/red] {message}")
    for line, message in summary.refused:
        console.print(f"[yellow]line {line}: not applied:[/yellow] {message}")
    console.print(
        f"{summary.rows} rows: {summary.created} created, {summary.updated} updated, "
        f"{summary.duplicate} duplicate, {summary.ignored} ignored, "
        f"{len(summary.refused)} not applied, "
        f"{len(summary.errors)} refused"
    )
    if summary.errors:
        raise typer.Exit(1)


@import_app.command("costs")
def import_costs(
    file: Annotated[Path, typer.Argument(help="CSV with a header row (see the docs).")],
    tz: Annotated[str, typer.Option(help="IANA time zone where the days start.")] = "UTC",
) -> None:
    """Spread traffic costs over the matching clicks of each day.

    Columns: day (YYYY-MM-DD), offer_id, affiliate_id, amount, and optionally sub1..sub5.
    Each row sets the costs of the clicks it matches: importing again replaces, never adds.
    """
    from postback.errors import InvalidInput, StoreError
    from postback.importing import import_costs as import_cost_file
    from postback.store.factory import open_store

    settings = load_settings()

    async def run() -> Any:
        store = open_store(settings)
        try:
            await store.migrate()
            return await import_cost_file(store, file, tz)
        finally:
            await store.close()

    try:
        summary = asyncio.run(run())
    except InvalidInput as exc:
        # "line 3.amount" -> "line 3, amount:"
        where = "" if exc.param in {"file", "tz"} else f" {exc.param.replace('.', ', ', 1)}:"
        console.print(f"[red]cannot import {file}:[/red]{where} {exc.message}")
        raise typer.Exit(2) from None
    except StoreError as exc:
        console.print(f"[red]database error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    for index, row in enumerate(summary.rows):
        if not row.clicks:
            console.print(f"[yellow]line {index + 2}: no matching click, nothing set[/yellow]")
    spread = sum(row.clicks for row in summary.rows)
    console.print(
        f"{len(summary.rows)} rows: {summary.applied} spread over {spread} clicks, "
        f"{summary.unmatched} matched no click"
    )


def parse_moment(text: str, option: str) -> datetime:
    """ISO 8601; without an offset, UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        console.print(f"[red]invalid {option}:[/red] use ISO 8601, e.g. 2026-05-01T00:00:00Z")
        raise typer.Exit(2) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@cli.command()
def replay(
    config: Annotated[int, typer.Option("--config", min=1, help="The postback config's id.")],
    since: Annotated[str, typer.Option(help="Conversions created from (ISO 8601).")],
    until: Annotated[str | None, typer.Option(help="... until, exclusive.")] = None,
) -> None:
    """Send a config's postbacks again for conversions of a period.

    Deliveries it never had are created; the workers send them at once.
    """
    from postback.errors import NotFound, StoreError
    from postback.store.factory import open_store

    settings = load_settings()
    first = parse_moment(since, "--since")
    last = parse_moment(until, "--until") if until is not None else None

    async def run() -> tuple[int, int]:
        store = open_store(settings)
        try:
            await store.migrate()
            return await store.replay(config, first, last, datetime.now(UTC))
        finally:
            await store.close()

    try:
        requeued, created = asyncio.run(run())
    except NotFound as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    except StoreError as exc:
        console.print(f"[red]database error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(f"{requeued} deliveries due again, {created} created")


@cli.command()
def export(
    kind: Annotated[
        str,
        typer.Argument(
            help="clicks, conversions, incoming (the incoming postbacks' log) or attempts "
            "(delivery attempts).",
            show_default=False,
        ),
    ],
    first: Annotated[
        str | None,
        typer.Option("--from", help="From (ISO 8601, inclusive; default: the first row)."),
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Until (ISO 8601, exclusive; default: now).")
    ] = None,
    form: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    compress: Annotated[
        bool, typer.Option("--gzip", help="Compress with gzip (whatever the file is named).")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
) -> None:
    """Write the rows of a period as CSV or JSON Lines, a page at a time.

    Rows are taken by their time: clicks and conversions by creation, incoming postbacks
    by receipt, attempts by start. A conversions CSV imports back with `postback import
    conversions`. A file is written whole or not at all.
    """
    from rich.markup import escape
    from rich.progress import Progress

    from postback.errors import StoreError
    from postback.exporting import FORMATS, CannotWrite, open_target, row_writer
    from postback.store.factory import open_store
    from postback.store.sql_exports import EXPORT_KINDS, export_kind

    settings = load_settings()
    if kind not in EXPORT_KINDS:
        console.print(f"[red]invalid KIND:[/red] use {', '.join(EXPORT_KINDS)}")
        raise typer.Exit(2)
    if form not in FORMATS:
        console.print(f"[red]invalid --format:[/red] use {' or '.join(FORMATS)}")
        raise typer.Exit(2)
    start = parse_moment(first, "--from") if first is not None else None
    end = parse_moment(last, "--to") if last is not None else datetime.now(UTC)
    if start is not None and start >= end:
        until = "--to" if last is not None else "now (the default --to)"
        console.print(f"[red]invalid --from:[/red] it must be before {until}")
        raise typer.Exit(2)
    names = export_kind(kind).names

    async def run() -> int:
        store = open_store(settings)
        try:
            with open_target(output, compress=compress) as out:
                if not await store.is_ready():
                    console.print("[red]the database is not migrated:[/red] run postback migrate")
                    raise typer.Exit(1)
                writer = row_writer(form, out, names)
                written = 0
                with Progress(
                    console=console, transient=True, disable=not console.is_terminal
                ) as progress:
                    total = await store.count_export(kind, start, end)
                    task = progress.add_task(f"exporting {kind}", total=total)
                    async for page in store.export_pages(kind, start, end):
                        writer.write_rows(page)
                        written += len(page)
                        progress.advance(task, len(page))
                return written
        finally:
            await store.close()

    try:
        written = asyncio.run(run())
    except CannotWrite as exc:
        console.print(f"[red]{escape(exc.message)}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    except StoreError as exc:
        console.print(f"[red]database error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    where = "standard output" if output is None else escape(str(output))
    console.print(f"{written} rows written to {where}", soft_wrap=True)


def sqlite_database(settings: Settings, command: str, advice: str | None = None) -> Path:
    """The configured SQLite database's file; on PostgreSQL, what to use instead (exit 2:
    `advice`, by default pg_dump's)."""
    from postback.backup import PG_ADVICE, BackupFailed, sqlite_path

    try:
        path = sqlite_path(settings.database_url)
    except BackupFailed as exc:
        console.print(f"[red]cannot {command}:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(2) from None
    if path is None:
        console.print(advice or PG_ADVICE, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    return path


@cli.command("backup")
def backup_database(
    file: Annotated[Path, typer.Argument(help="Where to write the copy.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Copy the SQLite database to FILE, consistently, while the server runs and writes.

    On PostgreSQL use pg_dump: the command says how (exit 2).
    """
    from rich.markup import escape

    from postback.backup import backup, copy_summary

    database = sqlite_database(load_settings(), "back up")
    copied = copy_with_progress(
        f"backing up {database.name}",
        lambda step: backup(database, file, force=force, progress=step),
    )
    console.print(escape(f"backed up {database} to {copy_summary(copied)}"), soft_wrap=True)


def copy_with_progress(label: str, copy: Callable[[Callable[[int, int], None]], Any]) -> Any:
    """Run a backup or a restore with a progress bar on a terminal; exit 1 on failure."""
    from rich.markup import escape
    from rich.progress import Progress

    from postback.backup import BackupFailed

    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(escape(label), total=None)

        def step(remaining: int, total: int) -> None:
            progress.update(task, total=total, completed=total - remaining)

        try:
            return copy(step)
        except BackupFailed as exc:
            console.print(f"[red]{escape(exc.message)}[/red]", soft_wrap=True)
            raise typer.Exit(1) from None


@cli.command("restore")
def restore_database(
    file: Annotated[
        Path, typer.Argument(help="A backup made by postback backup.", show_default=False)
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that holds data.")
    ] = False,
) -> None:
    """Replace the SQLite database with the backup FILE, then migrate it.

    Stop the server and the workers first: a database in use is refused. A database
    that holds data is replaced only with --force. On PostgreSQL use pg_restore: the
    command says how (exit 2).
    """
    from rich.markup import escape

    from postback.backup import copy_summary, restore
    from postback.errors import StoreError

    settings = load_settings()
    database = sqlite_database(settings, "restore")
    copied = copy_with_progress(
        f"restoring {file.name}",
        lambda step: restore(file, database, force=force, progress=step),
    )
    console.print(escape(f"restored {file} into {copy_summary(copied)}"), soft_wrap=True)
    try:
        migrate_database(settings)
    except StoreError as exc:
        console.print(f"[red]cannot migrate the restored database:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print("[green]database is up to date[/green]")


@cli.command("compact")
def compact_database() -> None:
    """Shrink the SQLite database file to what it holds.

    The database is rewritten without its free pages, with incremental auto-vacuum from
    now on, so later purges give space back as they go (databases made by this version
    have it already).

    Stop the server and the workers first: a database in use is refused. It needs free
    disk space as large as the database while it runs. On PostgreSQL there is nothing to
    do: the command says why (exit 2).
    """
    from rich.markup import escape

    from postback.backup import PG_COMPACT_ADVICE, BackupFailed, compact, size_text

    database = sqlite_database(load_settings(), "compact", PG_COMPACT_ADVICE)
    waiting = console.status(escape(f"compacting {database.name}"))
    try:
        with waiting if console.is_terminal else contextlib.nullcontext():
            done = compact(database)
    except BackupFailed as exc:
        console.print(f"[red]{escape(exc.message)}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    said = (
        f"compacted {database}: {size_text(done.before)} to {size_text(done.after)} "
        f"in {done.seconds:.1f} s"
    )
    if not done.was_incremental:
        said += "; purges give space back from now on"
    console.print(escape(said), soft_wrap=True)


@cli.command()
def demo(
    port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            show_default=False,
            help="Port for the server (0: any free). Default 8080, or 0 with --check.",
        ),
    ] = None,
    clicks: Annotated[int, typer.Option(min=1, max=100_000, help="Clicks to simulate.")] = 200,
    keep_running: Annotated[
        bool, typer.Option(help="Keep serving after the simulation until Ctrl-C.")
    ] = True,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Non-interactive: run the demo's checks, stop, exit 0 (1 when a check fails).",
        ),
    ] = False,
) -> None:
    """Embedded database, demo data, simulated traffic, then keep serving to explore."""
    from postback.demo import run_demo

    if port is None:
        port = 0 if check else 8080
    settings = load_settings()
    asyncio.run(
        run_demo(settings, port=port, clicks=clicks, keep_running=keep_running and not check)
    )


def main() -> None:
    cli()
