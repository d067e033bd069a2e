"""Applying incoming postbacks: conversion, history, owed deliveries, log and report
rollups, in one transaction.

Written against a synchronous SQLAlchemy connection so that the same code runs on a
PostgreSQL connection (through `AsyncConnection.run_sync`) and, for SQLite, on a plain
connection inside the writer thread, where a whole batch costs one thread hand-off
instead of several per statement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from postback.domain import payload
from postback.domain.attributes import merge
from postback.domain.conversion import Outcome, click_expired, decide, identity_key
from postback.domain.ids import new_message_id
from postback.domain.lifecycle import (
    FIRST_STATUS,
    ORDER_EVENT,
    affiliates_receive,
    decide_stage,
    is_lifecycle,
    next_status,
)
from postback.domain.money import to_units
from postback.domain.records import Click, Conversion, Offer, PostbackConfig
from postback.domain.report import TEXTS, conversion_figures
from postback.domain.routing import select_configs
from postback.errors import (
    ClickExpired,
    DuplicateKey,
    InvalidTransition,
    PostbackError,
    StoreUnavailable,
)
from postback.store import pending, rows
from postback.store.base import IncomingEntry, PostbackCommand, PostbackResult
from postback.store.rollups import NO_TEXTS, Change, Deltas, Texts, click_texts, texts_of
from postback.store.schema import (
    clicks,
    conversion_history,
    conversions,
    deliveries,
    incoming_log,
    kept_clicks,
    postback_configs,
)

ConfigsByAffiliate = dict[int, list[PostbackConfig]]
# Refusals decided before anything is written: a batch without savepoints answers them
# on their own and goes on.
REFUSED_UNWRITTEN = (InvalidTransition, ClickExpired)

# Built once: constructing a statement (and its cache key) per postback cost more than
# running it. Each is executed with a parameter dict, so SQLAlchemy compiles it once.
FIND_CONVERSION = select(conversions).where(conversions.c.identity_key == bindparam("key"))
FIND_CONVERSION_LOCKED = FIND_CONVERSION.with_for_update()
INSERT_CONVERSION = insert(conversions).returning(conversions)
INSERT_HISTORY = insert(conversion_history)
INSERT_LOG = insert(incoming_log).returning(incoming_log.c.id)
# Many rows in one statement, their returned rows in the order of their parameters.
FIND_CONVERSIONS = (
    select(conversions.c.identity_key)
    .where(conversions.c.identity_key.in_(bindparam("keys", expanding=True)))
    .order_by(conversions.c.identity_key)
)
FIND_CONVERSIONS_LOCKED = FIND_CONVERSIONS.with_for_update()
INSERT_CONVERSIONS = insert(conversions).returning(conversions, sort_by_parameter_order=True)
INSERT_LOGS = insert(incoming_log).returning(incoming_log.c.id, sort_by_parameter_order=True)
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
    transaction back and runs the batch again with savepoints. So is a new conversion
    for a click older than its offer's attribution window (ClickExpired)."""
    outcomes: list[PostbackResult | BaseException] = []
    deltas = Deltas()
    # The configs of each affiliate, read once per batch (one transaction, one answer).
    configs: ConfigsByAffiliate = {}
    for command in commands:
        if not savepoints:
            try:
                result, change = _apply(conn, command, row_locks, configs)
            except REFUSED_UNWRITTEN as exc:
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
    pending.record(conn, deltas)
    return outcomes


