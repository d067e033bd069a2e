"""Reports: the question (ReportQuery), the counted figures and the rows of the answer.

Figures follow the contract: `clicks`, `unique_clicks`, `bot_clicks` and `cost` by click
time; `conversions` by conversion time whatever their status now; `approved`, `pending`,
`rejected` by current status (refunded and chargeback in none); `revenue`, `payout`,
`profit` over approved conversions only; `cr` = conversions / clicks x 100 and `epc` =
payout / clicks, rounded half up to four decimals, 0 without clicks; `roi` = (revenue -
payout - cost) / (payout + cost) x 100 for the admin, (payout - cost) / cost x 100 for an
affiliate (its payout is its revenue, the cost its own), 0 where the divisor is 0. A
conversion stays in the bucket of its creation time: a later status change moves it
between columns there, it never moves it to another day.

Counters are integers (money in ten-thousandths) until the answer is written, where money
becomes Decimal: sums are exact however many rows they cover.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from typing import Any, NamedTuple

import orjson

from postback.domain.buckets import DAY, HOUR, load_zone
from postback.domain.money import SCALE, format_amount
from postback.errors import InvalidInput

SUBS = ("sub1", "sub2", "sub3", "sub4", "sub5")
#: Where and on what the visitor clicked (domain/visitor.py): one text each, '' unknown.
VISITOR_DIMENSIONS = ("country", "device", "os", "browser")
#: The text dimensions of a click, in the order the rollups key them.
TEXTS = (*SUBS, *VISITOR_DIMENSIONS)
DIMENSIONS = ("offer_id", "affiliate_id", "event", *TEXTS)
TIME_KEYS = ("day", "hour")
GROUP_KEYS = (*TIME_KEYS, *DIMENSIONS)
COUNTERS = (
    "clicks",
    "conversions",
    "approved",
    "pending",
    "rejected",
    "revenue",
    "payout",
    "unique_clicks",
    "bot_clicks",
    "cost",
)
METRICS = (
    "clicks",
    "unique_clicks",
    "bot_clicks",
    "conversions",
    "approved",
    "pending",
    "rejected",
    "revenue",
    "payout",
    "cost",
    "profit",
    "cr",
    "epc",
    "roi",
)
ADMIN_ONLY = frozenset({"revenue", "profit"})
MONEY = frozenset({"revenue", "payout", "cost", "profit"})

MAX_DAYS = 731
MAX_ROWS = 100_000
DEFAULT_LIMIT = 10_000
MAX_FILTER_VALUES = 500
MAX_SORT_KEYS = 12
FIRST_DATE = date(1971, 1, 1)
LAST_DATE = date(9998, 12, 31)
MAX_ID = 2**63 - 1
MAX_SUB_LENGTH = 255

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EVENT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ID = re.compile(r"[0-9]{1,19}")
# Text a spreadsheet would run as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ---- figures --------------------------------------------------------------------------


# A tuple, so that many are made by C loops (tuple.__new__) rather than a Python
# __init__ call each; a report's rows go further and keep theirs inside Group.
class Figures(NamedTuple):
    """Counters of one group; revenue, payout and cost in ten-thousandths.

    `+` and `-` add and subtract counter by counter, not as tuples do.
    """

    clicks: int = 0
    conversions: int = 0
    approved: int = 0
    pending: int = 0
    rejected: int = 0
    revenue: int = 0
    payout: int = 0
    unique_clicks: int = 0
    bot_clicks: int = 0
    cost: int = 0

    def __add__(self, other: tuple[int, ...]) -> Figures:  # type: ignore[override]
        return Figures(*map(operator.add, self, other))

    def __sub__(self, other: tuple[int, ...]) -> Figures:
        return Figures(*map(operator.sub, self, other))

    @property
    def is_zero(self) -> bool:
        return not any(self)

    @property
    def profit(self) -> int:
        return self.revenue - self.payout

    @property
    def cr_units(self) -> int:
        return _cr_units(self.conversions, self.clicks)

    @property
    def epc_units(self) -> int:
        return _epc_units(self.payout, self.clicks)

    def roi_units(self, admin: bool) -> int:
        return _roi_units(self.revenue, self.payout, self.cost, admin)


CLICK = Figures(clicks=1)


def click_figures(is_unique: bool, is_bot: bool, cost: int) -> Figures:
    """What one click adds to its bucket (cost in ten-thousandths)."""
    return Figures(clicks=1, unique_clicks=int(is_unique), bot_clicks=int(is_bot), cost=cost)


def conversion_figures(status: str, revenue: int, payout: int) -> Figures:
    """What one conversion in `status` adds to its bucket (money in ten-thousandths)."""
    approved = status == "approved"
    return Figures(
        conversions=1,
        approved=int(approved),
        pending=int(status == "pending"),
        rejected=int(status == "rejected"),
        revenue=revenue if approved else 0,
        payout=payout if approved else 0,
    )


def _cr_units(conversions: int, clicks: int) -> int:
    """Conversion rate in percent, in ten-thousandths."""
    return _ratio(conversions * 100 * SCALE, clicks)


def _epc_units(payout: int, clicks: int) -> int:
    """Payout per click in ten-thousandths."""
    return _ratio(payout, clicks)


def _roi_units(revenue: int, payout: int, cost: int, admin: bool) -> int:
    """Return on investment in percent, in ten-thousandths: the admin earns revenue and
    spends payout and cost; an affiliate earns payout and spends cost."""
    if admin:
        return _ratio((revenue - payout - cost) * 100 * SCALE, payout + cost)
    return _ratio((payout - cost) * 100 * SCALE, cost)


def _ratio(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero; 0 when denominator is 0."""
    if denominator == 0:
        return 0
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def _decimal(units: int) -> Decimal:
    """Ten-thousandths as an exact Decimal with four places (from_units, made cheaper)."""
    return Decimal(units).scaleb(-4)


