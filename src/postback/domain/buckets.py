"""Report time buckets: which stored buckets make up a report's days and hours, exactly,
in any IANA time zone.

Rollups count in UTC buckets of five sizes (GRAINS): 15 minutes, 1 hour, 6 hours, 1 day
and 7 days, each aligned on the Unix epoch (weeks start on Thursdays, as 1970-01-01 did).
Every UTC offset in use today is a whole number of
quarter hours (+05:30 India, +05:45 Nepal, +08:45 Eucla, +12:45 Chatham, -09:30 Marquesas,
the 30-minute DST of Lord Howe), so every local midnight and every local hour starts on
a quarter-hour boundary in UTC: a report's days and hours are unions of whole buckets.
A report reads few buckets per day (or hour), subtracting those that stick out where that
saves reads: a UTC day is one bucket, a day in Kathmandu five (twelve added up without
subtraction); without grouping by day, whole weeks inside the range are one bucket each.

An installation may also keep local days of a few named zones (`zone_grain`): a day in
such a zone is then one bucket, as a UTC day is (`plan_zone_days`).

Where a zone's history has an offset that is not a whole number of quarter hours
(local mean time before standard time, Liberia until 1972), a day or hour boundary falls
inside a bucket; the plan refuses such a report rather than answer it approximately.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from postback.errors import InvalidInput

QUARTER = 900
HOUR = 3_600
DAY = 86_400
WEEK = 7 * DAY
#: Bucket sizes in seconds, largest first; each one divides the next larger one.
GRAINS = (WEEK, DAY, 6 * HOUR, HOUR, QUARTER)
US = 1_000_000

#: Offsets are sampled this often to find a zone's transitions, then bisected.
_SAMPLE = HOUR
_EPOCH_DATE = date(1970, 1, 1)


def bucket_start(moment_us: int, grain: int) -> int:
    """The start (microseconds) of the `grain`-second bucket holding `moment_us`."""
    return moment_us - moment_us % (grain * US)


def epoch_day(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - _EPOCH_DATE).days


def day_of(epoch_days: int) -> date:
    return _EPOCH_DATE + timedelta(days=epoch_days)


# ---- time zones -----------------------------------------------------------------------


@cache
def zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


@lru_cache(maxsize=512)
def load_zone(name: str) -> ZoneInfo:
    """The zone named `name` (IANA, exact spelling); InvalidInput('tz') otherwise."""
    if name not in zone_names():
        raise InvalidInput("tz", "must be an IANA time zone name such as UTC or Europe/Berlin")
    return ZoneInfo(name)


def offset_at(zone: ZoneInfo, moment: int) -> int:
    """The zone's UTC offset in seconds at `moment` (seconds since the epoch)."""
    offset = datetime.fromtimestamp(moment, zone).utcoffset()
    assert offset is not None
    return offset // timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Segment:
    """[start, end) in UTC seconds during which the zone keeps one offset."""

    start: int
    end: int
    offset: int