def apply_batch_optimistic(
    conn: Connection, commands: Sequence[PostbackCommand], row_locks: bool
) -> list[PostbackResult | BaseException]:
    """`apply_batch` without savepoints, and new conversions written together: one
    statement per table for the whole batch instead of one per postback each. The caller
    runs the batch again with savepoints, in a new transaction, when this raises (a
    conversion another process created meanwhile, say)."""
    identities = [_identity(command) for command in commands]
    keys = [key for _event, key, _lifecycle in identities]
    if len(set(keys)) < len(keys):  # one order twice: each must see the one before
        return apply_batch(conn, commands, row_locks, savepoints=False)
    query = FIND_CONVERSIONS_LOCKED if row_locks else FIND_CONVERSIONS
    known = {row.identity_key for row in conn.execute(query, {"keys": keys})}
    outcomes: list[PostbackResult | BaseException | None] = [None] * len(commands)
    deltas = Deltas()
    configs: ConfigsByAffiliate = {}
    created: list[tuple[int, PostbackCommand, dict[str, Any], IncomingEntry]] = []
    for n, command in enumerate(commands):
        event, key, lifecycle = identities[n]
        if key in known:  # a status change or a repeat: one at a time, as always
            try:
                result, change = _apply(conn, command, row_locks, configs)
            except REFUSED_UNWRITTEN as exc:
                outcomes[n] = exc
                continue
            outcomes[n] = result
            if change is not None:
                deltas.add(change)
            continue
        expired = _expired(command)
        if expired is not None:
            outcomes[n] = expired
            continue
        status = command.status or FIRST_STATUS
        attributes = merge({}, command.attributes)
        values = _new_conversion(command, key, event, lifecycle, status, attributes)
        log = replace(
            command.log, result=Outcome.CREATED.value, advertiser_id=command.offer.advertiser_id
        )
        created.append((n, command, values, log))
    if created:
        # In key order: two batches creating the same conversions wait on each other's
        # unique keys in one order, and cannot deadlock.
        created.sort(key=lambda entry: str(entry[2]["identity_key"]))
        made = [
            rows.conversion(row)
            for row in conn.execute(INSERT_CONVERSIONS, [values for _, _, values, _ in created])
        ]
        log_ids = (
            conn.execute(
                INSERT_LOGS,
                [
                    rows.incoming_values(replace(log, conversion_id=conversion.id))
                    for (_, _, _, log), conversion in zip(created, made, strict=True)
                ],
            )
            .scalars()
            .all()
        )
        conn.execute(
            INSERT_HISTORY,
            [
                _history(conversion, None, log_id, rows.to_us(command.received_at))
                for (_, command, _, _), conversion, log_id in zip(
                    created, made, log_ids, strict=True
                )
            ],
        )
        owed = _enqueue_all(
            conn,
            [
                (conversion, command)
                for (_, command, _, _), conversion in zip(created, made, strict=True)
            ],
            configs,
        )
        for (n, command, _, _), conversion, count in zip(created, made, owed, strict=True):
            outcomes[n] = PostbackResult(Outcome.CREATED, conversion, count)
            deltas.add(_rollup_change(conn, command.click, None, conversion))
    pending.record(conn, deltas)
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def _identity(command: PostbackCommand) -> tuple[str, str, bool]:
    """The conversion's event, identity key, and whether the event is a lifecycle stage
    (every lifecycle event of one order lands on the order's one conversion)."""
    lifecycle = is_lifecycle(command.event, command.offer.lifecycle_events)
    event = ORDER_EVENT if lifecycle else command.event
    return (
        event,
        identity_key(command.offer.id, command.click.click_id, event, command.txid),
        lifecycle,
    )


def _expired(command: PostbackCommand) -> ClickExpired | None:
    """The refusal of a new conversion whose click is older than its offer's window."""
    days = command.offer.attribution_days
    if click_expired(command.click.created_at, command.received_at, days):
        return ClickExpired(days)
    return None


def _new_conversion(
    command: PostbackCommand,
    key: str,
    event: str,
    lifecycle: bool,
    status: str,
    attributes: Mapping[str, Any],
) -> dict[str, Any]:
    offer, now = command.offer, rows.to_us(command.received_at)
    revenue = command.revenue if command.revenue is not None else offer.revenue
    return {
        "identity_key": key,
        "click_id": command.click.click_id,
        "offer_id": offer.id,
        "affiliate_id": command.click.affiliate_id,
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
        "attributes": orjson.dumps(attributes).decode() if attributes else None,
    }


def _history(
    conversion: Conversion, from_status: str | None, log_id: int, now: int
) -> dict[str, Any]:
    return {
        "conversion_id": conversion.id,
        "from_status": from_status,
        "to_status": conversion.status,
        "revenue": to_units(conversion.revenue),
        "incoming_id": log_id,
        "created_at": now,
        "stage": conversion.stage,
    }


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
    """Raises InvalidTransition before writing anything when the state machine refuses,
    and ClickExpired when it would create a conversion for a click older than its
    offer's attribution window."""
    result, change = _apply(conn, command, row_locks, {})
    if change is not None:
        deltas = Deltas()
        deltas.add(change)
        pending.record(conn, deltas)
    return result


def _apply(
    conn: Connection, command: PostbackCommand, row_locks: bool, configs: ConfigsByAffiliate
) -> tuple[PostbackResult, Change | None]:
    click, offer = command.click, command.offer
    event, key, lifecycle = _identity(command)
    query = FIND_CONVERSION_LOCKED if row_locks else FIND_CONVERSION
    existing = conn.execute(query, {"key": key}).first()
    before = rows.conversion(existing) if existing else None
    if before is None and (expired := _expired(command)) is not None:
        raise expired  # only a new conversion: an existing one changes at any age
    status = command.status or (before.status if before else FIRST_STATUS)
    attributes = merge(before.attributes if before else {}, command.attributes)
    if lifecycle:
        status = next_status(before.status if before else None, status)
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

    if outcome is Outcome.CREATED:
        values = _new_conversion(command, key, event, lifecycle, status, attributes)
        row = conn.execute(INSERT_CONVERSION, values).one()
    else:
        assert existing is not None
        changes: dict[str, Any] = {
            "status": status,
            "updated_at": now,
            "attributes": orjson.dumps(attributes).decode() if attributes else None,
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
        INSERT_HISTORY, _history(conversion, existing.status if existing else None, log_id, now)
    )
    status_kept = existing is not None and existing.status == conversion.status
    owed = enqueue_deliveries(
        conn, conversion, click, offer, command.received_at, configs, status_kept
    )
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
        return Change(
            conversion.offer_id,
            conversion.affiliate_id,
            conversion.event,
            click_texts(click),
            rows.to_us(conversion.created_at),
            after,
        )
    before = conversion_figures(existing.status, existing.revenue, existing.payout)
    return Change(
        existing.offer_id,
        existing.affiliate_id,
        existing.event,
        _texts_of_click(conn, existing.click_id, click),
        existing.created_at,
        after - before,
    )


