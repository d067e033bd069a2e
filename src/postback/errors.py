"""The exception tree.

    PostbackError
    +-- InvalidInput          bad field from outside (param names the field)
    +-- NotFound              a referenced record does not exist
    |   +-- UnknownClick      a postback names a click we never recorded
    +-- Unauthorized          missing or wrong credentials
    |   +-- BadToken          a postback's token is missing or wrong
    +-- Gone                  a referenced record exists but may no longer be used
    |   +-- ClickExpired      a new conversion for a click older than its offer's window
    |   +-- Purged            what was asked for was removed by retention
    +-- Forbidden             caller not allowed
    |   +-- IpNotAllowed      a postback from outside the advertiser's allow-list
    +-- Conflict              the change contradicts current state
    |   +-- InvalidTransition a status change the state machine refuses
    +-- TooLarge              a request body over the size limit
    +-- UnsupportedMediaType  a body in a format we do not read
    +-- TooManyRequests       too many failed authentications from one address
    +-- StoreError            the database failed (translated driver errors)
        +-- DuplicateKey      a unique constraint refused a row
        +-- StoreUnavailable  the database cannot be reached or cannot write now
            +-- StoreWriteFailed  the disk refused a write (full, file size limit)
            +-- StoreLocked       another process holds the database's write lock

HTTP status codes are chosen only in the HTTP layers (edge and api).
"""

from __future__ import annotations


class PostbackError(Exception):
    code = "error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(PostbackError):
    code = "invalid_param"

    def __init__(self, param: str, message: str, **details: object) -> None:
        super().__init__(message, param=param, **details)
        self.param = param


class UnknownEvent(InvalidInput):
    """An event outside the advertiser's event map: refused, never counted as a sale."""

    code = "unknown_event"

    def __init__(self, message: str) -> None:
        super().__init__("event", message)


class NotFound(PostbackError):
    code = "not_found"


class Gone(PostbackError):
    code = "gone"


class Unauthorized(PostbackError):
    code = "unauthorized"


class Forbidden(PostbackError):
    code = "forbidden"


class Conflict(PostbackError):
    code = "conflict"


class InUse(Conflict):
    code = "in_use"


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(
            f"status cannot change from {current} to {requested}",
            status=current,
            requested=requested,
        )
        self.current = current
        self.requested = requested


class StoreError(PostbackError):
    code = "store_error"


class DuplicateKey(StoreError):
    code = "duplicate"


class StoreUnavailable(StoreError):
    code = "unavailable"
    #: What a client is told; the driver's own text goes only to the log.
    public_message = "the database is unavailable, retry later"


class StoreWriteFailed(StoreUnavailable):
    public_message = "the database cannot write to its disk (is it full?), retry later"


class StoreLocked(StoreUnavailable):
    public_message = "the database is locked by another process, retry later"


class UnknownClick(NotFound):
    code = "unknown_click"


class Purged(Gone):
    code = "purged"


class ClickExpired(Gone):
    code = "click_expired"

    def __init__(self, attribution_days: int) -> None:
        super().__init__(
            f"the click is older than its offer's attribution window ({attribution_days} days)",
            attribution_days=attribution_days,
        )


class BadToken(Unauthorized):
    code = "bad_token"


class IpNotAllowed(Forbidden):
    code = "ip_not_allowed"


class TooLarge(PostbackError):
    code = "body_too_large"


class UnsupportedMediaType(PostbackError):
    code = "unsupported_media_type"


class TooManyRequests(PostbackError):
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
