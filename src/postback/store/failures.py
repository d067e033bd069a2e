"""Driver errors, translated at the store boundary into the exception tree.

Callers above the store see only `StoreError` and its kinds: a unique violation is a
`DuplicateKey`; a database that cannot be reached, has no space left, or is locked by
another process is a `StoreUnavailable` (answered 503, retried later). The driver's own
text is kept as the message, for the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from postback.errors import (
    DuplicateKey,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    StoreWriteFailed,
)

# SQLite's names for "the disk would not take the write" (a full disk, a file size
# limit) and for "another connection holds the lock" (after busy_timeout ran out).
SQLITE_WRITE_FAILURES = frozenset(
    {"SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE"}
)
SQLITE_LOCK_PREFIXES = ("SQLITE_BUSY", "SQLITE_LOCKED")
# PostgreSQL's lock_not_available: a lock not had within lock_timeout.
POSTGRES_LOCK_TIMEOUT = "55P03"


def classify(exc: DBAPIError) -> StoreError:
    """The store error a wrapped driver error stands for."""
    if isinstance(exc, IntegrityError):
        return DuplicateKey(str(exc.orig))
    sqlite_name = str(getattr(exc.orig, "sqlite_errorname", ""))
    if sqlite_name in SQLITE_WRITE_FAILURES:
        return StoreWriteFailed(str(exc.orig))
    if sqlite_name.startswith(SQLITE_LOCK_PREFIXES) or (
        getattr(exc.orig, "pgcode", None) == POSTGRES_LOCK_TIMEOUT
    ):
        return StoreLocked(str(exc.orig))
    if exc.connection_invalidated or isinstance(exc, OperationalError):
        return StoreUnavailable(str(exc.orig))
    return StoreError(str(exc.orig))


@contextlib.contextmanager
def translated(unavailable: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Re-raise driver errors as store errors; `unavailable` adds a driver's own
    connection errors, which can escape SQLAlchemy's wrapping."""
    connection_lost: tuple[type[BaseException], ...] = (OSError, *unavailable)
    try:
        yield
    except DBAPIError as exc:
        raise classify(exc) from exc
    except PoolTimeout as exc:
        raise StoreUnavailable(f"no database connection became free: {exc}") from exc
    except connection_lost as exc:
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
