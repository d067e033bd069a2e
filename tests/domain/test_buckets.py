"""Report buckets: the plan covers exactly the local days asked for, in any zone."""

from __future__ import annotations

import os
import struct
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import TZPATH, ZoneInfo, available_timezones

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain.buckets import (
    DAY,
    GRAINS,
    HOUR,
    QUARTER,
    WEEK,
    bucket_start,
    epoch_day,
    in_grains,
    load_zone,
    local_day_start,
    local_days,
    offset_segments,
    plan,
    plan_zone_days,
    signed_cover,
    tile,
    zone_grain,
)
from postback.errors import InvalidInput

# Where the calendar is hardest: DST both ways, half-hour and 45-minute offsets, a
# 30-minute DST (Lord Howe), a zone that falls back across midnight (Asuncion), a day that
# never happened (Apia, 2011-12-30), and the contract's examples.
CASES = [
    ("UTC", date(2024, 3, 9), date(2024, 3, 12)),
    ("America/New_York", date(2024, 3, 9), date(2024, 3, 11)),
    ("America/New_York", date(2024, 11, 2), date(2024, 11, 4)),
    ("Asia/Kolkata", date(2024, 1, 30), date(2024, 2, 2)),
    ("Asia/Kathmandu", date(2024, 12, 30), date(2025, 1, 2)),
    ("Australia/Lord_Howe", date(2024, 4, 6), date(2024, 4, 8)),
    ("Australia/Lord_Howe", date(2024, 10, 5), date(2024, 10, 7)),
    ("Pacific/Chatham", date(2024, 9, 28), date(2024, 9, 30)),
    ("Australia/Eucla", date(2024, 6, 1), date(2024, 6, 2)),
    ("Pacific/Marquesas", date(2024, 6, 1), date(2024, 6, 2)),
    ("America/St_Johns", date(2024, 11, 2), date(2024, 11, 4)),
    ("America/Asuncion", date(2024, 3, 23), date(2024, 3, 25)),
    ("Pacific/Apia", date(2011, 12, 28), date(2012, 1, 1)),
    ("Europe/London", date(2024, 3, 30), date(2024, 4, 1)),
]


def quarters(start: int, end: int) -> Iterator[int]:
    yield from range(start, end, QUARTER)


def local_label(zone: ZoneInfo, moment: int, period: int) -> tuple[date, int | None]:
    local = datetime.fromtimestamp(moment, zone)
    return local.date(), (local.hour if period == HOUR else None)


def expected_quarters(
    name: str, first: date, last: date, period: int
) -> dict[int, tuple[date, int | None]]:
    """Every UTC quarter hour whose local date is in the range, with its local day/hour,
    straight from zoneinfo, one quarter at a time."""
    zone = ZoneInfo(name)
    start = int(datetime.combine(first - timedelta(days=2), datetime.min.time(), UTC).timestamp())
    end = int(datetime.combine(last + timedelta(days=3), datetime.min.time(), UTC).timestamp())
    found = {}
    for quarter in quarters(start, end):
        label = local_label(zone, quarter, period)
        # The whole quarter lies in one local day (hour): the first and last second agree.
        assert local_label(zone, quarter + QUARTER - 1, period) == label
        if first <= label[0] <= last:
            found[quarter] = label
    return found


