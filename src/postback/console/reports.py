"""Reports: group-by pickers, date range, time zone, filters (offer, affiliate, event,
the visitor's country, device, OS and browser, subs), a table with totals, a chart when
grouped by day or hour, and the same report as CSV (services/reports.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.dashboard import chart_of
from postback.console.web import Visit, page
from postback.domain.report import (
    GROUP_KEYS,
    VISITOR_DIMENSIONS,
    Report,
    report_csv,
    report_fields,
)
from postback.errors import InvalidInput
from postback.services import reports

# The rows a page shows; the CSV holds up to the API's default.
SHOWN_ROWS = 1000
FILTERS = (
    "offer_id",
    "affiliate_id",
    "event",
    *VISITOR_DIMENSIONS,
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
)
# The device types a click is stored with (CONTRACT: click intelligence).
DEVICES = ("desktop", "mobile", "tablet", "tv", "console", "bot", "other")
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)


def _asked(visit: Visit) -> dict[str, Any]:
    group_by = [g for value in visit.queries("group_by") for g in value.split(",") if g]
    filters = {name: visit.queries(name) for name in FILTERS if visit.queries(name)}
    if not visit.is_admin:
        filters.pop("affiliate_id", None)
    return {
        "first": visit.query("from"),
        "last": visit.query("to"),
        "tz": visit.query("tz"),
        "group_by": group_by or ["day"],
        "filters": filters,
        "sort": visit.queries("sort"),
    }


async def _run(visit: Visit, limit: int | None) -> Report:
    return await reports.report(visit.ctx, visit.user, **_asked(visit), limit=limit)


async def show(visit: Visit) -> Response:
    asked = _asked(visit)
    problem = None
    report = None
    try:
        report = await _run(visit, SHOWN_ROWS)
    except InvalidInput as exc:
        problem = f"{exc.param}: {exc.message}"
    context: dict[str, Any] = {
        "asked": asked,
        "group_keys": GROUP_KEYS,
        "zones": COMMON_ZONES,
        "devices": DEVICES,
        "problem": problem,
        "report": None,
        "chart": None,
        "csv_url": "/reports.csv?" + visit.request.url.query,
    }
    if report is not None:
        context["report"] = {**report_fields(report), "query": report.query}
        if report.query.group_by[0] in ("day", "hour") and len(report.query.group_by) == 1:
            context["chart"] = chart_of(report, visit.is_admin)
    return visit.render("reports/report.html", 400 if problem else 200, **context)


async def csv_file(visit: Visit) -> Response:
    report = await _run(visit, None)
    name = reports.csv_filename(report)
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /reports", show)
    page(router, "GET /reports.csv", csv_file)
    return router
