"""The console over the real store (SQLite and PostgreSQL), driven in-process with httpx.

The client talks to https://console.test so that the Secure session cookie is kept and
sent back, as a browser does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from postback.app import create_web
from postback.domain.ids import hash_key
from postback.settings import Settings
from postback.store.sql import Store

ADMIN_KEY = "admin-console-key-0123456789"
BASE = "https://console.test"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@dataclass
class Browser:
    """A cookie-keeping client that fills in forms the way a browser would."""

    client: httpx.AsyncClient
    store: Store

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def submit(
        self, form_page: str, action: str, fields: dict[str, Any], **kwargs: Any
    ) -> httpx.Response:
        """Open `form_page`, take its CSRF token, post `fields` to `action`."""
        page = await self.client.get(form_page)
        assert page.status_code == 200, page.text
        data = {"csrf_token": csrf_of(page.text), **fields}
        return await self.client.post(action, data=data, **kwargs)

    async def login(self, key: str) -> httpx.Response:
        return await self.submit("/login", "/login", {"key": key})


@pytest.fixture
async def app_and_store(store: Store) -> AsyncIterator[tuple[Any, Store]]:
    settings = Settings(base_url="https://track.example", auth_failures_per_minute=5)
    app = create_web(settings, store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
    yield app, store


def new_browser(app: Any, store: Store) -> Browser:
    transport = httpx.ASGITransport(app=app)
    return Browser(httpx.AsyncClient(transport=transport, base_url=BASE), store)


@pytest.fixture
async def browser(app_and_store: tuple[Any, Store]) -> AsyncIterator[Browser]:
    app, store = app_and_store
    visitor = new_browser(app, store)
    async with visitor.client:
        yield visitor


@pytest.fixture
async def admin(browser: Browser) -> Browser:
    answer = await browser.login(ADMIN_KEY)
    assert answer.status_code == 303, answer.text
    return browser
