"""Data reported offline from CSV files: conversions, through the same use case as an
incoming postback (services/recording.py: identity, state machine, deliveries, rollups,
incoming log), and traffic costs (services/costs.py).

Columns (a header row names them; only `click_id` is required): `click_id`, `txid`,
`event`, `status`, `revenue`, `currency`, `time` (ISO 8601; without an offset it is
UTC; default: now) and `attr.<name>` for attributes; the contract's aliases work as
column names too. Importing a file again changes nothing: every row is then a duplicate,
or a status the conversion has already moved past.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from postback.domain.costs import MAX_FILE_ROWS as MAX_COST_ROWS
from postback.errors import InvalidInput, InvalidTransition, PostbackError, UnknownClick
from postback.services.costs import CostsOut, apply_rows
from postback.services.recording import Ignored, LogDraft, record_postback
from postback.store.base import IncomingEntry
from postback.store.sql import Store

MAX_CELL = 8192


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    duplicate: int = 0
    # Rows whose event the advertiser's map says to ignore.
    ignored: int = 0
    # (line, message): rows refused as malformed or naming an unknown click.
    errors: list[tuple[int, str]] = field(default_factory=list)
    # (line, message): status changes the state machine refuses, usually because the
    # conversion already moved past that status (a file imported again).
    refused: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        answered = self.created + self.updated + self.duplicate + self.ignored
        return answered + len(self.errors) + len(self.refused)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, list[str]]]]:
    """(line number, fields) per data row; InvalidInput for a file that is not a CSV
    with a click_id column."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {path}: {exc.strerror}") from None
    with handle:
        try:
            reader = csv.DictReader(handle)
            names = reader.fieldnames or []
            if not {"click_id", "clickid", "cid", "subid"} & set(names):
                raise InvalidInput("file", "the header row has no click_id column")
            for record in reader:
                line = reader.line_num
                params = {
                    name.strip(): [value.strip()]
                    for name, value in record.items()
                    if name and isinstance(value, str) and value.strip()
                }
                if any(len(values[0]) > MAX_CELL for values in params.values()):
                    yield line, {"": ["\x00"]}
                    continue
                yield line, params
        except UnicodeDecodeError:
            raise InvalidInput("file", "the file is not UTF-8 text") from None
        except csv.Error as exc:
            raise InvalidInput("file", f"not a readable CSV file: {exc}") from None


def parse_time(text: str | None, now: datetime) -> datetime:
    if not text:
        return now
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("time", "time must be ISO 8601, e.g. 2026-05-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > now:
        raise InvalidInput("time", "time is in the future")
    return moment.astimezone(UTC)


async def import_row(
    store: Store, source: str, line: int, params: dict[str, list[str]], now: datetime
) -> str:
    """Apply one row; the outcome ("created", "updated", "duplicate") or an exception."""
    if "" in params:
        raise InvalidInput("row", f"a cell is longer than {MAX_CELL} characters")
    received_at = parse_time(params.get("time", [None])[0], now)
    draft = LogDraft(
        IncomingEntry(
            received_at=received_at,
            method="IMPORT",
            ip=None,
            query=f"{source}:{line}",
            body=None,
            http_status=200,
            result="pending",
        )
    )
    try:
        # An operator's file: no token or signature to check.
        result = await record_postback(store, params, draft, None, received_at)
    except UnknownClick as exc:
        raise InvalidInput("click_id", _unknown(exc, draft.entry.click_id)) from None
    if isinstance(result, Ignored):
        return "ignored"
    return result.outcome.value


def _unknown(exc: UnknownClick, click_id: str | None) -> str:
    if exc.message.startswith("no click"):
        return f"no click {click_id}"
    return exc.message


async def import_file(
    store: Store,
    path: Path,
    advance: Callable[[], None] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Every row of the file, in order; `advance()` is called after each."""
    summary = ImportSummary()
    moment = now or datetime.now(UTC)
    for line, params in read_rows(path):
        try:
            outcome = await import_row(store, path.name, line, params, moment)
        except InvalidTransition as exc:
            summary.refused.append((line, exc.message))
        except PostbackError as exc:
            if exc.code in {"unavailable", "store_error"}:
                raise
            param = getattr(exc, "param", None)
            summary.errors.append((line, f"{param}: {exc.message}" if param else exc.message))
        else:
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        if advance is not None:
            advance()
    return summary


def count_rows(path: Path) -> int:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)
    except (OSError, UnicodeDecodeError, csv.Error):
        return 0


# ---- costs ------------------------------------------------------------------------------


def read_cost_rows(path: Path) -> list[dict[str, str]]:
    """The data rows of a costs CSV (header: day, offer_id, affiliate_id, amount, and
    optionally sub1..sub5), empty cells left out; InvalidInput for a file that is not one."""
    required = ("day", "offer_id", "affiliate_id", "amount")
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {path}: {exc.strerror}") from None
    found: list[dict[str, str]] = []
    with handle:
        try:
            reader = csv.DictReader(handle)
            names = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in required if name not in names]
            if missing:
                raise InvalidInput("file", f"the header row has no {', '.join(missing)} column")
            for record in reader:
                if len(found) == MAX_COST_ROWS:
                    raise InvalidInput("file", f"more than {MAX_COST_ROWS} rows: split the file")
                found.append(
                    {
                        (name or "").strip(): value.strip()
                        for name, value in record.items()
                        if isinstance(value, str) and value.strip()
                    }
                )
        except UnicodeDecodeError:
            raise InvalidInput("file", "the file is not UTF-8 text") from None
        except csv.Error as exc:
            raise InvalidInput("file", f"not a readable CSV file: {exc}") from None
    return found


def _line(index: int) -> str:
    return f"line {index + 2}"  # the header is line 1


async def import_costs(store: Store, path: Path, tz: str = "UTC") -> CostsOut:
    """Every row of a costs CSV, checked first, then each spread over its clicks."""
    return await apply_rows(store, read_cost_rows(path), tz, _line)