def metric_values(figures: Figures, admin: bool) -> dict[str, int | Decimal]:
    values: dict[str, int | Decimal] = {
        "clicks": figures.clicks,
        "unique_clicks": figures.unique_clicks,
        "bot_clicks": figures.bot_clicks,
        "conversions": figures.conversions,
        "approved": figures.approved,
        "pending": figures.pending,
        "rejected": figures.rejected,
    }
    if admin:
        values["revenue"] = _decimal(figures.revenue)
    values["payout"] = _decimal(figures.payout)
    values["cost"] = _decimal(figures.cost)
    if admin:
        values["profit"] = _decimal(figures.profit)
    values["cr"] = _decimal(figures.cr_units)
    values["epc"] = _decimal(figures.epc_units)
    values["roi"] = _decimal(figures.roi_units(admin))
    return values


def sort_value(figures: Figures, name: str, admin: bool = True) -> int:
    """A metric as an exact integer, ordered like the value shown."""
    if name == "profit":
        return figures.profit
    if name == "cr":
        return figures.cr_units
    if name == "epc":
        return figures.epc_units
    if name == "roi":
        return figures.roi_units(admin)
    value: int = getattr(figures, name)
    return value


# ---- the question ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SortKey:
    name: str
    descending: bool = False


FilterValue = int | str


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A validated report request.

    `filters` maps a dimension to the values it may take; for subs, "" stands for a click
    without that sub. An empty tuple matches nothing.
    """

    first: date
    last: date
    tz: str
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, tuple[FilterValue, ...]] = field(default_factory=dict)
    sort: tuple[SortKey, ...] = ()
    limit: int = DEFAULT_LIMIT
    admin: bool = True

    @property
    def period(self) -> int | None:
        """The time buckets must not straddle: local hours, local days, or none."""
        if "hour" in self.group_by:
            return HOUR
        if "day" in self.group_by:
            return DAY
        return None

    @property
    def dimensions(self) -> frozenset[str]:
        """Every dimension the rollup read must keep: grouped or filtered."""
        grouped = {key for key in self.group_by if key in DIMENSIONS}
        return frozenset(grouped | set(self.filters))

    @property
    def matches_nothing(self) -> bool:
        return any(len(values) == 0 for values in self.filters.values())

    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS if self.admin else tuple(m for m in METRICS if m not in ADMIN_ONLY)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.group_by, *self.metrics)


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _date(text: str | None, param: str, default: date) -> date:
    if text is None or text == "":
        return default
    text = text.strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        found = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(param, "must be a date as YYYY-MM-DD") from None
    if not FIRST_DATE <= found <= LAST_DATE:
        raise InvalidInput(param, f"must be between {FIRST_DATE} and {LAST_DATE}")
    return found


def _group_by(values: Sequence[str]) -> tuple[str, ...]:
    chosen: list[str] = []
    for name in _split(values):
        if name not in GROUP_KEYS:
            raise InvalidInput(
                "group_by",
                f"unknown group_by {name[:64]!r}; use any of {', '.join(GROUP_KEYS)}",
                known=list(GROUP_KEYS),
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def _ids(name: str, values: Sequence[str]) -> tuple[int, ...]:
    found: list[int] = []
    texts = _split(values)
    if not texts:
        raise InvalidInput(name, f"{name} must be positive integers, comma-separated")
    for text in texts:
        if not _ID.fullmatch(text) or not 0 < int(text) <= MAX_ID:
            raise InvalidInput(name, f"{name} must be positive integers, comma-separated")
        found.append(int(text))
    return tuple(dict.fromkeys(found))


def _events(values: Sequence[str]) -> tuple[str, ...]:
    found = _split(values)
    if not found:
        raise InvalidInput("event", "event must be 1-64 characters of [A-Za-z0-9_.:-]")
    for event in found:
        if not _EVENT.fullmatch(event):
            raise InvalidInput("event", "event must be 1-64 characters of [A-Za-z0-9_.:-]")
    return tuple(dict.fromkeys(found))


def _subs(name: str, values: Sequence[str]) -> tuple[str, ...]:
    for value in values:
        if len(value) > MAX_SUB_LENGTH:
            raise InvalidInput(name, f"{name} is longer than {MAX_SUB_LENGTH} characters")
        if "\x00" in value:
            raise InvalidInput(name, f"{name} contains a NUL character")
    return tuple(dict.fromkeys(values))


def _filters(
    raw: Mapping[str, Sequence[str]], affiliate_id: int | None
) -> dict[str, tuple[FilterValue, ...]]:
    filters: dict[str, tuple[FilterValue, ...]] = {}
    for name, values in raw.items():
        if name not in DIMENSIONS:
            raise InvalidInput(name, f"{name} is not a report filter")
        if not values:
            continue
        parsed: tuple[FilterValue, ...]
        if name in {"offer_id", "affiliate_id"}:
            parsed = _ids(name, values)
        elif name == "event":
            parsed = _events(values)
        elif name == "country":
            parsed = _subs(name, [value.strip().upper() for value in values])
        else:
            parsed = _subs(name, values)
        if len(parsed) > MAX_FILTER_VALUES:
            raise InvalidInput(name, f"at most {MAX_FILTER_VALUES} values")
        if parsed:
            filters[name] = parsed
    if affiliate_id is not None:
        asked = filters.get("affiliate_id")
        filters["affiliate_id"] = (affiliate_id,) if asked is None or affiliate_id in asked else ()
    return filters


def _sort(
    values: Sequence[str], group_by: tuple[str, ...], metrics: tuple[str, ...]
) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for text in _split(values):
        descending = text.startswith("-")
        name = text.lstrip("+-")
        if name not in metrics and name not in group_by:
            raise InvalidInput(
                "sort",
                f"cannot sort by {name[:64]!r}: use a figure ({', '.join(metrics)}) or a "
                "group_by key, with - for descending",
            )
        keys.append(SortKey(name, descending))
    if len(keys) > MAX_SORT_KEYS:
        raise InvalidInput("sort", f"at most {MAX_SORT_KEYS} sort keys")
    return tuple(keys)


def _limit(text: str | int | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    raw = str(text).strip()
    if not _ID.fullmatch(raw) or not 1 <= int(raw) <= MAX_ROWS:
        raise InvalidInput("limit", f"must be an integer from 1 to {MAX_ROWS}")
    return int(raw)


def parse_query(
    *,
    first: str | None = None,
    last: str | None = None,
    tz: str | None = None,
    group_by: Sequence[str] = (),
    filters: Mapping[str, Sequence[str]] | None = None,
    sort: Sequence[str] = (),
    limit: str | int | None = None,
    affiliate_id: int | None = None,
    now: datetime | None = None,
) -> ReportQuery:
    """Validate a report request as the API and the CLI receive it (text values).

    Missing dates mean today in `tz`; `from` alone runs to today, `to` alone is one day.
    `affiliate_id` set means an affiliate asks: its own rows only, without revenue.
    """
    zone_name = (tz or "UTC").strip()
    zone = load_zone(zone_name)
    today = (now or datetime.now(zone)).astimezone(zone).date()
    last_day = _date(last, "to", today)
    first_day = _date(first, "from", last_day)
    if last_day < first_day:
        raise InvalidInput("to", "must not be before from")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise InvalidInput("to", f"a report covers at most {MAX_DAYS} days")
    grouped = _group_by(group_by)
    admin = affiliate_id is None
    metrics = METRICS if admin else tuple(m for m in METRICS if m not in ADMIN_ONLY)
    return ReportQuery(
        first=first_day,
        last=last_day,
        tz=zone_name,
        group_by=grouped,
        filters=_filters(filters or {}, affiliate_id),
        sort=_sort(sort, grouped, metrics),
        limit=_limit(limit),
        admin=admin,
    )


# ---- the answer -----------------------------------------------------------------------

Key = int | str | None


#: Counters at the end of every Group.
_COUNTED = len(COUNTERS)


class Group(tuple[Any, ...]):
    """One row: its group_by values (in the query's order), then its seven counters.

    One flat tuple, not keys and Figures apart: a report builds ten thousand of them
    straight from the driver's rows, one object each.
    """

    __slots__ = ()

    def __new__(cls, keys: Iterable[Key], figures: Iterable[int]) -> Group:
        return tuple.__new__(cls, (*keys, *figures))

    @property
    def keys(self) -> tuple[Key, ...]:
        return self[:-_COUNTED]

    @property
    def figures(self) -> Figures:
        return Figures._make(self[-_COUNTED:])

    def __repr__(self) -> str:
        return f"Group({self.keys!r}, {self.figures!r})"


@dataclass(frozen=True, slots=True)
class Report:
    query: ReportQuery
    rows: list[Group]
    totals: Figures
    row_count: int  # rows before the limit


def _key_order(value: Key) -> tuple[bool, Any]:
    return (value is not None, value)


def build_report(
    query: ReportQuery,
    groups: Iterable[Group],
    in_key_order: bool = False,
    totals: Figures | None = None,
) -> Report:
    """Totals over every group; rows sorted (group keys last, ascending) and limited.

    `in_key_order`: the groups already come sorted by their keys, missing values first.
    `totals`: the groups' totals, added up already, where no group is all zeros.
    """
    if totals is None:
        rows = [group for group in groups if not group.figures.is_zero]
        columns = zip(*(group.figures for group in rows), strict=True)
        totals = Figures(*(sum(column) for column in columns)) if rows else Figures()
    else:
        rows = list(groups)
    if not in_key_order:
        rows.sort(key=lambda group: tuple(_key_order(key) for key in group.keys))
    positions = {name: index for index, name in enumerate(query.group_by)}
    for key in reversed(query.sort):
        if key.name in positions:
            index = positions[key.name]
            rows.sort(key=lambda group: _key_order(group[index]), reverse=key.descending)
        else:
            name = key.name
            rows.sort(
                key=lambda group: sort_value(group.figures, name, query.admin),
                reverse=key.descending,
            )
    return Report(query, rows[: query.limit], totals, len(rows))


def row_fields(query: ReportQuery, group: Group) -> dict[str, Any]:
    fields: dict[str, Any] = dict(zip(query.group_by, group.keys, strict=True))
    fields.update(metric_values(group.figures, query.admin))
    return fields


def report_fields(report: Report) -> dict[str, Any]:
    """The JSON answer: {rows, totals, row_count}."""
    query = report.query
    return {
        "rows": [row_fields(query, group) for group in report.rows],
        "totals": metric_values(report.totals, query.admin),
        "row_count": report.row_count,
    }


def _money_text(units: int) -> str:
    """Ten-thousandths as the JSON number format_amount writes (12.5, 3, -0.0001)."""
    if not units:
        return "0"
    whole, part = divmod(abs(units), SCALE)
    text = f"{whole}.{part:04d}".rstrip("0") if part else str(whole)
    return f"-{text}" if units < 0 else text


def _key_members(name: str, values: Sequence[Key]) -> list[str]:
    """One key column as JSON members ("name":value,). Few distinct values (days,
    offers) repeat across the rows, so each is written once."""
    label = orjson.dumps(name).decode()
    written = {value: f"{label}:{orjson.dumps(value).decode()}," for value in set(values)}
    return list(map(written.__getitem__, values))


def _figures_json(found: Sequence[int], admin: bool) -> str:
    """The counters of one row as JSON metrics, in the order of metric_values."""
    (clicks, conversions, approved, pending, rejected, revenue, payout, unique, bots, cost) = found
    counts = (
        f'"clicks":{clicks},"unique_clicks":{unique},"bot_clicks":{bots},'
        f'"conversions":{conversions},"approved":{approved},'
        f'"pending":{pending},"rejected":{rejected},'
    )
    cr = _money_text(_cr_units(conversions, clicks))
    epc = _money_text(_epc_units(payout, clicks))
    roi = _money_text(_roi_units(revenue, payout, cost, admin))
    spent = f'"payout":{_money_text(payout)},"cost":{_money_text(cost)}'
    if admin:
        return (
            f'{counts}"revenue":{_money_text(revenue)},{spent},'
            f'"profit":{_money_text(revenue - payout)},"cr":{cr},"epc":{epc},"roi":{roi}'
        )
    return f'{counts}{spent},"cr":{cr},"epc":{epc},"roi":{roi}'


def report_json(report: Report) -> bytes:
    """report_fields as JSON, money as exact numbers. A report can hold a hundred
    thousand rows: each is written as text straight away, with no Decimal per cell and
    no dict per row."""
    query = report.query
    admin = query.admin
    rows = report.rows
    width = len(query.group_by)
    columns = zip(*rows, strict=True)
    members = list(map(_key_members, query.group_by, columns))
    keys = map("".join, zip(*members, strict=True)) if members else repeat("", len(rows))
    written = ",".join(
        f"{{{key}{_figures_json(row[width:], admin)}}}" for key, row in zip(keys, rows, strict=True)
    )
    totals = _figures_json(report.totals, admin)
    return f'{{"rows":[{written}],"totals":{{{totals}}},"row_count":{report.row_count}}}'.encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


def report_csv(report: Report) -> str:
    """The rows as CSV (RFC 4180) with a header of the same columns as the JSON rows.

    Text that a spreadsheet would run as a formula (=, +, -, @ first) gets a leading '.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = report.query.columns
    writer.writerow(columns)
    for group in report.rows:
        fields = row_fields(report.query, group)
        writer.writerow([_cell(fields[name]) for name in columns])
    return out.getvalue()
