"""Reading a click's visitor: its profile (profiler.py), its keyed hash for unique
clicks, and the address as it is stored (anonymized when the operator asks)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from postback.domain.visitor import anonymized, visitor_id
from postback.settings import Settings
from postback.visitors.agents import read_agent
from postback.visitors.geo import bundled_place, open_geo_file
from postback.visitors.profiler import Profile, Profiler

# A country code a trusted proxy may send (Cloudflare's XX: unknown, T1: Tor, are not).
PROXY_COUNTRY: Final = re.compile(r"[A-Z]{2}")
NOT_COUNTRIES: Final = frozenset({"XX", "T1"})


@dataclass(frozen=True, slots=True)
class Seen:
    profile: Profile
    visitor: str | None
    stored_ip: str | None


class VisitorReader:
    def __init__(self, profiler: Profiler, anonymize_ip: bool) -> None:
        self.profiler = profiler
        self.anonymize_ip = anonymize_ip
        # The key of visitors' hashes: one per database (kept in its meta values), set
        # when the server starts, so every process and restart agrees.
        self.visitor_key = b""

    def read(self, ip: str | None, user_agent: str | None, proxy_country: str | None) -> Seen:
        """The visitor behind a click; `proxy_country` is a trusted proxy's header."""
        country = proxy_country.strip().upper() if proxy_country else None
        if country is not None and (
            not PROXY_COUNTRY.fullmatch(country) or country in NOT_COUNTRIES
        ):
            country = None
        profile = self.profiler.profile(ip, user_agent, country)
        # The lookups and the hash see the whole address; only the stored one is cut.
        stored = anonymized(ip) if self.anonymize_ip else ip
        return Seen(profile, visitor_id(self.visitor_key, ip, user_agent), stored)


def reader_for(settings: Settings) -> VisitorReader:
    """The reader the settings ask for: the operator's .mmdb or the bundled data."""
    locate = open_geo_file(settings.geoip_db) if settings.geoip_db else bundled_place
    return VisitorReader(Profiler(locate, read_agent), settings.anonymize_ip)
