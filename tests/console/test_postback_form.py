"""The postback form's macro list, live preview and Test button (with a real receiver)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from markupsafe import escape

from postback.console.postbacks import MACRO_HELP
from postback.domain.ids import hash_key
from postback.domain.macros import NETWORK_MACROS
from postback.settings import Settings
from postback.store.sql import Store
from tests.api.conftest import convert
from tests.console.conftest import ADMIN_KEY, Browser, csrf_of, new_browser
from tests.e2e.harness import Receiver


def test_every_known_macro_has_its_tooltip() -> None:
    assert set(MACRO_HELP) == set(NETWORK_MACROS)
    assert all(MACRO_HELP.values())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()


@pytest.fixture
async def open_admin(store: Store) -> AsyncIterator[Browser]:
    from postback.app import create_web

    settings = Settings(base_url="https://track.example", allow_private_targets=True)
    app = create_web(settings, store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
    visitor = new_browser(app, store)
    async with visitor.client:
        assert (await visitor.login(ADMIN_KEY)).status_code == 303
        yield visitor


async def _preview(admin: Browser, fields: dict[str, Any], htmx: bool = True) -> str:
    page = await admin.get("/postbacks/new")
    headers = {"HX-Request": "true"} if htmx else {}
    answer = await admin.client.post(
        "/postbacks/preview",
        data={"csrf_token": csrf_of(page.text), "active": "on", **fields},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_the_form_lists_every_macro_with_what_it_holds(open_admin: Browser) -> None:
    page = (await open_admin.get("/postbacks/new")).text
    for name, help_text in MACRO_HELP.items():
        assert f'data-macro="{{{name}}}" title="{escape(help_text)}"' in page, name


async def test_preview_expands_a_sample_and_shows_refusals(open_admin: Browser) -> None:
    shown = await _preview(
        open_admin, {"url": "https://t.example/pb?c={click_id}&s={sub1}&p={payout}"}
    )
    assert "https://t.example/pb?c=test_click_0000000000&amp;s=sub1_value&amp;p=7.5" in shown
    assert "<html" not in shown  # a fragment for htmx
    refused = await _preview(open_admin, {"url": "https://t.example/pb?c={nope}"})
    assert "url" in refused and "{nope}" in refused
    body = await _preview(
        open_admin,
        {
            "url": "https://t.example/hook",
            "method": "POST",
            "body": '{"payout": {payout}, "ua": "{user_agent}"}',
        },
    )
    assert "{&#34;payout&#34;: 7.5, &#34;ua&#34;: &#34;Mozilla/5.0 (postback test)&#34;}" in body
    # Without JavaScript the same button answers the whole form page with the preview.
    full = await _preview(open_admin, {"url": "https://t.example/?c={click_id}"}, htmx=False)
    assert "<html" in full and "c=test_click_0000000000" in full


async def test_preview_with_a_real_conversion(open_admin: Browser, store: Store) -> None:
    offer = await store.create_offer(
        {
            "advertiser_id": (await store.create_advertiser(_advertiser())).id,
            "name": "O",
            "destination_url": "https://shop.example/",
            "revenue": 4,
            "payout": 3,
            "currency": "USD",
            "status": "active",
            "fallback_url": None,
        }
    )
    affiliate = await store.create_affiliate("A", hash_key("aff_preview_0000000"))
    done = await convert(store, offer.id, affiliate.id, txid="REAL-1")
    shown = await _preview(
        open_admin,
        {
            "affiliate_id": str(affiliate.id),
            "url": "https://t.example/?t={txid}&c={conversion_id}",
            "conversion_id": str(done.conversion.id),
        },
    )
    assert f"t=REAL-1&amp;c={done.conversion.id}" in shown


def _advertiser() -> dict[str, Any]:
    return {
        "name": "Adv",
        "postback_token": "tok_preview_00000000000000",
        "allowed_ips": [],
        "status_map": {},
        "require_token": True,
    }


async def test_the_test_button_shows_the_partners_answer(
    open_admin: Browser, receiver: Receiver
) -> None:
    created = await open_admin.submit(
        "/postbacks/new",
        "/postbacks/new",
        {"url": receiver.url("/pb?c={click_id}"), "active": "on", "statuses": "approved"},
    )
    assert created.status_code == 303, created.text
    path = created.headers["location"].split("?")[0]
    page = await open_admin.get(path)
    answer = await open_admin.client.post(
        f"{path}/test", data={"csrf_token": csrf_of(page.text)}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    assert "HTTP 200" in answer.text and "ok" in answer.text
    assert [r.query for r in receiver.at("/pb")] == [{"c": "test_click_0000000000"}]
    receiver.plan["/pb"] = [500]
    again = await open_admin.client.post(f"{path}/test", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 200 and "Failed" in again.text and "HTTP 500" in again.text
    assert "Recent tests" in again.text
