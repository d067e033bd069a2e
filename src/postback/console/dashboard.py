"""The dashboard: today, yesterday and the last seven days, a chart of the week, the top
offers, affiliates and sub-ids, and how deliveries fare. Every figure comes from the
report rollups (store.report), never from a scan of the clicks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from postback.console.web import Visit, page
from postback.domain.report import Report, parse_query, report_fields
from postback.store.base import DeliveryHealth

WEEK = 7
TOP = 5


async def _report(visit: Visit, first: str, last: str, **asked: Any) -> Report:
    query = parse_query(first=first, last=last, affiliate_id=visit.user.affiliate_id, **asked)
    return await visit.ctx.store.report(query)


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


async def health(visit: Visit, now: datetime) -> DeliveryHealth:
    return await visit.ctx.store.delivery_health(
        since=now - timedelta(days=WEEK), affiliate_id=visit.user.affiliate_id
    )


async def show(visit: Visit) -> Response:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    week_start = today - timedelta(days=WEEK - 1)
    periods = {
        "Today": await _report(visit, today.isoformat(), today.isoformat()),
        "Yesterday": await _report(visit, yesterday.isoformat(), yesterday.isoformat()),
        "7 days": await _report(visit, week_start.isoformat(), today.isoformat()),
    }
    week = (week_start.isoformat(), today.isoformat())
    by_day = await _report(visit, *week, group_by=["day"])
    rank = ["-revenue" if visit.is_admin else "-payout", "-conversions", "-clicks"]
    tops = {
        "offer_id": await _report(visit, *week, group_by=["offer_id"], sort=rank, limit=TOP),
        "sub1": await _report(visit, *week, group_by=["sub1"], sort=rank, limit=TOP),
    }
    if visit.is_admin:
        tops["affiliate_id"] = await _report(
            visit, *week, group_by=["affiliate_id"], sort=rank, limit=TOP
        )
    names = await _names(visit, tops)
    return visit.render(
        "dashboard.html",
        names=names,
        periods={name: report_fields(r)["totals"] for name, r in periods.items()},
        chart=chart_of(by_day, visit.is_admin),
        tops={name: report_fields(r)["rows"] for name, r in tops.items()},
        health=await health(visit, datetime.now(UTC)),
        week=week,
    )


async def _names(visit: Visit, tops: dict[str, Report]) -> dict[str, dict[int, str]]:
    """The names of the offers and affiliates in the top lists (a handful of reads)."""
    names: dict[str, dict[int, str]] = {"offer_id": {}, "affiliate_id": {}}
    store = visit.ctx.store
    for group in tops["offer_id"].rows:
        offer_id = group.keys[0]
        if isinstance(offer_id, int) and (offer := await store.get_offer(offer_id)) is not None:
            names["offer_id"][offer_id] = offer.name
    if "affiliate_id" in tops:
        for group in tops["affiliate_id"].rows:
            aff_id = group.keys[0]
            found = await store.get_affiliate(aff_id) if isinstance(aff_id, int) else None
            if found is not None:
                names["affiliate_id"][found.id] = found.name
    return names


def build_router() -> APIRouter:
    router = APIRouter()
    page(router, "GET /", show)
    return router
