"""A report as a Rich table, for operators at a terminal (`postback report`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from postback.domain.report import GROUP_KEYS, Report, metric_values, row_fields


def _text(value: Any, name: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:,.4f}"  # Decimal formats exactly; four places line up the points
    if isinstance(value, int) and name not in GROUP_KEYS:
        return f"{value:,}"
    return str(value)


def report_table(report: Report) -> Table:
    query = report.query
    days = (
        query.first.isoformat()
        if query.first == query.last
        else f"{query.first.isoformat()} .. {query.last.isoformat()}"
    )
    shown = len(report.rows)
    more = f", first {shown} of {report.row_count} rows" if shown < report.row_count else ""
    table = Table(
        title=f"Report {days} ({query.tz}{more})",
        show_footer=bool(query.group_by),  # without groups the one row is the total
        header_style="bold",
        footer_style="bold",
    )
    totals = metric_values(report.totals, query.admin)
    for index, name in enumerate(query.columns):
        numeric = name not in GROUP_KEYS or name in {"offer_id", "affiliate_id", "hour"}
        footer = _text(totals[name], name) if name in totals else ("total" if index == 0 else "")
        table.add_column(name, footer=footer, justify="right" if numeric else "left", no_wrap=True)
    for group in report.rows:
        fields = row_fields(query, group)
        table.add_row(*(_text(fields[name], name) for name in query.columns))
    return table


def print_report(report: Report, console: Console | None = None) -> None:
    """Print at the table's natural width: figures are never cut to fit the terminal."""
    out = console or Console()
    table = report_table(report)
    needed = Measurement.get(out, out.options.update_width(100_000), table).maximum
    if needed > out.width:
        out = Console(width=needed, file=out.file, force_terminal=out.is_terminal)
    out.print(table)
