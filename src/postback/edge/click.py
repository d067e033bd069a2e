"""GET /click: record the click durably, then send the visitor to the offer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from postback.batching import GroupCommitter
from postback.domain import money
from postback.domain.ids import new_click_id
from postback.domain.incoming import single
from postback.domain.macros import SUB_MACROS, Encoding, expand
from postback.domain.payload import macro_values, visitor_fields
from postback.domain.records import Click
from postback.edge.http import (
    Params,
    Receive,
    Scope,
    Send,
    header,
    parse_params,
    redirect,
)
from postback.errors import InvalidInput, NotFound
from postback.metrics import Metrics
from postback.store.sql import Store
from postback.visitors.reader import VisitorReader

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1
MAX_SUB_LENGTH = 255
MAX_USER_AGENT = 512
MAX_REFERRER = 2048


class NoRoute(NotFound):
    """Unknown offer, or a paused offer or affiliate without a fallback URL."""


def _id(params: Params, name: str) -> int:
    text = single(params, name)
    if text is None or text == "":
        raise InvalidInput(name, f"{name} is required")
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= MAX_ID:
        raise InvalidInput(name, f"{name} must be a positive integer")
    return int(text)


def _sub(params: Params, name: str) -> str | None:
    value = single(params, name)
    if value is None:
        return None
    if len(value) > MAX_SUB_LENGTH:
        raise InvalidInput(name, f"{name} is longer than {MAX_SUB_LENGTH} characters")
    if "\x00" in value:
        raise InvalidInput(name, f"{name} contains a NUL character")
    return value


def _clip(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit].replace("\x00", "")


def _cost(params: Params) -> Decimal | None:
    """What the click cost, in the offer's currency: >= 0, at most four decimals."""
    text = single(params, "cost")
    if text is None or text == "":
        return None
    try:
        cost = money.parse_amount(text)
    except ValueError as exc:
        raise InvalidInput("cost", f"cost {exc}") from None
    return cost


class ClickHandler:
    def __init__(
        self,
        store: Store,
        writer: GroupCommitter[Click],
        client_ip: Callable[[Scope], str | None],
        metrics: Metrics,
        visitors: VisitorReader,
        proxy_country: Callable[[Scope], str | None] = lambda scope: None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.client_ip = client_ip
        self.metrics = metrics
        self.visitors = visitors
        self.proxy_country = proxy_country

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = parse_params(scope.get("query_string", b""))
        offer_id = _id(params, "offer_id")
        aff_id = _id(params, "aff_id")
        subs = tuple(_sub(params, name) for name in SUB_MACROS)
        values = {"offer_id": str(offer_id), "aff_id": str(aff_id)}
        values.update({name: sub or "" for name, sub in zip(SUB_MACROS, subs, strict=True)})

        offer = await self.store.get_offer(offer_id)
        if offer is None:
            self.metrics.clicks.labels("unknown_offer").inc()
            raise NoRoute("unknown offer")
        affiliate = await self.store.get_affiliate(aff_id)
        if not offer.active or affiliate is None or not affiliate.active:
            if offer.fallback_url:
                self.metrics.clicks.labels("fallback").inc()
                await redirect(send, expand(offer.fallback_url, values, Encoding.URL))
                return
            self.metrics.clicks.labels("unavailable").inc()
            raise NoRoute("offer or affiliate unavailable")

        cost = _cost(params)
        ip = self.client_ip(scope)
        user_agent = _clip(header(scope, b"user-agent"), MAX_USER_AGENT)
        seen = self.visitors.read(ip, user_agent, self.proxy_country(scope))
        now = datetime.now(UTC)
        click = Click(
            click_id=new_click_id(now),
            offer_id=offer_id,
            affiliate_id=aff_id,
            subs=subs,  # type: ignore[arg-type]
            ip=seen.stored_ip,
            user_agent=user_agent,
            referrer=_clip(header(scope, b"referer"), MAX_REFERRER),
            country=seen.profile.place.country,
            created_at=now,
            region=seen.profile.place.region,
            city=seen.profile.place.city,
            device=seen.profile.agent.device,
            os=seen.profile.agent.os,
            browser=seen.profile.agent.browser,
            is_bot=seen.profile.agent.is_bot,
            cost=cost,
            visitor=seen.visitor,
        )
        await self.writer.submit(click)
        self.metrics.clicks.labels("bot" if click.is_bot else "recorded").inc()
        values["click_id"] = click.click_id
        values.update(macro_values(visitor_fields(click)))
        target = offer.bot_url if click.is_bot and offer.bot_url else offer.destination_url
        await redirect(send, expand(target, values, Encoding.URL))
