"""Exceptions to HTTP answers for the edge (statuses from postback.http_status)."""

from __future__ import annotations

import logging

from postback.edge.http import error_body
from postback.errors import PostbackError
from postback.http_status import status_of

log = logging.getLogger(__name__)


def status_and_body(exc: BaseException) -> tuple[int, dict[str, object]]:
    status = status_of(exc) if isinstance(exc, PostbackError) else 500
    if status == 503:
        log.warning("database unavailable: %s", exc, extra={"action": "store_down"})
        return status, error_body("unavailable", "the database is unavailable, retry later")
    if isinstance(exc, PostbackError) and status < 500:
        return status, error_body(exc.code, exc.message, **exc.details)
    log.exception("unexpected error", exc_info=exc, extra={"action": "edge_error"})
    return 500, error_body("internal", "internal error")
