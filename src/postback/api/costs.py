"""POST /costs: what traffic cost, reported afterwards and spread over the matching clicks
of each day (the rules are in services/costs.py). Admin only."""

from __future__ import annotations

from fastapi import APIRouter

from postback.api.auth import CallerDep
from postback.api.context import ContextDep
from postback.api.responses import ApiResponse, new_router, reply, route
from postback.services import costs
from postback.services.costs import CostsIn, CostsOut


async def import_costs(body: CostsIn, ctx: ContextDep, caller: CallerDep) -> ApiResponse:
    """Each row sets the costs of the clicks of its offer and affiliate made that day
    (with its subs where it names them): the amount split equally, to the ten-thousandth.
    The same row again replaces what it set; it never adds."""
    return reply(await costs.import_costs(ctx, caller, body))


def build_router() -> APIRouter:
    router = new_router("costs")
    route(
        router,
        "POST /costs",
        import_costs,
        CostsOut,
        "Spread traffic costs over the matching clicks of each day",
    )
    return router
