"""Rows <-> domain records, times <-> integer microseconds.

A record's columns are its dataclass fields (domain/records.py): how each is read from a
row and written back follows from the field's type, so a new column is one field there
and one column in store/schema.py (and a migration), nothing here.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

from postback.domain.money import from_units, to_units
from postback.domain.records import (
    Advertiser,
    Affiliate,
    Alert,
    Attempt,
    Click,
    Conversion,
    Delivery,
    Incident,
    Offer,
    PostbackConfig,
    StatusChange,
    TrialSend,
)
from postback.store.base import IncomingEntry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SUB_COLUMNS = ("sub1", "sub2", "sub3", "sub4", "sub5")

R = TypeVar("R")
Convert = Callable[[Any], Any]


def to_us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, tz=UTC).replace(microsecond=value % 1_000_000)


def maybe_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_tuple(text: str | None) -> tuple[Any, ...]:
    return tuple(orjson.loads(text or "[]"))


def _maybe_json_tuple(text: str | None) -> tuple[Any, ...] | None:
    found = None if text is None else orjson.loads(text)
    return None if found is None else tuple(found)


def _json_dict(text: str | None) -> dict[str, Any]:
    return dict(orjson.loads(text or "{}"))


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """A field's type without `| None`, and whether None was allowed."""
    if get_origin(hint) in (Union, types.UnionType):
        others = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(others) == 1:
            return others[0], True
    return hint, False


def _keep_none(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _reading(hint: Any) -> Convert | None:
    """How a column's value becomes the field's value (None: as it is)."""
    kind, optional = _unwrap(hint)
    origin = get_origin(kind)
    if kind is datetime:
        return maybe_from_us if optional else from_us
    if kind is Decimal:
        return _keep_none(from_units) if optional else from_units
    if kind is bool:
        return _keep_none(bool) if optional else bool
    if origin is tuple:
        return _maybe_json_tuple if optional else _json_tuple
    if origin is dict:
        return _keep_none(_json_dict) if optional else _json_dict
    return None


def _writing(hint: Any) -> Convert | None:
    """How the field's value becomes the column's value (None: as it is)."""
    kind, _ = _unwrap(hint)
    origin = get_origin(kind)
    if kind is datetime:
        return _keep_none(to_us)
    if kind is Decimal:
        return lambda value: to_units(value) if isinstance(value, Decimal) else value
    if origin in (tuple, dict):
        return _json_text
    return None


def reader(record_type: type[R], **computed: Convert) -> Callable[[Any], R]:
    """A function from a row (attributes named as the fields) to a record; `computed`
    builds the fields that are not one column each from the whole row."""
    hints = get_type_hints(record_type)
    steps: list[Convert] = []
    for item in fields(record_type):  # type: ignore[arg-type]
        if item.name in computed:
            steps.append(computed[item.name])
            continue
        get = attrgetter(item.name)
        convert = _reading(hints[item.name])
        steps.append(get if convert is None else _composed(convert, get))

    def read(row: Any) -> R:
        return record_type(*[step(row) for step in steps])

    return read


def _composed(outer: Convert, inner: Convert) -> Convert:
    return lambda value: outer(inner(value))


def column_encoder(record_type: type[Any]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function from field values (all or some, by name) to column values; names that
    are not fields of the record pass as they are."""
    hints = get_type_hints(record_type)
    converts = {
        item.name: convert
        for item in fields(record_type)
        if (convert := _writing(hints[item.name])) is not None
    }

    def encode(values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: converts[name](value) if name in converts else value
            for name, value in values.items()
        }

    return encode


def writer(
    record_type: type[R], **spread: Callable[[Any], Mapping[str, Any]]
) -> Callable[[R], dict[str, Any]]:
    """A function from a record to its row's column values; `spread` turns a field that
    is several columns into those columns."""
    encode = column_encoder(record_type)
    names = [item.name for item in fields(record_type)]  # type: ignore[arg-type]

    def write(record: R) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in names:
            value = getattr(record, name)
            if name in spread:
                values.update(spread[name](value))
            else:
                values[name] = value
        return encode(values)

    return write


advertiser = reader(Advertiser)
offer = reader(Offer)
affiliate = reader(Affiliate)
click = reader(Click, subs=attrgetter(*SUB_COLUMNS))
click_values = writer(Click, subs=lambda subs: dict(zip(SUB_COLUMNS, subs, strict=True)))
conversion = reader(Conversion)
status_change = reader(StatusChange)
alert = reader(Alert)
incident = reader(Incident)
postback_config = reader(PostbackConfig)
delivery = reader(Delivery)
attempt = reader(Attempt)
trial_send = reader(TrialSend)
incoming_values = writer(IncomingEntry)


def utc_now() -> datetime:
    return datetime.now(UTC)
