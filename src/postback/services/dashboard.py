"""The dashboard: today, yesterday and the last seven days, the week by day, the top
offers, affiliates (admin) and sub-ids, the countries and devices bringing the most
clicks, and how deliveries fare. Every figure comes from the report rollups, never from a
scan of the clicks; an affiliate's are its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from postback.domain.report import Report
from postback.services import deliveries, reports
from postback.services.caller import Caller
from postback.services.context import AppContext
from postback.store.base import DeliveryHealth

WEEK = 7
TOP = 5
#: Countries and devices shown, by clicks.
TOP_PLACES = 8
#: Where and on what the week's clicks came from, most clicks first.
PLACES = ("country", "device")


@dataclass(frozen=True, slots=True)
class Dashboard:
    periods: dict[str, Report]  # "Today", "Yesterday", "7 days": their totals
    by_day: Report  # the week, one row a day
    tops: dict[str, Report]  # "offer_id", "sub1" and, for the admin, "affiliate_id"
    places: dict[str, Report]  # "country" and "device", by clicks
    names: dict[str, dict[int, str]]  # the offers' and affiliates' names in the tops
    health: DeliveryHealth  # deliveries of the week
    week: tuple[str, str]  # first and last day (YYYY-MM-DD)


async def dashboard(ctx: AppContext, caller: Caller, now: datetime | None = None) -> Dashboard:
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    yesterday = today - timedelta(days=1)
    week_start = today - timedelta(days=WEEK - 1)

    async def figures(first: str, last: str, **asked: Any) -> Report:
        return await reports.report(ctx, caller, first=first, last=last, **asked)

    periods = {
        "Today": await figures(today.isoformat(), today.isoformat()),
        "Yesterday": await figures(yesterday.isoformat(), yesterday.isoformat()),
        "7 days": await figures(week_start.isoformat(), today.isoformat()),
    }
    week = (week_start.isoformat(), today.isoformat())
    by_day = await figures(*week, group_by=["day"])
    rank = ["-revenue" if caller.is_admin else "-payout", "-conversions", "-clicks"]
    tops = {
        "offer_id": await figures(*week, group_by=["offer_id"], sort=rank, limit=TOP),
        "sub1": await figures(*week, group_by=["sub1"], sort=rank, limit=TOP),
    }
    if caller.is_admin:
        tops["affiliate_id"] = await figures(*week, group_by=["affiliate_id"], sort=rank, limit=TOP)
    by_clicks = ["-clicks", "-conversions", rank[0]]
    places = {
        key: await figures(*week, group_by=[key], sort=by_clicks, limit=TOP_PLACES)
        for key in PLACES
    }
    return Dashboard(
        periods=periods,
        by_day=by_day,
        tops=tops,
        places=places,
        names=await _names(ctx, tops),
        health=await deliveries.health(ctx, caller, now - timedelta(days=WEEK)),
        week=week,
    )


async def _names(ctx: AppContext, tops: dict[str, Report]) -> dict[str, dict[int, str]]:
    """The names of the offers and affiliates in the top lists (a handful of reads)."""
    names: dict[str, dict[int, str]] = {"offer_id": {}, "affiliate_id": {}}
    store = ctx.store
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
