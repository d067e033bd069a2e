"""The HTTP status of each domain error, shared by the edge and the API."""

from __future__ import annotations

from postback.errors import (
    Conflict,
    DuplicateKey,
    Forbidden,
    InvalidInput,
    NotFound,
    PostbackError,
    StoreError,
    TooLarge,
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
    (TooLarge, 413),
    (UnsupportedMediaType, 415),
    (StoreError, 503),
)


def status_of(exc: PostbackError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500
