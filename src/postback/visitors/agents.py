"""On what the visitor clicked, from its User-Agent: device type, OS and browser with
ua-parser (uap-core's rules, through its native matcher), and whether it is a bot (uap's
`Spider`, HTTP libraries and automation, and CrawlerDetect's list of crawlers, matched
with RE2).

uap names device families and models, not types: the type comes from the rules below,
checked in this order (a console sends "Windows NT", an Android TV box sends no
"Mobile", a Chromebook running Android apps sends "Android").
"""

from __future__ import annotations

import re
from typing import Any, Final

import re2
import ua_parser
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns

from postback.visitors.profiler import Agent

# Parsed at most this long: past it a User-Agent is padding, and some matchers slow down.
MAX_PARSED: Final = 512
MAX_NAME: Final = 64

# HTTP libraries, command-line clients and headless browsers uap recognises without
# calling them spiders.
CLIENT_FAMILIES: Final = frozenset(
    {
        "curl", "libcurl-agent", "PycURL", "Wget", "wget2", "aria2", "libwww-perl",
        "Python Requests", "Python aiohttp", "Python-urllib", "Apache-HttpClient",
        "Go-http-client", "okhttp", "axios", "HTTPie", "GuzzleHttp", "Java", "PostmanRuntime",
        "HeadlessChrome", "PhantomJS", "WinHTTP", "WindowsPowerShell", "Boto3", "aws-cli",
    }
)  # fmt: skip
CONSOLE: Final = re.compile(r"PlayStation|\bXbox\b|Nintendo", re.I)
TV: Final = re.compile(
    r"SMART-?TV|Smart TV|Web0S|webOS\.TV|NetCast|HbbTV|Android ?TV|Google ?TV|BRAVIA|"
    r"CrKey|Roku|Apple ?TV|tvOS|\bAFT[A-Z]|Tizen[^;)]*TV|VIDAA",
    re.I,
)
TV_OS: Final = frozenset({"Roku", "tvOS", "Web0S", "webOS TV", "Fire TV", "Android TV"})
TABLET_FAMILIES: Final = frozenset({"iPad", "Generic Tablet", "Kindle", "Kindle Fire"})
TABLET_MODEL: Final = re.compile(
    r"\b(?:SM-[TPX]\d|GT-P\d|Nexus (?:7|9|10)\b|Pixel (?:C|Tablet)\b|KF[A-Z]{2,5}\b|"
    r"Lenovo TB|TB-[0-9X]|MediaPad|MatePad|Mi ?Pad|Redmi Pad|Galaxy Tab)",
    re.I,
)
MOBILE_FAMILIES: Final = frozenset({"iPhone", "iPod", "iPod Touch", "Generic Smartphone"})
MOBILE_OS: Final = frozenset(
    {"iOS", "Android", "Windows Phone", "Windows Mobile", "BlackBerry OS", "KaiOS", "Tizen",
     "HarmonyOS", "Firefox OS", "Symbian OS"}
)  # fmt: skip
DESKTOP_OS: Final = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS", "ChromeOS",
     "FreeBSD", "OpenBSD", "NetBSD", "Solaris"}
)  # fmt: skip
DESKTOP: Final = re.compile(r"Windows NT|Macintosh|X11|CrOS", re.I)


class CrawlerList:
    """CrawlerDetect's patterns (its maintained list of crawlers, and of User-Agent parts
    that hide nothing, taken out first) matched with RE2: one automaton for the whole
    list, about ten times faster than Python's backtracking `re` on a new User-Agent
    (tests/visitors/test_agents.py checks both give the same verdicts). The few
    patterns RE2 cannot run (lookarounds) stay with `re`."""

    def __init__(self, crawlers: list[str], exclusions: list[str]) -> None:
        self._crawlers = self._split(crawlers)
        self._exclusions = self._split(exclusions)

    @staticmethod
    def _split(patterns: list[str]) -> list[Any]:
        automaton, backtracking = [], []
        options = re2.Options()
        options.log_errors = False
        for pattern in patterns:
            try:
                re2.compile(pattern, options)
            except re2.error:
                backtracking.append(pattern)
            else:
                automaton.append(pattern)
        options.case_sensitive = False
        options.never_capture = True
        found: list[Any] = []
        if automaton:
            found.append(re2.compile("(?:" + "|".join(automaton) + ")", options))
        if backtracking:
            found.append(re.compile("(?:" + "|".join(backtracking) + ")", re.I))
        return found

    def is_crawler(self, user_agent: str) -> bool:
        agent = user_agent
        for exclusions in self._exclusions:
            agent = exclusions.sub("", agent)
        if not agent:
            return False
        return any(crawlers.search(agent) for crawlers in self._crawlers)


_crawlers = CrawlerList(list(crawler_patterns), list(exclusion_patterns))


def _named(family: str | None) -> str | None:
    return family[:MAX_NAME] if family and family != "Other" else None


def device_type(ua: str, device: str | None, brand: str | None, model: str, os: str | None) -> str:
    """desktop mobile tablet tv console or other, for a User-Agent that is not a bot."""
    if CONSOLE.search(ua):
        return "console"
    if os in TV_OS or TV.search(ua):
        return "tv"
    if "CrOS" in ua:
        return "desktop"
    if device in TABLET_FAMILIES or brand == "Generic_Android_Tablet":
        return "tablet"
    if os == "Android" and (TABLET_MODEL.search(model) or TABLET_MODEL.search(ua)):
        return "tablet"
    if os == "Android" and "Mobi" not in ua:
        return "tablet"  # Android browsers say "Mobile" on phones only
    if device in MOBILE_FAMILIES or os in MOBILE_OS or "Mobi" in ua or "Windows Phone" in ua:
        return "mobile"
    if os in DESKTOP_OS or (os or "").startswith("Windows") or DESKTOP.search(ua):
        return "desktop"
    return "other"


def read_agent(user_agent: str) -> Agent:
    """The device, OS and browser of a User-Agent (invalid text already replaced)."""
    ua = user_agent[:MAX_PARSED].strip()
    if not ua:
        return Agent()
    parsed = ua_parser.parse(ua)
    family = parsed.user_agent.family if parsed.user_agent else None
    os = parsed.os.family if parsed.os else None
    device = parsed.device.family if parsed.device else None
    browser, os_name = _named(family), _named(os)
    if device == "Spider" or family in CLIENT_FAMILIES or _crawlers.is_crawler(ua):
        return Agent("bot", os_name, browser, is_bot=True)
    brand = parsed.device.brand if parsed.device else None
    model = (parsed.device.model or "") if parsed.device else ""
    return Agent(device_type(ua, device, brand, model, os), os_name, browser)
