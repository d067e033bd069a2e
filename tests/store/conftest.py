"""Fixtures of the store tests beyond the shared ones (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from postback.store.postgres import PostgresStore


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[PostgresStore]:
    """A migrated PostgreSQL store, for what only PostgreSQL does."""
    opened = PostgresStore(pg_url)
    await opened.migrate()
    yield opened
    await opened.close()
