"""The dashboard page: today, yesterday and the last seven days, a chart of the week, the
top offers, affiliates and sub-ids, the top countries and devices, and how deliveries
fare (services/dashboard.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.web import Visit, page
from postback.domain.report import Report, report_fields
from postback.services.dashboard import dashboard


def chart_of(report: Report, admin: bool) -> dict[str, Any]:
    """Chart.js data: one point per row of a report grouped by day (or hour)."""
    fields = report_fields(report)
    rows = fields["rows"]
    key = report.query.group_by[0]
    money = "revenue" if admin else "payout"
    return {
        "labels": [str(row[key]) for row in rows],
        "series": [
            {"label": "clicks", "data": [row["clicks"] for row in rows], "axis": "count"},
            {"label": "conversions", "data": [row["conversions"] for row in rows], "axis": "count"},
            {"label": money, "data": [float(row[money]) for row in rows], "axis": "money"},
        ],
    }


async def show(visit: Visit) -> Response:
    found = await dashboard(visit.ctx, visit.user)
    return visit.render(
        "dashboard.html",
        names=found.names,
        periods={name: report_fields(r)["totals"] for name, r in found.periods.items()},
        chart=chart_of(found.by_day, visit.is_admin),
        tops={name: report_fields(r)["rows"] for name, r in found.tops.items()},
        places={name: report_fields(r)["rows"] for name, r in found.places.items()},
        health=found.health,
        week=found.week,
    )


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /", show)
    return router
