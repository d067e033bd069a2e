"""A report drawn for the terminal: every figure whole, totals in the footer."""

from __future__ import annotations

import io
from datetime import date

from rich.console import Console

from postback.domain.report import DEFAULT_LIMIT, Figures, Group, ReportQuery, build_report
from postback.report_table import print_report


def draw(query: ReportQuery, groups: list[Group], width: int = 60) -> str:
    out = io.StringIO()
    print_report(build_report(query, groups), Console(file=out, width=width))
    return out.getvalue()


def query(
    group_by: tuple[str, ...] = (), admin: bool = True, limit: int = DEFAULT_LIMIT
) -> ReportQuery:
    return ReportQuery(
        first=date(2024, 6, 1),
        last=date(2024, 6, 2),
        tz="Asia/Kolkata",
        group_by=group_by,
        admin=admin,
        limit=limit,
    )


def test_rows_and_totals_are_never_cut_to_the_terminal() -> None:
    groups = [
        Group(
            ("2024-06-01", None),
            Figures(clicks=12_345, conversions=1, approved=1, revenue=1_234_567_891, payout=5),
        ),
        Group(("2024-06-02", "placement-with-a-long-name"), Figures(clicks=3)),
    ]
    text = draw(query(group_by=("day", "sub1")), groups)
    assert "Report 2024-06-01 .. 2024-06-02 (Asia/Kolkata)" in text
    assert "placement-with-a-long-name" in text
    assert "123,456.7891" in text and "12,345" in text and "12,348" in text  # the total
    assert "…" not in text
    assert "total" in text and " - " in text  # a missing sub shows as -


def test_without_groups_one_row_and_no_footer() -> None:
    text = draw(query(), [Group((), Figures(clicks=2, conversions=1))])
    assert "total" not in text and "50.0000" in text


def test_affiliates_see_no_revenue_and_a_limit_is_said() -> None:
    groups = [Group((n,), Figures(clicks=n)) for n in range(1, 4)]
    text = draw(query(group_by=("offer_id",), admin=False, limit=2), groups, width=200)
    assert "revenue" not in text and "profit" not in text
    assert "first 2 of 3 rows" in text
