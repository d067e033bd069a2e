"""The time parameters of list endpoints (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postback.errors import InvalidInput
from postback.services.paging import parse_time


def test_parse_time() -> None:
    assert parse_time("2024-02-29", "from", end=False) == datetime(2024, 2, 29, tzinfo=UTC)
    assert parse_time("2024-02-29", "to", end=True) == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_time("2024-02-29T10:00:00Z", "to", end=True) == datetime(
        2024, 2, 29, 10, tzinfo=UTC
    )
    assert parse_time("2024-02-29T10:00:00 02:00", "from", end=False) == datetime(
        2024, 2, 29, 8, tzinfo=UTC
    )
    assert parse_time("2024-02-29T10:00:00", "from", end=False).utcoffset() == timedelta(0)
    assert parse_time("9999-12-31", "to", end=True).year == 9999
    for text in ["", "now", "2024-02-30", "0001-01-01T00:00:00+05:00", "1700000000"]:
        with pytest.raises(InvalidInput) as refused:
            parse_time(text, "from", end=False)
        assert refused.value.param == "from"
