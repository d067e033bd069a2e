"""The admin key: generated once when none is set, shown once, kept only as its hash."""

from __future__ import annotations

from postback.domain.ids import hash_key
from postback.runtime import ADMIN_KEY_META, ensure_admin_key
from postback.settings import Settings
from postback.store.sql import Store


async def test_generated_admin_key_is_shown_once_and_kept_hashed(store: Store) -> None:
    shown: list[str] = []
    first = await ensure_admin_key(Settings(), store, shown.append)
    (key,) = shown
    assert first == hash_key(key)
    assert await store.get_meta(ADMIN_KEY_META) == hash_key(key)
    assert key not in (await store.get_meta(ADMIN_KEY_META) or "")

    # Another start (or a second process) keeps the same key and shows nothing.
    again = await ensure_admin_key(Settings(), store, shown.append)
    assert again == first and shown == [key]


async def test_admin_key_from_the_environment_is_not_written(store: Store) -> None:
    settings = Settings(admin_key="adm_from_env_0123456789")
    assert await ensure_admin_key(settings, store, None) == hash_key("adm_from_env_0123456789")
