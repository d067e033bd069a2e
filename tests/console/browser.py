"""Debian's Chromium driven by Playwright (never Playwright's own browser downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("POSTBACK_TEST_CHROMIUM", "/usr/bin/chromium"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def chromium_path() -> str:
    """The browser to drive; a skip locally when it is missing, a failure in CI
    (`make browser` installs it)."""
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (make browser installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return str(CHROMIUM)


# Headless Chromium in a container: no sandbox (root), no GPU, small shared memory.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
