"""Settings: report zones are validated IANA names; retention days are whole days in bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from postback.domain.retention import Retention
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


def test_retention_days_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().retention == Retention(None, 30, 30)
    monkeypatch.setenv("POSTBACK_RETAIN_CLICKS_DAYS", "120")
    monkeypatch.setenv("POSTBACK_RETAIN_INCOMING_DAYS", "0")
    monkeypatch.setenv("POSTBACK_RETAIN_ATTEMPTS_DAYS", "7")
    assert Settings().retention == Retention(120, 0, 7)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("retain_clicks_days", "-1"),
        ("retain_incoming_days", "36501"),
        ("retain_attempts_days", "a week"),
        ("retain_clicks_days", "1.5"),
    ],
)
def test_retention_days_are_whole_days_within_bounds(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("POSTBACK_" + name.upper(), value)
    with pytest.raises(ValidationError, match=name):
        Settings()
