"""Exceptions to HTTP answers for the edge (statuses from postback.http_status)."""

from __future__ import annotations

import logging

from postback.edge.http import error_body
from postback.errors import PostbackError, StoreUnavailable
from postback.http_status import retry_after_of, status_of
from postback.logthrottle import Throttled

log = logging.getLogger(__name__)
# While the database is away every request fails alike: one line a second says so.
store_down = Throttled(log)

UNAVAILABLE = "the database is unavailable, retry later"


def status_and_body(exc: BaseException) -> tuple[int, dict[str, object]]:
    status = status_of(exc) if isinstance(exc, PostbackError) else 500
    if status == 503:
        store_down.warning("store_down", "database unavailable: %s", exc)
        message = exc.public_message if isinstance(exc, StoreUnavailable) else UNAVAILABLE
        return status, error_body("unavailable", message)
    if isinstance(exc, PostbackError) and status < 500:
        return status, error_body(exc.code, exc.message, **exc.details)
    log.exception("unexpected error", exc_info=exc, extra={"action": "edge_error"})
    return 500, error_body("internal", "internal error")


def error_headers(exc: BaseException) -> tuple[tuple[bytes, bytes], ...]:
    """Headers an error answer carries besides the JSON ones (Retry-After on a 429)."""
    if isinstance(exc, PostbackError):
        seconds = retry_after_of(exc)
        if seconds is not None:
            return ((b"retry-after", str(seconds).encode()),)
    return ()
