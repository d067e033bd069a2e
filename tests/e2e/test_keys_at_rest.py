"""API keys are kept only as hashes: read every row (and the SQLite files) and look."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from postback.domain.ids import hash_key
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.schema import metadata
from postback.store.sql import Store
from tests.e2e.harness import ADMIN_KEY, ServerProcess

pytestmark = pytest.mark.e2e


async def every_value(database_url: str) -> list[str]:
    store = open_store(Settings(database_url=database_url))
    assert isinstance(store, Store)
    found: list[str] = []
    try:
        async with store.engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in await conn.execute(select(table)):
                    found += [str(value) for value in row]
    finally:
        await store.close()
    return found


def sqlite_bytes(database_url: str) -> bytes:
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [path, path.with_name(path.name + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


async def test_keys_are_stored_as_hashes_only(server: ServerProcess, database_url: str) -> None:
    async with server.admin() as admin:
        created = await admin.post("/affiliates", json={"name": "Keyed"})
        assert created.status_code == 201, created.text
        first_key = created.json()["api_key"]
        rotated = await admin.post(f"/affiliates/{created.json()['id']}/key")
        assert rotated.status_code == 200, rotated.text
        second_key = rotated.json()["api_key"]

    values: list[Any] = await every_value(database_url)
    assert values, "the database was read"
    for key in (ADMIN_KEY, first_key, second_key):
        assert not any(key in value for value in values), key
    # An admin key given by POSTBACK_ADMIN_KEY is not written at all; a generated one is
    # kept as its hash under meta (tests/test_runtime.py).
    assert hash_key(second_key) in values
    if database_url.startswith("sqlite"):
        raw = sqlite_bytes(database_url)
        for key in (ADMIN_KEY, first_key, second_key):
            assert key.encode() not in raw, key
        assert hash_key(second_key).encode() in raw
