"""The HTTP status of each domain error, shared by the edge and the API."""

from __future__ import annotations

from postback.errors import (
    Conflict,
    DuplicateKey,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    PostbackError,
    StoreError,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)

# First match wins: DuplicateKey is a StoreError but answers as a conflict.
STATUS_BY_ERROR: tuple[tuple[type[PostbackError], int], ...] = (
    (InvalidInput, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (DuplicateKey, 409),
    (Gone, 410),
    (TooLarge, 413),
    (UnsupportedMediaType, 415),
    (TooManyRequests, 429),
    (StoreError, 503),
)


def status_of(exc: PostbackError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


def retry_after_of(exc: PostbackError) -> int | None:
    """Seconds for a Retry-After header, when the error tells the caller to wait."""
    return exc.retry_after if isinstance(exc, TooManyRequests) else None
