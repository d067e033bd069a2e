"""The console's static files: shipped in the package, pinned, cached for long."""

from __future__ import annotations

import re
from importlib import resources

from postback.console.assets import LONG_CACHE, Assets
from tests.console.conftest import Browser


def test_pinned_vendor_files_ship_with_their_licenses() -> None:
    vendor = resources.files("postback.console") / "static" / "vendor"
    versions = (vendor / "VERSIONS").read_text()
    assert re.search(r"^htmx\.org 2\.\d+\.\d+ ", versions, re.M)
    assert re.search(r"^chart\.js 4\.\d+\.\d+ ", versions, re.M)
    for name in ("htmx.min.js", "htmx.LICENSE", "chart.umd.min.js", "chart.js.LICENSE.md"):
        assert (vendor / name).is_file(), name
    assert "Chart.js v4." in (vendor / "chart.umd.min.js").read_text()[:200]


async def test_static_files_are_served_with_long_cache_headers(browser: Browser) -> None:
    url = Assets().url("console.css")
    assert re.fullmatch(r"/static/console\.css\?v=[0-9a-f]{12}", url)
    answer = await browser.get(url)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == LONG_CACHE
    assert answer.headers["content-type"].startswith("text/css")
    script = await browser.get("/static/vendor/htmx.min.js")
    assert script.headers["content-type"].startswith("text/javascript")
    for missing in ("/static/nothing.js", "/static/../settings.py", "/static/vendor"):
        assert (await browser.get(missing)).status_code == 404, missing


async def test_pages_name_no_outside_host(admin: Browser) -> None:
    for path in ("/", "/postbacks/new", "/reports", "/conversions"):
        page = (await admin.get(path)).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert sources and all(s.startswith(("/", "?", "#")) for s in sources), path
