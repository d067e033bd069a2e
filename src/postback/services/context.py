"""What every use case may use: settings, store, admin key, the dispatcher's bell and the
count of failed authentications."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from postback.services.ratelimit import FailureLimiter
from postback.settings import Settings
from postback.store.sql import Store


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    store: Store
    admin_key_hash: Callable[[], str | None]
    wake_dispatch: Callable[[], None]
    auth_failures: FailureLimiter