def planned_quarters(
    name: str, first: date, last: date, period: int, kept: frozenset[int] | None = None
) -> dict[int, tuple[date, int | None]]:
    """The plan's buckets (in the `kept` grains only, when given) cut into quarters, each
    labelled the way the SQL labels it, and counted with its piece's sign: every quarter
    must end up in exactly one label once."""
    counts: dict[int, Counter[tuple[date, int | None]]] = defaultdict(Counter)
    pieces = plan(name, first, last, period)
    if kept is not None:
        pieces = in_grains(pieces, kept, period)
        assert {piece.grain for piece in pieces} <= kept
    for piece in pieces:
        assert piece.start % piece.grain == 0 and piece.end % piece.grain == 0
        assert piece.sign in (1, -1)
        for bucket in range(piece.start, piece.end, piece.grain):
            local = bucket + piece.offset
            day = date(1970, 1, 1) + timedelta(days=local // DAY)
            hour = (local // HOUR) % 24 if period == HOUR else None
            for quarter in quarters(bucket, bucket + piece.grain):
                counts[quarter][(day, hour)] += piece.sign
    found = {}
    for quarter, labels in counts.items():
        left = {label: count for label, count in labels.items() if count}
        if left:
            assert list(left.values()) == [1], f"quarter {quarter} counted {left}"
            found[quarter] = next(iter(left))
    return found


@pytest.mark.parametrize(("name", "first", "last"), CASES)
@pytest.mark.parametrize("period", [DAY, HOUR])
def test_plan_is_the_local_calendar(name: str, first: date, last: date, period: int) -> None:
    assert planned_quarters(name, first, last, period) == expected_quarters(
        name, first, last, period
    )


@pytest.mark.parametrize(("name", "first", "last"), CASES)
@pytest.mark.parametrize("period", [DAY, HOUR])
@pytest.mark.parametrize("kept", [frozenset({DAY, QUARTER}), frozenset({QUARTER})])
def test_a_plan_in_fewer_grains_is_the_same_calendar(
    name: str, first: date, last: date, period: int, kept: frozenset[int]
) -> None:
    """Rollups keeping only some grains (store/rollups.py FEW_GRAINS) read the same days."""
    assert planned_quarters(name, first, last, period, kept) == expected_quarters(
        name, first, last, period
    )


@pytest.mark.parametrize(("name", "first", "last"), CASES)
def test_plan_without_time_grouping_covers_the_same_range(
    name: str, first: date, last: date
) -> None:
    counts: Counter[int] = Counter()
    for piece in plan(name, first, last, None):
        assert piece.offset == 0
        for quarter in quarters(piece.start, piece.end):
            counts[quarter] += piece.sign
    assert set(counts.values()) <= {0, 1}
    covered = {quarter for quarter, count in counts.items() if count}
    assert covered == set(expected_quarters(name, first, last, DAY))


def test_a_utc_month_is_one_run_of_day_buckets() -> None:
    pieces = plan("UTC", date(2024, 1, 1), date(2024, 1, 30), DAY)
    assert [(p.grain, p.end - p.start) for p in pieces] == [(DAY, 30 * DAY)]


def test_without_days_whole_weeks_are_one_bucket_each() -> None:
    # 2024-03-01 is a Friday; epoch weeks start on Thursdays (1970-01-01 was one): four
    # weeks from Thursday 02-29, less that Thursday, plus the last three days.
    pieces = plan("UTC", date(2024, 3, 1), date(2024, 3, 30), None)
    assert [(p.grain, (p.end - p.start) // p.grain, p.sign) for p in pieces] == [
        (WEEK, 4, 1),
        (DAY, 3, 1),
        (DAY, 1, -1),
    ]


@pytest.mark.parametrize(
    ("name", "most", "added_up"),
    [
        ("America/New_York", 7, 9),  # -04:00 in June
        ("Asia/Kolkata", 7, 12),
        ("Asia/Kathmandu", 5, 12),
        ("UTC", 1, 1),
    ],
)
def test_a_local_day_reads_few_buckets(name: str, most: int, added_up: int) -> None:
    """Subtracting what sticks out beats adding small buckets up (`added_up` per day)."""
    first, last = date(2024, 6, 1), date(2024, 6, 30)
    pieces = plan(name, first, last, DAY)
    buckets = sum((p.end - p.start) // p.grain for p in pieces)
    assert buckets <= most * 30
    offset = ZoneInfo(name).utcoffset(datetime(2024, 6, 1))
    assert offset is not None
    day = epoch_day(first) * DAY - int(offset.total_seconds())
    assert len(list(tile(day, day + DAY))) == added_up


def test_signed_covers_are_exact_and_never_longer_than_tiles() -> None:
    for start in range(0, 2 * DAY, QUARTER):
        for length in (QUARTER, HOUR + QUARTER, 5 * HOUR, DAY - QUARTER, DAY, DAY + HOUR):
            cover = signed_cover(start, start + length)
            assert len(cover) <= len(list(tile(start, start + length)))
            counts: Counter[int] = Counter()
            for grain, bucket, sign in cover:
                assert bucket % grain == 0
                for quarter in quarters(bucket, bucket + grain):
                    counts[quarter] += sign
            assert {q for q, n in counts.items() if n} == set(quarters(start, start + length))
            assert set(counts.values()) <= {0, 1}


def test_hour_grouping_in_a_whole_hour_zone_is_one_run() -> None:
    pieces = plan("Asia/Tokyo", date(2024, 6, 1), date(2024, 6, 30), HOUR)
    assert [p.grain for p in pieces] == [HOUR]


@pytest.mark.parametrize(
    ("name", "day", "period"),
    [
        ("Africa/Monrovia", date(1971, 6, 1), DAY),  # -00:44:30 until 1972
        ("Africa/Monrovia", date(1971, 6, 1), None),
        ("Pacific/Kiritimati", date(1975, 6, 1), DAY),  # -10:40 until 1979
        # Newfoundland changed clocks at 00:01 until 2011: falling back at 00:01 went
        # back to the day before, so that day started at a minute past a quarter.
        ("America/St_Johns", date(2010, 11, 6), DAY),
        ("America/St_Johns", date(2010, 3, 14), HOUR),
    ],
)
def test_refuses_what_quarter_hours_cannot_split(name: str, day: date, period: int | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(name, day, day, period)
    assert refused.value.param == "tz"
    assert name in refused.value.message


def test_st_johns_days_are_exact_even_with_minute_past_transitions_inside() -> None:
    """The spring change at 00:01 did not change the date, so days stay exact."""
    first = last = date(2010, 3, 14)
    assert planned_quarters("America/St_Johns", first, last, DAY) == expected_quarters(
        "America/St_Johns", first, last, DAY
    )


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "utc", "America/"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        load_zone(name)
    assert refused.value.param == "tz"


def test_segments_find_transitions_to_the_second() -> None:
    start = int(datetime(2024, 3, 10, tzinfo=UTC).timestamp())
    segments = offset_segments("America/New_York", start, start + DAY)
    change = int(datetime(2024, 3, 10, 7, tzinfo=UTC).timestamp())
    assert [(s.start, s.end, s.offset) for s in segments] == [
        (start, change, -5 * HOUR),
        (change, start + DAY, -4 * HOUR),
    ]


@given(
    st.integers(min_value=0, max_value=4 * 365 * 96),
    st.integers(min_value=0, max_value=3 * 96 * 10),
)
def test_tiles_cover_exactly_with_aligned_buckets(first: int, count: int) -> None:
    start, end = first * QUARTER, (first + count) * QUARTER
    moment = start
    for grain, bucket in tile(start, end):
        assert grain in GRAINS
        assert bucket == moment and bucket % grain == 0
        moment += grain
    assert moment == end


def test_bucket_start_in_microseconds() -> None:
    moment = int(datetime(2024, 5, 6, 7, 59, 59, 999999, tzinfo=UTC).timestamp() * 1e6)
    assert bucket_start(moment, QUARTER) == int(
        datetime(2024, 5, 6, 7, 45, tzinfo=UTC).timestamp() * 1_000_000
    )
    assert bucket_start(moment, 6 * HOUR) % (6 * HOUR * 1_000_000) == 0


# ---- every zone, straight from the tz database files ----------------------------------


def _tzif(path: str) -> tuple[list[int], list[int]]:
    """Transition instants and the offset after each (version 2+ data block)."""
    with open(path, "rb") as handle:
        data = handle.read()

    def counts(at: int) -> tuple[int, ...]:
        assert data[at : at + 4] == b"TZif"
        return struct.unpack(">6l", data[at + 20 : at + 44])

    isutc, isstd, leap, times, types, chars = counts(0)
    at = 44 + times * 5 + types * 6 + chars + leap * 8 + isstd + isutc
    isutc, isstd, leap, times, types, chars = counts(at)
    at += 44
    instants = list(struct.unpack(f">{times}q", data[at : at + times * 8]))
    at += times * 8
    indexes = list(data[at : at + times])
    at += times
    offsets = [struct.unpack(">l", data[at + i * 6 : at + i * 6 + 4])[0] for i in range(types)]
    return instants, [offsets[i] for i in indexes]


def _zone_file(name: str) -> str | None:
    for base in TZPATH:
        path = os.path.join(base, name)
        if os.path.isfile(path):
            return path
    return None


def test_every_zone_changes_offset_on_quarter_hours_only() -> None:
    """15-minute UTC buckets make every current offset exact: since 1980 every offset of
    every zone is a whole number of quarter hours, and since 2012 every change of offset
    happens on a quarter hour (Newfoundland used 00:01 until 2011; the Casey research
    station in Antarctica changed at odd minutes until 2022)."""
    checked = 0
    since_offsets = int(datetime(1980, 1, 1, tzinfo=UTC).timestamp())
    since_changes = int(datetime(2012, 1, 1, tzinfo=UTC).timestamp())
    historic = {"Antarctica/Casey"}
    for name in sorted(available_timezones()):
        path = _zone_file(name)
        if path is None:
            continue
        instants, offsets = _tzif(path)
        previous = None
        for instant, offset in zip(instants, offsets, strict=True):
            if instant >= since_offsets:
                assert offset % QUARTER == 0, (name, instant, offset)
            changed = previous is not None and offset != previous
            if changed and instant >= since_changes and name not in historic:
                assert instant % QUARTER == 0, (name, instant, offset)
            previous = offset
        checked += 1
    assert checked > 300
    # And through the rules for later years, as zoneinfo applies them.
    for name in ["America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/Berlin"]:
        plan(name, date(2040, 1, 1), date(2040, 12, 31), HOUR)


# ---- local days of registered zones ----------------------------------------------------


def zone_day_quarters(name: str, first: date, last: date) -> dict[int, tuple[date, None]]:
    """Quarters as writers file them (under their local day's start) and as the zone-day
    plan reads and labels them."""
    grain = zone_grain(3)
    pieces = plan_zone_days(name, grain, first, last)
    assert all(piece.grain == grain and piece.sign == 1 for piece in pieces)
    start = epoch_day(first - timedelta(days=2)) * DAY
    end = epoch_day(last + timedelta(days=3)) * DAY
    found = {}
    for quarter in quarters(start, end):
        bucket = local_day_start(name, quarter)
        assert bucket <= quarter and bucket % QUARTER == 0
        for piece in pieces:
            if piece.start <= bucket < piece.end:
                found[quarter] = (
                    date(1970, 1, 1) + timedelta(days=(bucket + piece.offset) // DAY),
                    None,
                )
    return found


@pytest.mark.parametrize(("name", "first", "last"), CASES)
def test_zone_days_are_the_local_calendar(name: str, first: date, last: date) -> None:
    assert zone_day_quarters(name, first, last) == expected_quarters(name, first, last, DAY)


def test_zone_days_over_months_are_few_pieces_and_split_where_offsets_jump() -> None:
    # A year of New York days: one piece, its offset labelling winter and summer days.
    first, last = date(2024, 1, 1), date(2024, 12, 31)
    assert len(plan_zone_days("America/New_York", -1, first, last)) == 1
    # Apia moved from -10 to +14 hours: the days on either side cannot share a label.
    first, last = date(2011, 12, 1), date(2012, 1, 31)
    assert len(plan_zone_days("Pacific/Apia", -1, first, last)) == 2
    assert zone_day_quarters("Pacific/Apia", first, last) == expected_quarters(
        "Pacific/Apia", first, last, DAY
    )


@pytest.mark.parametrize("name", ["America/New_York", "Asia/Kathmandu", "Pacific/Apia"])
def test_local_days_agree_with_local_day_start(name: str) -> None:
    start = epoch_day(date(2011, 12, 20)) * DAY
    end = epoch_day(date(2012, 1, 10)) * DAY
    days = local_days(name, start, end)
    assert all(a_end == b_start for (_, a_end), (b_start, _) in pairwise(days))
    assert days[0][0] <= start and days[-1][1] >= end
    for day_start, day_end in days:
        for quarter in quarters(max(day_start, start), min(day_end, end)):
            assert local_day_start(name, quarter) == day_start


def test_zone_grains_never_meet_utc_grains() -> None:
    assert {zone_grain(n) for n in range(1, 9)}.isdisjoint(GRAINS)
    with pytest.raises(ValueError):
        zone_grain(0)


def test_zone_days_refuse_what_quarter_hours_cannot_split() -> None:
    with pytest.raises(InvalidInput):
        plan_zone_days("Africa/Monrovia", -1, date(1971, 6, 1), date(1971, 6, 1))
