"""Exceptions to HTTP answers for the edge; the only place edge status codes are chosen."""

from __future__ import annotations

import logging

from postback.edge.http import error_body
from postback.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PostbackError,
    StoreError,
    TooLarge,
    Unauthorized,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[PostbackError], int], ...] = (
    (InvalidInput, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (UnsupportedMediaType, 415),
    (StoreError, 503),
)


def status_and_body(exc: BaseException) -> tuple[int, dict[str, object]]:
    if isinstance(exc, PostbackError):
        for kind, status in STATUS_BY_ERROR:
            if isinstance(exc, kind):
                if status == 503:
                    log.warning("database unavailable: %s", exc, extra={"action": "store_down"})
                    return status, error_body(
                        "unavailable", "the database is unavailable, retry later"
                    )
                return status, error_body(exc.code, exc.message, **exc.details)
    log.exception("unexpected error", exc_info=exc, extra={"action": "edge_error"})
    return 500, error_body("internal", "internal error")
