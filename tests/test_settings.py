"""Settings: report zones are validated IANA names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from postback.settings import MAX_REPORT_ZONES, Settings


def test_report_zones_are_distinct_iana_names_without_utc() -> None:
    settings = Settings(report_zones=" America/New_York,UTC,Asia/Kathmandu,America/New_York ")
    assert settings.report_zone_names == ("America/New_York", "Asia/Kathmandu")
    assert Settings().report_zone_names == ()


@pytest.mark.parametrize("text", ["Mars/Olympus", "america/new_york", "EST5EDT;DROP", "+05:45"])
def test_report_zones_refuse_unknown_names(text: str) -> None:
    with pytest.raises(ValidationError, match="report_zones"):
        Settings(report_zones=text)


def test_report_zones_are_few() -> None:
    names = [
        "Europe/Berlin",
        "Europe/Paris",
        "Europe/Rome",
        "Asia/Tokyo",
        "Asia/Dubai",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/Chicago",
        "America/Denver",
    ]
    assert len(names) > MAX_REPORT_ZONES
    with pytest.raises(ValidationError, match="at most"):
        Settings(report_zones=",".join(names))
