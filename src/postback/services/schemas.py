"""Field types and base models shared by every resource's schemas."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from functools import reduce
from types import GenericAlias, UnionType
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from postback.domain.macros import unknown_macros
from postback.domain.money import parse_amount

MAX_ID = 2**63 - 1
MAX_URL_LENGTH = 4096
MAX_TEMPLATE_LENGTH = 65_536
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def clean_text(value: str) -> str:
    """Text the database can hold: no NUL, no lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


# Strict: a JSON true is not the id 1.
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
Text = Annotated[str, AfterValidator(clean_text)]


def _at_most(limit: int) -> BeforeValidator:
    """A length limit on the text as sent, before any stripping (as the schema states it)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return BeforeValidator(check)


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    _at_most(255),
    AfterValidator(clean_text),
]


def known_list(known: Iterable[str]) -> list[str]:
    return sorted(known)


def macro_problem(template: str, known: Iterable[str], *, attributes: bool = False) -> str | None:
    """None when every {macro} is known, else a message naming the unknown and known ones.

    With `attributes`, `{attr.<name>}` macros are known too."""
    unknown = unknown_macros(template, known, attributes=attributes)
    if not unknown:
        return None
    names = " ".join(f"{{{name}}}" for name in unknown)
    listed = " ".join(f"{{{name}}}" for name in known_list(known))
    if attributes:
        listed += " {attr.<name>}"
    word = "macro" if len(unknown) == 1 else "macros"
    return f"unknown {word} {names}; known macros: {listed}"


def check_url(value: str) -> str:
    """An absolute http(s) URL template: no spaces or control characters."""
    clean_text(value)
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if _CONTROL.search(value):
        raise ValueError("must not contain spaces or control characters (encode them)")
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


def url_template(known: frozenset[str]) -> AfterValidator:
    """A URL whose {macros} are all in `known` (the error carries the known list)."""

    def validate(value: str) -> str:
        check_url(value)
        problem = macro_problem(value, known)
        if problem is not None:
            raise PydanticCustomError("unknown_macro", problem, {"known": known_list(known)})
        return value

    return AfterValidator(validate)


# ---- money ----------------------------------------------------------------------------


def _parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a number")
    if isinstance(value, float):
        value = repr(value)  # the shortest text that reads back as this float
    if isinstance(value, str) and len(value) > 64:
        raise ValueError("must be a decimal number")
    try:
        return parse_amount(value)
    except ArithmeticError:
        raise ValueError("must be a decimal number") from None


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_parse_money),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\d+(\.\d{1,4})?$"}],
            "description": "an amount >= 0 with at most 4 decimals",
            "examples": [12.5],
        }
    ),
]
Money = Annotated[
    Decimal, WithJsonSchema({"type": "number", "description": "exact, at most 4 decimals"})
]


# ---- times ----------------------------------------------------------------------------


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the microsecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_z, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _text_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time with its offset, as text")
    return value


# A moment in a body: ISO 8601 text with an offset ("Z", "+02:00"); no epoch numbers.
Moment = Annotated[AwareDatetime, BeforeValidator(_text_only)]


# ---- base models ----------------------------------------------------------------------


def _describe(schema: dict[str, Any], model: type[Any]) -> None:
    """The model's example, and in a PATCH: optional is not nullable (except NULLABLE)."""
    example = getattr(model, "EXAMPLE", None)
    if example is not None:
        schema["examples"] = [example]
    nullable: frozenset[str] | None = getattr(model, "NULLABLE", None)
    if nullable is not None:
        _without_null(schema, nullable)


class RequestModel(BaseModel):
    """A request body: unknown fields are refused."""

    EXAMPLE: ClassVar[dict[str, Any] | None] = None
    model_config = ConfigDict(extra="forbid", json_schema_extra=_describe)


def _without_null(schema: dict[str, Any], nullable: frozenset[str]) -> None:
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or not options:
            continue
        kept = [option for option in options if option.get("type") != "null"]
        prop.pop("anyOf")
        prop.pop("default", None)
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class PatchModel(RequestModel):
    """A partial update: only the fields sent change; null only where a field allows it."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("must not be null")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# Where FastAPI says a value came from; a field's name is what follows.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def param_name(loc: Sequence[int | str]) -> str:
    """A validation error's location as the name of the field it is about."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name = f"{name}.{part}" if name else str(part)
    return name or "body"


def record_fields(record: Any, **extra: object) -> dict[str, object]:
    """A record's fields as a dict, for building a view from it (a view keeps the fields it
    declares and ignores the rest), with `extra` values the record does not hold."""
    return {f.name: getattr(record, f.name) for f in fields(record)} | extra


# ---- views of records -----------------------------------------------------------------

View = TypeVar("View", bound=BaseModel)


def api_type(hint: Any) -> Any:
    """A record field's type as the API shows it: times as `Timestamp`, amounts as `Money`,
    tuples and mappings as lists and dicts; optional stays optional."""
    if hint is datetime:
        return Timestamp
    if hint is Decimal:
        return Money
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        return reduce(operator.or_, [api_type(arg) for arg in args])
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"no API type for {hint}: give the view's field in `extra`")
        return GenericAlias(list, (api_type(args[0]),))
    if origin in (dict, Mapping) and args:
        key, value = args
        return GenericAlias(dict, (api_type(key), api_type(value)))
    return hint


def _view_names(
    record: type[Any],
    include: Sequence[str] | None,
    exclude: Collection[str],
    extra: Mapping[str, Any],
) -> list[str]:
    """The view's field names in order, each one checked against the record."""
    own = [f.name for f in fields(record)]
    if include is None:
        unknown = set(exclude) - set(own)
        names = [name for name in own if name not in exclude and name not in extra]
        names += list(extra)
    else:
        if exclude:
            raise TypeError(f"{record.__name__} view: include or exclude, not both")
        unknown = set(include) - set(own) - set(extra)
        unplaced = set(extra) - set(include)
        if unplaced:
            raise TypeError(f"{record.__name__} view: place {sorted(unplaced)} in include")
        names = list(include)
    if unknown:
        raise TypeError(f"{record.__name__} has no field {sorted(unknown)}")
    return names


def record_view(
    record: type[Any],
    *,
    include: Sequence[str] | None = None,
    exclude: Collection[str] = (),
    extra: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Callable[[type[View]], type[View]]:
    """A class decorator that gives a view the fields of a record (a frozen dataclass), each
    typed by `api_type`. The view keeps the decorated class's name (its OpenAPI schema
    name), docstring (its description), base and methods.

    `include` is an allow-list, in the view's order: a new record field shows only once it
    is named there. Without it the view shows every field but those in `exclude`, new ones
    too. `extra` types the fields the record does not hold, or shows otherwise (the view's
    `of` computes them); `include` places them. `info` holds a field's `Field(...)`: its
    description, or its default (a field is required otherwise). A field declared in the
    decorated class's body would come before all of these: name it in `extra` instead."""
    extra = extra or {}
    info = info or {}
    hints = get_type_hints(record)

    def build(cls: type[View]) -> type[View]:
        names = _view_names(record, include, exclude, extra)
        stray = set(info) - set(names)
        if stray:
            raise TypeError(f"{cls.__name__}: no field {sorted(stray)} to describe")
        definitions: dict[str, Any] = {
            name: (
                extra[name] if name in extra else api_type(hints[name]),
                info.get(name, ...),
            )
            for name in names
        }
        return create_model(
            cls.__name__,
            __base__=cls,
            __module__=cls.__module__,
            __qualname__=cls.__qualname__,
            __doc__=cls.__doc__,
            **definitions,
        )

    return build
