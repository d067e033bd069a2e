"""Record an incoming postback: the one use case behind /postback and `postback import
conversions`.

The steps, in the contract's order: the advertiser a postback names (`adv_id`) and its
field map; the fields (400); the click, its offer and advertiser (404); the sender's
proof, when it comes over the network (403, 429, 401); the event through the
advertiser's event map (400 `unknown_event` outside it) and the status through the
offer's lifecycle or the advertiser's status map (400); then the store applies it in one
transaction, state machine included (409). A file imported by an operator brings no
proof: the operator is trusted.

An event the advertiser's map says to ignore (a platform's subscription or member-area
news) is acknowledged once its sender is proven, click or no click: `Ignored`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from postback.domain import lifecycle
from postback.domain.attributes import read_attributes
from postback.domain.catalog import known_incoming
from postback.domain.incoming import (
    ADVERTISER_PARAM,
    IGNORE,
    PostbackFields,
    apply_field_map,
    map_event,
    pick,
    read_event,
    read_fields,
    resolve_status,
    single,
)
from postback.domain.postback_signature import SIGNATURE_PARAM, TIMESTAMP_PARAM
from postback.domain.records import Advertiser, Click, Offer
from postback.errors import InvalidInput, UnknownClick
from postback.services.advertiser_auth import Credentials, check_access
from postback.services.ratelimit import FailureLimiter
from postback.store.base import IncomingEntry, PostbackCommand, PostbackResult
from postback.store.sql import Store

Params = Mapping[str, Sequence[str]]


@dataclass
class LogDraft:
    """The incoming-log row of a postback being recorded, filled in as the click and the
    advertiser are learned, so that a refusal is logged with what was known."""

    entry: IncomingEntry

    def note(self, **changes: Any) -> None:
        self.entry = replace(self.entry, **changes)


@dataclass(frozen=True, slots=True)
class Proof:
    """What a postback's sender brings besides its fields: its address, and the token or
    signature the request carries outside them (headers, the query as sent)."""

    ip: str | None
    header_token: str | None
    header_signature: str | None
    # Only from the query or a header: a body cannot carry its own signature.
    query_params: Params
    raw_query: bytes
    body: bytes
    failures: FailureLimiter

    # Request headers by lower-case name (a sales platform's secret or signature).
    headers: Mapping[str, str] = field(default_factory=dict)

    async def check(self, advertiser: Advertiser, params: Params) -> None:
        # Our signature's names are plain data unless the advertiser signs (Kiwify adds a
        # `signature` of its own to every call).
        signs = advertiser.signed_postbacks
        signature = single(self.query_params, SIGNATURE_PARAM) or self.header_signature
        credentials = Credentials(
            token=pick(params, "token") or self.header_token,
            signature=signature if signs else None,
            timestamp=single(params, TIMESTAMP_PARAM) if signs else None,
            raw_query=self.raw_query,
            body=self.body,
            headers=self.headers,
            params=params,
            query=self.query_params,
        )
        await check_access(advertiser, self.ip, credentials, self.failures)


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event the advertiser's map says to ignore: acknowledged, nothing recorded."""

    advertiser_id: int
    event: str
    reason: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a postback's click came from."""

    click: Click
    offer: Offer
    advertiser: Advertiser


async def record_postback(
    store: Store,
    params: Params,
    draft: LogDraft,
    proof: Proof | None,
    received_at: datetime,
) -> PostbackResult | Ignored:
    """Apply one incoming postback; its outcome, or an exception of the tree."""
    named = await _named_advertiser(store, params)
    if named is not None:
        # A partner whose field names differ from ours names its advertiser, whose field
        # map (set by a template) translates them before anything is read.
        params = apply_field_map(params, named.field_map)
        draft.note(advertiser_id=named.id)
        event = read_event(params)
        if named.event_map and named.event_map.get(event, IGNORE) == IGNORE:
            # Settled without the click (a member-area event has none): ignored, or
            # refused outside the map, once the sender is proven.
            if proof is not None:
                await proof.check(named, params)
            map_event(event, named.event_map)
            return Ignored(named.id, event, f"event {event} is mapped to ignore")
    try:
        fields = read_fields(params)
        draft.note(click_id=fields.click_id)
        origin = await find_origin(store, fields.click_id)
        if named is not None and named.id != origin.advertiser.id:
            # Answered as for a missing click: another advertiser's clicks stay unknown.
            raise UnknownClick("no click with this click_id")
    except (InvalidInput, UnknownClick) as exc:
        if (
            named is None
            or not _sells_everything(named)
            or getattr(exc, "param", "click_id") != "click_id"
        ):
            raise
        # A sales platform posts every sale of the product, most of them not through our
        # links; refusing them would make it retry, then switch the webhook off.
        if proof is not None:
            await proof.check(named, params)
        return Ignored(named.id, read_event(params), f"not a sale of ours: {exc.message}")
    attributes = read_attributes(params)
    draft.note(advertiser_id=origin.advertiser.id)
    if proof is not None:
        await proof.check(origin.advertiser, params)
    event, status = event_and_status(fields, origin)
    if event == IGNORE:
        return Ignored(
            origin.advertiser.id, fields.event, f"event {fields.event} is mapped to ignore"
        )
    return await store.record_postback(
        PostbackCommand(
            click=origin.click,
            offer=origin.offer,
            event=event,
            txid=fields.txid,
            status=status,
            revenue=fields.revenue,
            currency=fields.currency,
            received_at=received_at,
            log=replace(draft.entry, http_status=200, result="pending"),
            attributes=attributes,
        )
    )


async def find_origin(store: Store, click_id: str) -> Origin:
    """The click, its offer (with the lifecycle its advertiser's platform implies) and
    advertiser; UnknownClick when any is missing."""
    click = await store.get_click(click_id)
    if click is None:
        raise UnknownClick("no click with this click_id")
    offer = await store.get_offer(click.offer_id)
    advertiser = await store.get_advertiser(offer.advertiser_id) if offer else None
    if offer is None or advertiser is None:
        raise UnknownClick("the click's offer no longer exists")
    declared = lifecycle.declared_events(offer, advertiser.event_map)
    if declared != offer.lifecycle_events:
        offer = replace(offer, lifecycle_events=declared)
    return Origin(click, offer, advertiser)


def event_and_status(fields: PostbackFields, origin: Origin) -> tuple[str, str | None]:
    """The event through the advertiser's event map (IGNORE, or UnknownEvent outside
    it), and the status it means: an order's lifecycle event decides it (None: a stage
    that keeps it), else the sent status through the advertiser's status map."""
    event = map_event(fields.event, origin.advertiser.event_map)
    if event == IGNORE:
        return event, None
    if lifecycle.is_lifecycle(event, origin.offer.lifecycle_events):
        return event, lifecycle.status_for(event)
    return event, resolve_status(fields.raw_status, origin.advertiser.status_map)


def _sells_everything(advertiser: Advertiser) -> bool:
    """Whether the advertiser is a sales platform's (its webhook sends every sale)."""
    template = known_incoming(advertiser.template)
    return template is not None and template.auth is not None


async def _named_advertiser(store: Store, params: Params) -> Advertiser | None:
    """The advertiser named by `adv_id`, if the postback names one."""
    value = single(params, ADVERTISER_PARAM)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(ADVERTISER_PARAM, f"{ADVERTISER_PARAM} must be an advertiser id")
    advertiser = await store.get_advertiser(int(value))
    if advertiser is None:
        raise UnknownClick("no click with this click_id")
    return advertiser
