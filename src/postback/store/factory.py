"""Pick the backend the database URL names."""

from __future__ import annotations

from postback.settings import Settings
from postback.store.sql import Store


def open_store(settings: Settings) -> Store:
    if settings.is_sqlite:
        from postback.store.sqlite import SqliteStore

        return SqliteStore(settings.database_url, settings.report_zone_names)
    from postback.store.postgres import PostgresStore

    return PostgresStore(settings.database_url, settings.report_zone_names)
