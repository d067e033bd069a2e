"""A click's visitor profile: its place from the address, its device from the
User-Agent, each cached (a campaign's clicks come from a limited set of both), so the hot
path rarely parses or searches anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

PLACE_CACHE: Final = 65_536
AGENT_CACHE: Final = 16_384


@dataclass(frozen=True, slots=True)
class Place:
    country: str | None = None  # ISO 3166-1 alpha-2
    region: str | None = None
    city: str | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    device: str = "other"  # desktop mobile tablet tv console bot other
    os: str | None = None
    browser: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    place: Place
    agent: Agent


NOWHERE: Final = Place()


class Profiler:
    """Profiles from an address lookup and a User-Agent reader, both cached."""

    def __init__(self, locate: Callable[[str], Place], read_agent: Callable[[str], Agent]) -> None:
        self.place = lru_cache(maxsize=PLACE_CACHE)(locate)
        self.agent = lru_cache(maxsize=AGENT_CACHE)(read_agent)

    def profile(self, ip: str | None, user_agent: str | None, country: str | None) -> Profile:
        """`country`: from a trusted proxy's header, which wins over the lookup."""
        place = self.place(ip) if ip else NOWHERE
        if country is not None and country != place.country:
            place = Place(country)
        return Profile(place, self.agent(user_agent or ""))
