"""GET /reports: clicks, conversions, money and ROI per day, hour, offer, affiliate, event,
sub, country, device, os or browser, as JSON or CSV. The rules (affiliates get their own
rows, without revenue and profit) are in services/reports.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.responses import ApiResponse, error_responses, new_router
from postback.domain.report import (
    DEFAULT_LIMIT,
    GROUP_KEYS,
    MAX_ROWS,
    METRICS,
    report_csv,
    report_json,
)
from postback.services import reports
from postback.services.reports import REPORT_PARAMS, refuse_unknown

Values = Annotated[list[str] | None, Query()]
KNOWN_PARAMS = REPORT_PARAMS | {"format"}


class ReportOut(BaseModel):
    """Each row holds its group_by values, then the figures; totals cover every row."""

    rows: list[dict[str, Any]] = Field(
        description="group_by keys (day as YYYY-MM-DD, hour 0-23, ids, event and subs, "
        f"null when absent), then {', '.join(METRICS)}; affiliates get no revenue or profit"
    )
    totals: dict[str, Any] = Field(description="the figures over all rows, before the limit")
    row_count: int = Field(description="rows before the limit")


async def get_report(
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
    start: Annotated[
        str | None,
        Query(alias="from", max_length=32, description="first day, YYYY-MM-DD (default: to)"),
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", max_length=32, description="last day, inclusive (default: today)"),
    ] = None,
    tz: Annotated[
        str | None,
        Query(max_length=64, description="IANA time zone where days and hours start (UTC)"),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        Query(description=f"any of {', '.join(GROUP_KEYS)}; comma-separated or repeated"),
    ] = None,
    offer_id: Values = None,
    affiliate_id: Values = None,
    event: Values = None,
    sub1: Values = None,
    sub2: Values = None,
    sub3: Values = None,
    sub4: Values = None,
    sub5: Values = None,
    country: Values = None,
    device: Values = None,
    os: Values = None,
    browser: Values = None,
    sort: Annotated[
        list[str] | None,
        Query(description="figures or group_by keys, - for descending: sort=-revenue,day"),
    ] = None,
    limit: Annotated[
        str | None,
        Query(max_length=12, description=f"rows to answer (1..{MAX_ROWS}, {DEFAULT_LIMIT})"),
    ] = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="csv: a download with the same columns")
    ] = "json",
) -> Response:
    refuse_unknown(request.query_params, KNOWN_PARAMS)
    subs = {"sub1": sub1, "sub2": sub2, "sub3": sub3, "sub4": sub4, "sub5": sub5}
    visitor = {"country": country, "device": device, "os": os, "browser": browser}
    report = await reports.report(
        ctx,
        caller,
        first=start,
        last=end,
        tz=tz,
        group_by=group_by or [],
        filters={
            "offer_id": offer_id,
            "affiliate_id": affiliate_id,
            "event": event,
            **subs,
            **visitor,
        },
        sort=sort or [],
        limit=limit,
    )
    if format == "csv":
        name = reports.csv_filename(report)
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(report_json(report), media_type="application/json")


def build_router() -> APIRouter:
    router = new_router("reports")
    router.add_api_route(
        "/reports",
        get_report,
        methods=["GET"],
        response_model=ReportOut,
        response_class=ApiResponse,
        summary="Figures per day, offer, affiliate, event, sub, country or device (JSON or CSV)",
        description=get_report.__doc__ or "",
        responses={
            **error_responses(),
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        },
    )
    return router
