"""Pick the backend the database URL names."""

from __future__ import annotations

from postback.settings import Settings
from postback.store.sql import Store


def open_store(settings: Settings) -> Store:
    store: Store
    if settings.is_sqlite:
        from postback.store.sqlite import SqliteStore

        store = SqliteStore(settings.database_url, settings.report_zone_names)
    else:
        from postback.store.postgres import PostgresStore

        store = PostgresStore(settings.database_url, settings.report_zone_names)
    store.unique_window_us = settings.unique_window * 1_000_000
    return store
