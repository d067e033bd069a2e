"""Reading a click's visitor: cached profiles, a trusted proxy's country, anonymized
addresses and the visitor's keyed hash."""

from __future__ import annotations

from postback.settings import Settings
from postback.visitors.profiler import Agent, Place, Profiler
from postback.visitors.reader import reader_for


def test_a_trusted_proxys_country_wins_and_bad_codes_are_ignored() -> None:
    reader = reader_for(Settings())
    reader.visitor_key = b"key"
    assert reader.read("200.147.67.142", "curl/8", None).profile.place.country == "BR"
    assert reader.read("200.147.67.142", "curl/8", "pt").profile.place == Place("PT")
    for code in ("XX", "T1", "P", "12", "ptx"):
        assert reader.read("200.147.67.142", "curl/8", code).profile.place.country == "BR"


def test_anonymized_addresses_are_stored_but_the_lookups_see_the_whole_one() -> None:
    reader = reader_for(Settings(anonymize_ip=True))
    reader.visitor_key = b"key"
    seen = reader.read("200.147.67.142", "UA", None)
    assert seen.stored_ip == "200.147.67.0" and seen.profile.place.country == "BR"
    other = reader.read("200.147.67.143", "UA", None)
    assert other.stored_ip == seen.stored_ip and other.visitor != seen.visitor
    assert reader_for(Settings()).read("200.147.67.142", "UA", None).stored_ip == "200.147.67.142"


def test_profiles_are_cached_per_address_and_per_user_agent() -> None:
    calls: list[str] = []

    def locate(ip: str) -> Place:
        calls.append(ip)
        return Place("DE")

    def read_agent(ua: str) -> Agent:
        calls.append(ua)
        return Agent("desktop")

    profiler = Profiler(locate, read_agent)
    for _ in range(3):
        assert profiler.profile("203.0.113.1", "UA", None).place == Place("DE")
    assert calls == ["203.0.113.1", "UA"]
    assert profiler.profile(None, None, None).agent == Agent("desktop")
