"""Device, OS, browser and bot flag from real User-Agent strings."""

from __future__ import annotations

from pathlib import Path

import pytest
from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns

from postback.visitors.agents import CrawlerList, read_agent
from postback.visitors.profiler import Agent

# Strings as these browsers and robots send them (the vendors' published forms).
CASES = {
    "desktop Chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Agent("desktop", "Windows", "Chrome"),
    ),
    "desktop Safari": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Safari/605.1.15",
        Agent("desktop", "Mac OS X", "Safari"),
    ),
    "iPhone Safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        Agent("mobile", "iOS", "Mobile Safari"),
    ),
    "Android Chrome": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        Agent("mobile", "Android", "Chrome Mobile"),
    ),
    "iPad": (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/16.6 Mobile/15E148 Safari/604.1",
        Agent("tablet", "iOS", "Mobile Safari"),
    ),
    "Android tablet": (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Agent("tablet", "Android", "Chrome"),
    ),
    "Samsung TV": (
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
        Agent("tv", "Tizen", "Samsung Internet"),
    ),
    "PlayStation 5": (
        "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.0 Safari/605.1.15",
        Agent("console", None, "Safari"),
    ),
    "Googlebot": (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        Agent("bot", None, "Googlebot", is_bot=True),
    ),
    "Googlebot smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        Agent("bot", "Android", "Googlebot", is_bot=True),
    ),
    "curl": ("curl/8.5.0", Agent("bot", None, "curl", is_bot=True)),
    "python-requests": (
        "python-requests/2.31.0",
        Agent("bot", None, "Python Requests", is_bot=True),
    ),
    "nothing": ("", Agent()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_user_agents(name: str) -> None:
    user_agent, expected = CASES[name]
    assert read_agent(user_agent) == expected


def test_huge_and_broken_user_agents_are_read_quickly_and_bounded() -> None:
    chrome = CASES["desktop Chrome"][0]
    assert read_agent(chrome + " " + "x" * 10_000) == CASES["desktop Chrome"][1]
    broken = read_agent("Mozilla/5.0 \ufffd\ufffd (Windows NT 10.0) \x00\x01")
    assert broken.device == "desktop" and not broken.is_bot
    assert all(len(part or "") <= 64 for part in (broken.os, broken.browser))


POOL = Path(__file__).parents[2] / "bench" / "user_agents.txt"


def test_crawler_list_on_re2_gives_crawlerdetects_own_verdicts() -> None:
    """The same patterns through CrawlerDetect itself (Python's re) and through RE2, over
    2,550 real User-Agents (400 of them bots) and the lookahead pattern's edge."""
    agents = [line for line in POOL.read_text().splitlines() if line and line[0] != "#"]
    agents += ["Mozilla/5.0 (compatible; YandexBot/3.0)", "YandexSearch/1.0", "Yandex", ""]
    reference = CrawlerDetect()
    ours = CrawlerList(list(crawler_patterns), list(exclusion_patterns))
    verdicts = [ours.is_crawler(agent) for agent in agents]
    assert verdicts == [reference.is_crawler(agent) for agent in agents]
    assert sum(verdicts) >= 390  # the pool's 400 bots less those only uap calls spiders
