"""Session cookies and CSRF tokens: signed, expiring, bound to the key that logged in."""

from __future__ import annotations

import re
import time

import pytest
from pydantic import SecretStr

from postback.console.session import SECRET_META, Sessions
from postback.domain.ids import hash_key
from postback.services.context import AppContext
from postback.services.ratelimit import FailureLimiter
from postback.settings import Settings
from postback.store.sql import Store
from tests.console.conftest import ADMIN_KEY, Browser, csrf_of


def context(store: Store, **settings: object) -> AppContext:
    return AppContext(
        settings=Settings(**settings),  # type: ignore[arg-type]
        store=store,
        admin_key_hash=lambda: hash_key(ADMIN_KEY),
        wake_dispatch=lambda: None,
        auth_failures=FailureLimiter(0),
    )


async def test_the_generated_secret_is_kept_and_shared(store: Store) -> None:
    first = await Sessions(context(store)).secret()
    second = await Sessions(context(store)).secret()  # another process, the same database
    assert first == second and len(first) >= 48
    assert await store.get_meta(SECRET_META) == first.decode()
    configured = Sessions(context(store, session_secret=SecretStr("s" * 40)))
    assert await configured.secret() == b"s" * 40


async def test_sessions_expire(admin: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await admin.get("/")).status_code == 200
    later = time.time() + Settings().session_ttl + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert (await admin.get("/")).status_code == 303


async def test_a_session_signed_with_another_secret_is_refused(
    admin: Browser, store: Store
) -> None:
    value = admin.client.cookies["postback_session"]
    payload = value.split(".")[0]
    other = Sessions(context(store, session_secret=SecretStr("x" * 40)))
    forged = f"{payload}.{await other._mac('session', payload)}"
    admin.client.cookies.set("postback_session", forged, domain="console.test")
    assert (await admin.get("/")).status_code == 303


async def test_a_replaced_affiliate_key_ends_its_sessions(admin: Browser, store: Store) -> None:
    made = await admin.submit("/affiliates/new", "/affiliates/new", {"name": "Carol"})
    key = re.search(r'value="(aff_[^"]+)"', made.text).group(1)  # type: ignore[union-attr]
    affiliate_id = int(re.search(r"Affiliate #(\d+)", made.text).group(1))  # type: ignore[union-attr]
    admin.client.cookies.clear()
    assert (await admin.login(key)).status_code == 303
    assert (await admin.get("/")).status_code == 200
    await store.update_affiliate(affiliate_id, {"api_key_hash": hash_key("aff_replaced_000")})
    assert (await admin.get("/")).status_code == 303


async def test_the_csrf_token_belongs_to_its_session(admin: Browser) -> None:
    token = csrf_of((await admin.get("/advertisers/new")).text)
    admin.client.cookies.clear()
    assert (await admin.login(ADMIN_KEY)).status_code == 303
    # The old session's token does not fit the new session.
    stale = await admin.client.post("/advertisers/new", data={"csrf_token": token, "name": "X"})
    assert stale.status_code == 403


async def test_after_login_only_local_paths_are_followed(browser: Browser) -> None:
    page = await browser.get("/login?next=//evil.example/")
    answer = await browser.client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "key": ADMIN_KEY, "next": "//evil.example/"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    other = await browser.get("/login?next=/reports")
    assert other.status_code == 303 and other.headers["location"] == "/reports"


async def test_login_needs_the_login_forms_token(browser: Browser) -> None:
    answer = await browser.client.post("/login", data={"key": ADMIN_KEY})
    assert answer.status_code == 403
    assert "postback_session" not in answer.headers.get("set-cookie", "")


async def test_the_secure_flag_follows_the_setting(store: Store) -> None:
    from postback.app import create_web
    from tests.console.conftest import new_browser

    for secure in (True, False):
        settings = Settings(cookie_secure=secure)
        app = create_web(settings, store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
        visitor = new_browser(app, store)
        async with visitor.client:
            answer = await visitor.login(ADMIN_KEY)
            cookie = answer.headers["set-cookie"]
            assert cookie.startswith("postback_session=")
            assert ("; secure" in cookie.lower()) is secure