_TEXT_COLUMNS = [clicks.c[name] for name in TEXTS]
_KEPT_TEXT_COLUMNS = [kept_clicks.c[name] for name in TEXTS]


def _texts_of_click(conn: Connection, click_id: str, known: Click) -> Texts:
    """The subs, country and device of the conversion's own click: a status change
    identified by txid may arrive on another click of the same offer."""
    if click_id == known.click_id:
        return click_texts(known)
    row = conn.execute(select(*_TEXT_COLUMNS).where(clicks.c.click_id == click_id)).first()
    if row is None:  # purged: its conversions keep a copy
        row = conn.execute(
            select(*_KEPT_TEXT_COLUMNS).where(kept_clicks.c.click_id == click_id)
        ).first()
    return NO_TEXTS if row is None else texts_of(tuple(row[:5]), *row[5:])


def _log(conn: Connection, entry: Any) -> int:
    return int(conn.execute(INSERT_LOG, rows.incoming_values(entry)).scalar_one())


def enqueue_deliveries(
    conn: Connection,
    conversion: Conversion,
    click: Click,
    offer: Offer,
    now: datetime,
    known: ConfigsByAffiliate | None = None,
    status_kept: bool = False,
) -> int:
    """The transactional outbox: render every owed postback now, send it later. `known`
    keeps the configs read for each affiliate during the transaction; `status_kept`: an
    order's new stage left its status as it was."""
    configs = _active_configs(conn, conversion.affiliate_id, {} if known is None else known)
    return insert_deliveries(conn, configs, conversion, click, offer, now, status_kept)


def _active_configs(
    conn: Connection, affiliate_id: int, known: ConfigsByAffiliate
) -> list[PostbackConfig]:
    """The affiliate's active configs (and the global ones), read once per transaction."""
    configs = known.get(affiliate_id)
    if configs is None:
        found = conn.execute(ACTIVE_CONFIGS, {"affiliate_id": affiliate_id})
        configs = known[affiliate_id] = [rows.postback_config(r) for r in found]
    return configs


def _enqueue_all(
    conn: Connection,
    made: Sequence[tuple[Conversion, PostbackCommand]],
    known: ConfigsByAffiliate,
) -> list[int]:
    """`enqueue_deliveries` for new conversions of one batch, in one statement; how many
    each owes."""
    owed: list[int] = []
    values: list[dict[str, Any]] = []
    for conversion, command in made:
        configs = _active_configs(conn, conversion.affiliate_id, known)
        rendered = delivery_rows(
            configs, conversion, command.click, command.offer, command.received_at
        )
        owed.append(len(rendered))
        values.extend(rendered)
    if values:
        conn.execute(INSERT_DELIVERY, values)
    return owed


def insert_deliveries(
    conn: Connection,
    configs: Sequence[PostbackConfig],
    conversion: Conversion,
    click: Click,
    offer: Offer,
    now: datetime,
    status_kept: bool = False,
) -> int:
    """Render and store what the configs that fire for this conversion event owe."""
    values = delivery_rows(configs, conversion, click, offer, now, status_kept)
    if values:
        conn.execute(INSERT_DELIVERY, values)
    return len(values)


def delivery_rows(
    configs: Sequence[PostbackConfig],
    conversion: Conversion,
    click: Click,
    offer: Offer,
    now: datetime,
    status_kept: bool = False,
) -> list[dict[str, Any]]:
    """The deliveries the configs that fire for this conversion event owe, rendered. A
    config that hears only of status changes (a tracker's) is not told of a new stage
    that kept the order's status: it would count the sale twice."""
    event = conversion.outgoing_event
    chosen = [
        config
        for config in select_configs(
            configs, conversion.affiliate_id, offer.id, event, conversion.status
        )
        if (config.network_level or affiliates_receive(offer, event))
        and not (status_kept and config.status_changes_only)
    ]
    if not chosen:
        return []
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
    return values
