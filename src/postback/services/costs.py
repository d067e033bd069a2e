"""Traffic costs reported afterwards: rows of day, offer, affiliate, optional subs and
amount, each spread over the matching clicks of that day (domain/costs.py). Only the
admin sets costs; the offers and affiliates named must exist; a row with no matching
click is answered with 0 clicks and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field

from postback.domain.buckets import load_zone
from postback.domain.costs import MAX_ROWS, CostRow, parse_row
from postback.errors import InvalidInput
from postback.services.caller import Caller, admin_only
from postback.services.context import AppContext
from postback.services.schemas import Id, Money, MoneyIn, RequestModel
from postback.store.sql import Store

SubIn = Annotated[str | None, Field(default=None, max_length=255)]


class CostRowIn(RequestModel):
    day: str = Field(max_length=10, description="YYYY-MM-DD, in `tz`", examples=["2026-05-01"])
    offer_id: Id
    affiliate_id: Id
    sub1: SubIn = None
    sub2: SubIn = None
    sub3: SubIn = None
    sub4: SubIn = None
    sub5: SubIn = None
    amount: MoneyIn = Field(description="what that traffic cost, in the offer's currency")


class CostsIn(RequestModel):
    EXAMPLE = {
        "tz": "UTC",
        "rows": [
            {"day": "2026-05-01", "offer_id": 1, "affiliate_id": 2, "amount": "120.50"},
            {"day": "2026-05-01", "offer_id": 1, "affiliate_id": 2, "sub1": "fb", "amount": 80},
        ],
    }

    rows: list[CostRowIn] = Field(min_length=1, max_length=MAX_ROWS)
    tz: str = Field(default="UTC", max_length=64, description="IANA zone where days start")


class CostRowOut(BaseModel):
    day: str
    offer_id: int
    affiliate_id: int
    sub1: str | None
    sub2: str | None
    sub3: str | None
    sub4: str | None
    sub5: str | None
    amount: Money
    clicks: int = Field(description="the clicks the amount was spread over (0: none matched)")


class CostsOut(BaseModel):
    rows: list[CostRowOut]
    applied: int = Field(description="rows spread over at least one click")
    unmatched: int = Field(description="rows that matched no click: nothing changed for them")


def _in_body(index: int) -> str:
    return f"rows[{index}]"


def parse_rows(
    found: Sequence[Mapping[str, Any]], tz: str, where: Callable[[int], str] = _in_body
) -> list[CostRow]:
    """Every row validated before any is applied; InvalidInput names `<where>.<field>`
    (`rows[<index>].day` by default)."""
    load_zone(tz)
    parsed = []
    for index, fields in enumerate(found):
        try:
            parsed.append(parse_row(fields))
        except InvalidInput as exc:
            raise InvalidInput(f"{where(index)}.{exc.param}", exc.message) from None
    return parsed


async def check_references(
    store: Store, cost_rows: Sequence[CostRow], where: Callable[[int], str] = _in_body
) -> None:
    """InvalidInput for the first row naming an offer or affiliate that does not exist."""
    offers: dict[int, bool] = {}
    affiliates: dict[int, bool] = {}
    for index, row in enumerate(cost_rows):
        if row.offer_id not in offers:
            offers[row.offer_id] = await store.get_offer(row.offer_id) is not None
        if not offers[row.offer_id]:
            raise InvalidInput(f"{where(index)}.offer_id", f"no offer {row.offer_id}")
        if row.affiliate_id not in affiliates:
            found = await store.get_affiliate(row.affiliate_id)
            affiliates[row.affiliate_id] = found is not None
        if not affiliates[row.affiliate_id]:
            raise InvalidInput(f"{where(index)}.affiliate_id", f"no affiliate {row.affiliate_id}")


def answer(cost_rows: Sequence[CostRow], matched: Sequence[int]) -> CostsOut:
    out = [
        CostRowOut(**row.fields(), clicks=count)
        for row, count in zip(cost_rows, matched, strict=True)
    ]
    applied = sum(1 for count in matched if count)
    return CostsOut(rows=out, applied=applied, unmatched=len(out) - applied)


async def apply_rows(
    store: Store,
    found: Sequence[Mapping[str, Any]],
    tz: str,
    where: Callable[[int], str] = _in_body,
) -> CostsOut:
    """Validate every row (and that its offer and affiliate exist), then apply them."""
    cost_rows = parse_rows(found, tz, where)
    await check_references(store, cost_rows, where)
    matched = await store.apply_costs(cost_rows, tz)
    return answer(cost_rows, matched)


async def import_costs(ctx: AppContext, caller: Caller, body: CostsIn) -> CostsOut:
    admin_only(caller)
    fields = [row.model_dump(exclude_none=True) for row in body.rows]
    return await apply_rows(ctx.store, fields, body.tz.strip() or "UTC")
