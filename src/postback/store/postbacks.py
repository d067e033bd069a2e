"""Applying incoming postbacks: conversion, history, owed deliveries, log and report
rollups, in one transaction.

Written against a synchronous SQLAlchemy connection so that the same code runs on a
PostgreSQL connection (through `AsyncConnection.run_sync`) and, for SQLite, on a plain
connection inside the writer thread, where a whole batch costs one thread hand-off
instead of several per statement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from postback.domain import payload
from postback.domain.attributes import merge
from postback.domain.conversion import Outcome, decide, identity_key
from postback.domain.ids import new_message_id
from postback.domain.lifecycle import (
    FIRST_STATUS,
    ORDER_EVENT,
    affiliates_receive,
    decide_stage,
    is_lifecycle,
)
from postback.domain.money import to_units
from postback.domain.records import Click, Conversion, Offer, PostbackConfig
from postback.domain.report import conversion_figures
from postback.domain.routing import select_configs
from postback.errors import DuplicateKey, InvalidTransition, PostbackError, StoreUnavailable
from postback.store import rows
from postback.store.base import PostbackCommand, PostbackResult
from postback.store.rollups import NO_SUBS, Change, Deltas, Subs, subs_of
from postback.store.schema import (
    clicks,
    conversion_history,
    conversions,
    deliveries,
    incoming_log,
    postback_configs,
)

ConfigsByAffiliate = dict[int, list[PostbackConfig]]

# Built once: constructing a statement (and its cache key) per postback cost more than
# running it. Each is executed with a parameter dict, so SQLAlchemy compiles it once.
FIND_CONVERSION = select(conversions).where(conversions.c.identity_key == bindparam("key"))
FIND_CONVERSION_LOCKED = FIND_CONVERSION.with_for_update()
INSERT_CONVERSION = insert(conversions).returning(conversions)
INSERT_HISTORY = insert(conversion_history)
INSERT_LOG = insert(incoming_log).returning(incoming_log.c.id)
INSERT_DELIVERY = insert(deliveries)
ACTIVE_CONFIGS = select(postback_configs).where(
    postback_configs.c.deleted_at.is_(None),
    postback_configs.c.active.is_(True),
    or_(
        postback_configs.c.affiliate_id == bindparam("affiliate_id"),
        postback_configs.c.affiliate_id.is_(None),
    ),
)


def apply_batch(
    conn: Connection,
    commands: Sequence[PostbackCommand],
    row_locks: bool,
    *,
    savepoints: bool = True,
) -> list[PostbackResult | BaseException]:
    """Many postbacks in the caller's transaction, each in its own savepoint, so one
    refused postback leaves the others intact. Their rollup changes go in at the end, in
    one upsert per rollup table.

    Without `savepoints` (a savepoint per postback cost about a fifth of the batch), a
    refused status change still answers on its own, since the state machine refuses
    before anything is written; any other error propagates, and the caller rolls the
    transaction back and runs the batch again with savepoints."""
    outcomes: list[PostbackResult | BaseException] = []
    deltas = Deltas()
    # The configs of each affiliate, read once per batch (one transaction, one answer).
    configs: ConfigsByAffiliate = {}
    for command in commands:
        if not savepoints:
            try:
                result, change = _apply(conn, command, row_locks, configs)
            except InvalidTransition as exc:
                outcomes.append(exc)
                continue
        else:
            try:
                with conn.begin_nested():
                    result, change = _apply(conn, command, row_locks, configs)
            except IntegrityError as exc:
                outcomes.append(DuplicateKey(str(exc.orig)))
                continue
            except PostbackError as exc:
                outcomes.append(exc)
                continue
        outcomes.append(result)
        if change is not None:
            deltas.add(change)
    deltas.write(conn)
    return outcomes


def apply_batch_optimistic(
    conn: Connection, commands: Sequence[PostbackCommand], row_locks: bool
) -> list[PostbackResult | BaseException]:
    """`apply_batch` without savepoints: the caller runs the batch again with them, in a
    new transaction, when this raises."""
    return apply_batch(conn, commands, row_locks, savepoints=False)


async def record_batch(
    run: Callable[..., Awaitable[list[PostbackResult | BaseException]]],
    commands: Sequence[PostbackCommand],
    row_locks: bool,
) -> list[PostbackResult | BaseException]:
    """A batch of postbacks through `run(work, *args)`, which runs `work(connection,
    *args)` in one write transaction: first without savepoints; if one postback fails
    part-way, rolled back and run again with a savepoint each, so only it is refused."""
    try:
        return await run(apply_batch_optimistic, commands, row_locks)
    except StoreUnavailable:
        raise
    except Exception:
        return await run(apply_batch, commands, row_locks)


def apply_postback(conn: Connection, command: PostbackCommand, row_locks: bool) -> PostbackResult:
    """Raises InvalidTransition before writing anything when the state machine refuses."""
    result, change = _apply(conn, command, row_locks, {})
    if change is not None:
        deltas = Deltas()
        deltas.add(change)
        deltas.write(conn)
    return result


def _apply(
    conn: Connection, command: PostbackCommand, row_locks: bool, configs: ConfigsByAffiliate
) -> tuple[PostbackResult, Change | None]:
    click, offer = command.click, command.offer
    lifecycle = is_lifecycle(command.event, offer.lifecycle_events)
    # Every lifecycle event of one order lands on the order's one conversion.
    event = ORDER_EVENT if lifecycle else command.event
    key = identity_key(offer.id, click.click_id, event, command.txid)
    query = FIND_CONVERSION_LOCKED if row_locks else FIND_CONVERSION
    existing = conn.execute(query, {"key": key}).first()
    before = rows.conversion(existing) if existing else None
    status = command.status or (before.status if before else FIRST_STATUS)
    attributes = merge(before.attributes if before else {}, command.attributes)
    if lifecycle:
        outcome = decide_stage(
            before.status if before else None,
            before.stage if before else None,
            status,
            command.event,
            before is not None and attributes != before.attributes,
        )
    else:
        outcome = decide(before.status if before else None, status)
    now = rows.to_us(command.received_at)
    log = replace(command.log, result=outcome.value, advertiser_id=offer.advertiser_id)

    if outcome is Outcome.DUPLICATE:
        assert before is not None
        _log(conn, replace(log, conversion_id=before.id))
        return PostbackResult(outcome, before, 0), None

    stored_attributes = orjson.dumps(attributes).decode() if attributes else None
    if outcome is Outcome.CREATED:
        revenue = command.revenue if command.revenue is not None else offer.revenue
        values = {
            "identity_key": key,
            "click_id": click.click_id,
            "offer_id": offer.id,
            "affiliate_id": click.affiliate_id,
            "advertiser_id": offer.advertiser_id,
            "event": event,
            "txid": command.txid,
            "status": status,
            "revenue": to_units(revenue),
            "payout": to_units(offer.payout),
            "currency": command.currency or offer.currency,
            "created_at": now,
            "updated_at": now,
            "stage": command.event if lifecycle else None,
            "attributes": stored_attributes,
        }
        row = conn.execute(INSERT_CONVERSION, values).one()
    else:
        assert existing is not None
        changes: dict[str, Any] = {
            "status": status,
            "updated_at": now,
            "attributes": stored_attributes,
        }
        if lifecycle:
            changes["stage"] = command.event
        if command.revenue is not None:
            changes["revenue"] = to_units(command.revenue)
        stmt = (
            update(conversions)
            .where(conversions.c.id == existing.id)
            .values(changes)
            .returning(conversions)
        )
        row = conn.execute(stmt).one()
    conversion = rows.conversion(row)
    log_id = _log(conn, replace(log, conversion_id=conversion.id))
    conn.execute(
        INSERT_HISTORY,
        {
            "conversion_id": conversion.id,
            "from_status": existing.status if existing else None,
            "to_status": conversion.status,
            "revenue": to_units(conversion.revenue),
            "incoming_id": log_id,
            "created_at": now,
            "stage": conversion.stage,
        },
    )
    owed = enqueue_deliveries(conn, conversion, click, offer, command.received_at, configs)
    return PostbackResult(outcome, conversion, owed), _rollup_change(
        conn, click, existing, conversion
    )


def _rollup_change(conn: Connection, click: Click, existing: Any, conversion: Conversion) -> Change:
    """What the report gains: a new conversion, or its move from the old status to the new,
    in the buckets of its creation time."""
    after = conversion_figures(
        conversion.status, to_units(conversion.revenue), to_units(conversion.payout)
    )
    if existing is None:
        subs = subs_of(click.subs)
        return Change(
            conversion.offer_id,
            conversion.affiliate_id,
            conversion.event,
            subs,
            rows.to_us(conversion.created_at),
            after,
        )
    before = conversion_figures(existing.status, existing.revenue, existing.payout)
    return Change(
        existing.offer_id,
        existing.affiliate_id,
        existing.event,
        _subs_of_click(conn, existing.click_id, click),
        existing.created_at,
        after - before,
    )


def _subs_of_click(conn: Connection, click_id: str, known: Click) -> Subs:
    """The subs of the conversion's own click: a status change identified by txid may
    arrive on another click of the same offer."""
    if click_id == known.click_id:
        return subs_of(known.subs)
    columns = [clicks.c[name] for name in ("sub1", "sub2", "sub3", "sub4", "sub5")]
    row = conn.execute(select(*columns).where(clicks.c.click_id == click_id)).first()
    return NO_SUBS if row is None else subs_of(tuple(row))


def _log(conn: Connection, entry: Any) -> int:
    return int(conn.execute(INSERT_LOG, rows.incoming_values(entry)).scalar_one())


def enqueue_deliveries(
    conn: Connection,
    conversion: Conversion,
    click: Click,
    offer: Offer,
    now: datetime,
    known: ConfigsByAffiliate | None = None,
) -> int:
    """The transactional outbox: render every owed postback now, send it later. `known`
    keeps the configs read for each affiliate during the transaction."""
    known = {} if known is None else known
    configs = known.get(conversion.affiliate_id)
    if configs is None:
        found = conn.execute(ACTIVE_CONFIGS, {"affiliate_id": conversion.affiliate_id})
        configs = known[conversion.affiliate_id] = [rows.postback_config(r) for r in found]
    return insert_deliveries(conn, configs, conversion, click, offer, now)


def insert_deliveries(
    conn: Connection,
    configs: Sequence[PostbackConfig],
    conversion: Conversion,
    click: Click,
    offer: Offer,
    now: datetime,
) -> int:
    """Render and store what the configs that fire for this conversion event owe."""
    event = conversion.outgoing_event
    chosen = [
        config
        for config in select_configs(
            configs, conversion.affiliate_id, offer.id, event, conversion.status
        )
        if config.network_level or affiliates_receive(offer, event)
    ]
    if not chosen:
        return 0
    now_us = rows.to_us(now)
    values = []
    for config in chosen:
        personal = config.network_level or offer.affiliate_personal_data
        fields = payload.event_fields(
            conversion, click, offer, now, config.network_level, personal_data=personal
        )
        request = payload.render(config, fields)
        values.append(
            {
                "message_id": new_message_id(),
                "conversion_id": conversion.id,
                "postback_id": config.id,
                "event": event,
                "status": conversion.status,
                "method": request.method,
                "url": request.url,
                "body": request.body,
                "content_type": request.content_type,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now_us,
                "claim_token": None,
                "claimed_until": None,
                "last_error": None,
                "created_at": now_us,
                "updated_at": now_us,
            }
        )
    conn.execute(INSERT_DELIVERY, values)
    return len(values)
