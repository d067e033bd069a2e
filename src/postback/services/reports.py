"""Reports: clicks, conversions and money per day, hour, offer, affiliate, event or sub,
read from the rollups. An affiliate's report is scoped to itself: its own rows only,
without revenue and profit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from postback.domain.report import DIMENSIONS, Report, parse_query
from postback.errors import InvalidInput
from postback.services.caller import Caller
from postback.services.context import AppContext

# What a report is asked with (besides how its answer is written).
REPORT_PARAMS = frozenset({"from", "to", "tz", "group_by", "sort", "limit", *DIMENSIONS})


def refuse_unknown(names: Iterable[str], known: frozenset[str]) -> None:
    """InvalidInput naming the first parameter that is not one of `known`."""
    for name in names:
        if name not in known:
            raise InvalidInput(name, f"unknown parameter {name[:64]!r}", known=sorted(known))


async def report(
    ctx: AppContext,
    caller: Caller,
    *,
    first: str | None = None,
    last: str | None = None,
    tz: str | None = None,
    group_by: Sequence[str] = (),
    filters: Mapping[str, Sequence[str] | None] | None = None,
    sort: Sequence[str] = (),
    limit: str | int | None = None,
) -> Report:
    """The figures asked (text values, as typed; see domain/report.py `parse_query`) that
    this caller may see. Filters without values are left out."""
    asked = {name: values for name, values in (filters or {}).items() if values is not None}
    query = parse_query(
        first=first,
        last=last,
        tz=tz,
        group_by=group_by,
        filters=asked,
        sort=sort,
        limit=limit,
        affiliate_id=caller.affiliate_id,
    )
    return await ctx.store.report(query)


def csv_filename(report: Report) -> str:
    """The name a report's CSV download carries: its first and last day."""
    query = report.query
    return f"report_{query.first.isoformat()}_{query.last.isoformat()}.csv"