def _first_change(zone: ZoneInfo, low: int, high: int, offset: int) -> int:
    """The first second in (low, high] whose offset differs from `offset` (at `low`)."""
    while high - low > 1:
        middle = (low + high) // 2
        if offset_at(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high


def _scan(zone: ZoneInfo, start: int, end: int) -> list[Segment]:
    segments: list[Segment] = []
    begin, offset = start, offset_at(zone, start)
    sample = start
    while sample < end:
        following = min(sample + _SAMPLE, end)
        after = offset_at(zone, following)
        while after != offset:
            change = _first_change(zone, sample, following, offset)
            segments.append(Segment(begin, change, offset))
            begin, offset, sample = change, offset_at(zone, change), change
        sample = following
    segments.append(Segment(begin, end, offset))
    return segments


@lru_cache(maxsize=1024)
def _year_segments(name: str, year: int) -> tuple[Segment, ...]:
    start = epoch_day(date(year, 1, 1)) * DAY
    end = (epoch_day(date(year, 12, 31)) + 1) * DAY
    return tuple(_scan(load_zone(name), start, end))


def offset_segments(name: str, start: int, end: int) -> list[Segment]:
    """The zone's offsets over [start, end) (UTC seconds), one segment per offset run."""
    first_year = day_of(start // DAY).year
    last_year = day_of((end - 1) // DAY).year
    merged: list[Segment] = []
    for year in range(first_year, last_year + 1):
        for segment in _year_segments(name, year):
            if segment.end <= start or segment.start >= end:
                continue
            piece = Segment(max(segment.start, start), min(segment.end, end), segment.offset)
            if merged and merged[-1].offset == piece.offset and merged[-1].end == piece.start:
                merged[-1] = Segment(merged[-1].start, piece.end, piece.offset)
            else:
                merged.append(piece)
    return merged


# ---- plans ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """Buckets of one grain over [start, end) (UTC seconds, both multiples of the grain;
    for a zone's local days, the first day's start and the last day's end).

    `offset` (seconds) turns a bucket's start into local time: its day is
    (bucket + offset) // DAY and its hour (bucket + offset) // HOUR, counted from the epoch.
    `sign` is +1 for buckets added to their day (or hour) and -1 for buckets taken out of
    it: a bucket that sticks out of a day is cheaper to read whole and correct than to
    rebuild the day from many small ones.
    """

    grain: int
    start: int
    end: int
    offset: int
    sign: int = 1


class _Timeline:
    """Offsets over a window, with the instants where the local day (or hour) changes."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self._starts = [segment.start for segment in segments]

    def offset(self, moment: int) -> int:
        index = bisect.bisect_right(self._starts, moment) - 1
        return self.segments[max(index, 0)].offset

    def label(self, moment: int, period: int) -> int:
        return (moment + self.offset(moment)) // period

    def cuts(self, period: int) -> list[int]:
        """Every instant where the local `period` number changes, with the window's ends."""
        found = {self.segments[0].start, self.segments[-1].end}
        for segment in self.segments:
            found.add(segment.start)
            moment = segment.start + (-(segment.start + segment.offset)) % period
            while moment < segment.end:
                found.add(moment)
                moment += period
        ordered = sorted(found)
        first, last = ordered[0], ordered[-1]
        return [
            cut
            for cut in ordered
            if cut in (first, last) or self.label(cut, period) != self.label(cut - 1, period)
        ]


def _describe(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), HOUR)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def tile(start: int, end: int) -> Iterator[tuple[int, int]]:
    """(grain, bucket start) of the largest aligned buckets that exactly cover [start, end)."""
    moment = start
    while moment < end:
        for grain in GRAINS:
            if moment % grain == 0 and moment + grain <= end:
                yield grain, moment
                moment += grain
                break
        else:  # pragma: no cover - callers pass quarter-aligned bounds
            raise AssertionError("bounds must be multiples of 15 minutes")


Signed = tuple[tuple[int, int, int], ...]  # (grain, bucket start, +1 or -1)


def signed_cover(start: int, end: int) -> Signed:
    """Few aligned buckets whose signed sum is exactly [start, end).

    A local day in New York is nine buckets added up (an hour, three quarters of a day,
    five hours), but five with subtraction: the UTC day, minus its first six hours plus
    one, plus the next day's first six hours minus one. Each option widens one end of the
    range to a coarser boundary and takes the overhang back out, `_WIDENINGS` deep (deeper
    finds nothing better for any offset in use). Every grain divides a week, so the answer
    only depends on where the range sits in its week: it is worked out once per shape.
    """
    base = start - start % WEEK
    return tuple(
        (grain, base + bucket, sign)
        for grain, bucket, sign in _best_cover(start - base, end - base, _WIDENINGS)
    )


#: How many widenings deep signed_cover looks.
_WIDENINGS = 2


@lru_cache(maxsize=65_536)
def _best_cover(low: int, high: int, depth: int) -> Signed:
    choice: Signed = tuple((grain, bucket, 1) for grain, bucket in tile(low, high))
    if len(choice) <= 1 or depth == 0:
        return choice
    for grain in GRAINS:
        options = []
        if low % grain:
            wider = low - low % grain
            overhang = _best_cover(wider, low, depth - 1)
            options.append(_best_cover(wider, high, depth - 1) + _negated(overhang))
        if high % grain:
            wider = high + (-high) % grain
            overhang = _best_cover(high, wider, depth - 1)
            options.append(_best_cover(low, wider, depth - 1) + _negated(overhang))
        for option in options:
            if len(option) < len(choice):
                choice = option
    return choice


def _negated(pieces: Signed) -> Signed:
    return tuple((grain, bucket, -sign) for grain, bucket, sign in pieces)


def plan(zone_name: str, first: date, last: date, period: int | None) -> list[Piece]:
    """The buckets making up the local days first..last (inclusive) in the zone.

    With `period` (DAY or HOUR) no bucket straddles a local day (or hour), so grouping
    buckets by their local period number is exact; with None the buckets only have to
    stay inside the range, and the largest ones are used. InvalidInput('tz') when a
    boundary does not fall on a quarter hour.
    """
    load_zone(zone_name)
    low, high = epoch_day(first), epoch_day(last)
    window = _Timeline(offset_segments(zone_name, (low - 2) * DAY, (high + 3) * DAY))
    spans: list[tuple[int, int]] = []
    for start, end in pairwise(window.cuts(period or DAY)):
        if low <= window.label(start, DAY) <= high:
            for bound in (start, end):
                if bound % QUARTER:
                    raise _unaligned(zone_name, bound, window.offset(bound))
            if period is None and spans and spans[-1][1] == start:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    pieces: list[Piece] = []
    for start, end in spans:
        cover = signed_cover(start, end)
        # Buckets that stick out of the day (hour) are labelled with the day itself rather
        # than by their own start, so then each gets an offset of its own.
        sticks_out = any(sign < 0 for _, _, sign in cover)
        label = window.label(start, period) * period if period else 0
        for grain, bucket, sign in cover:
            if not period:
                offset = 0
            elif sticks_out:
                offset = label - bucket
            else:
                offset = window.offset(bucket)
            last_piece = pieces[-1] if pieces else None
            if (
                last_piece is not None
                and last_piece.sign == sign
                and last_piece.grain == grain
                and last_piece.offset == offset
                and last_piece.end == bucket
            ):
                pieces[-1] = Piece(grain, last_piece.start, bucket + grain, offset, sign)
            else:
                pieces.append(Piece(grain, bucket, bucket + grain, offset, sign))
    return pieces


def in_grains(pieces: Sequence[Piece], kept: Collection[int], period: int | None) -> list[Piece]:
    """The same buckets, labelled the same, in the grains of a rollup that keeps only
    `kept` (QUARTER always among them; a zone's local days, negative grains, stay as they
    are): each piece of a grain not kept becomes the same span in the largest kept grain
    that divides it.

    The smaller buckets take the piece's offset, which labels them as the bucket they
    are part of while the local clock does not change inside it. Where it does (a bucket
    holding a DST change, labelled by the offset at its start), that bucket's smaller
    ones get an offset of their own: its local start snapped to the start of its period."""
    fitted = []
    for piece in pieces:
        grain = piece.grain
        if grain < 0 or grain in kept:
            fitted.append(piece)
            continue
        smaller = max(g for g in kept if g > 0 and grain % g == 0)
        offset, sign = piece.offset, piece.sign
        if period is None or all(
            (bucket + offset) // period == (bucket + grain - smaller + offset) // period
            for bucket in range(piece.start, piece.end, grain)
        ):
            fitted.append(Piece(smaller, piece.start, piece.end, offset, sign))
            continue
        for bucket in range(piece.start, piece.end, grain):
            snapped = (bucket + offset) // period * period - bucket
            fitted.append(Piece(smaller, bucket, bucket + grain, snapped, sign))
    return fitted


# ---- local days of registered zones --------------------------------------------------


def zone_grain(zone_id: int) -> int:
    """The grain code of local days in registered zone number `zone_id` (1, 2, ...):
    negative, so it never meets a UTC grain, which is a positive number of seconds."""
    if zone_id < 1:
        raise ValueError("zone ids start at 1")
    return -zone_id


def local_days(zone_name: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) in UTC seconds of each local day that overlaps [start, end)."""
    low, high = start // DAY, (end - 1) // DAY
    window = _Timeline(offset_segments(zone_name, (low - 2) * DAY, (high + 3) * DAY))
    days = []
    for day_start, day_end in pairwise(window.cuts(DAY)[1:-1]):
        if day_end > start and day_start < end:
            days.append((day_start, day_end))
    return days


@lru_cache(maxsize=4096)
def _day_starts(zone_name: str, utc_day: int) -> tuple[int, ...]:
    window = _Timeline(offset_segments(zone_name, (utc_day - 2) * DAY, (utc_day + 3) * DAY))
    return tuple(window.cuts(DAY)[1:-1])


def local_day_start(zone_name: str, moment: int) -> int:
    """The UTC second where the zone's local day holding `moment` began."""
    starts = _day_starts(zone_name, moment // DAY)
    return starts[bisect.bisect_right(starts, moment) - 1]


def plan_zone_days(zone_name: str, grain: int, first: date, last: date) -> list[Piece]:
    """The local days first..last of a zone whose days are kept (grain `grain`), one
    bucket per day, grouped by day. Consecutive days share a piece whose offset labels
    each of them: a day's bucket starts at its local midnight, so (start + offset) // DAY
    is the day as long as the offset is at least that day's own and less than a day
    more; a piece ends where the days' offsets spread further (Apia's 24-hour jump).
    InvalidInput('tz') when a day does not start on a quarter hour."""
    load_zone(zone_name)
    low, high = epoch_day(first), epoch_day(last)
    window = _Timeline(offset_segments(zone_name, (low - 2) * DAY, (high + 3) * DAY))
    pieces: list[Piece] = []
    # The piece being built: start, end, smallest and largest day shift.
    current: list[int] | None = None
    for start, end in pairwise(window.cuts(DAY)):
        label = window.label(start, DAY)
        if not low <= label <= high:
            continue
        for bound in (start, end):
            if bound % QUARTER:
                raise _unaligned(zone_name, bound, window.offset(bound))
        shift = label * DAY - start
        if current is not None and current[1] == start:
            smallest, largest = min(current[2], shift), max(current[3], shift)
            if largest - smallest < DAY:
                current[1:] = [end, smallest, largest]
                continue
        if current is not None:
            pieces.append(Piece(grain, current[0], current[1], current[3]))
        current = [start, end, shift, shift]
    if current is not None:
        pieces.append(Piece(grain, current[0], current[1], current[3]))
    return pieces


def _unaligned(zone_name: str, moment: int, offset: int) -> InvalidInput:
    when = datetime.fromtimestamp(moment, UTC).date().isoformat()
    return InvalidInput(
        "tz",
        f"{zone_name} was {_describe(offset)} from UTC around {when}: its days or hours do not "
        "start on a quarter hour, which reports need to be exact; choose other dates or UTC",
    )
