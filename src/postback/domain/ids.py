"""Identifiers, secrets and key hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from datetime import UTC, date, datetime, timedelta

CLICK_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


#: A click id ends with the UTC day it was made on, in this many characters.
DAY_CHARS = 3
#: The length of the ids `new_click_id` makes: 20 random characters and the day.
DATED_ID_LENGTH = 20 + DAY_CHARS
_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_DIGIT = {char: value for value, char in enumerate(_ALPHABET)}
_EPOCH_DAY = date(1970, 1, 1)


def new_click_id(at: datetime) -> str:
    """120 random bits and the UTC day of `at`, URL-safe: 23 characters of
    [A-Za-z0-9_-]. Random from the first character; the day at the end lets PostgreSQL
    look a click up in its own day's partition (store/clicks.py)."""
    day = (at.astimezone(UTC).date() - _EPOCH_DAY).days
    code = "".join(_ALPHABET[(day >> shift) & 63] for shift in (12, 6, 0))
    return secrets.token_urlsafe(15) + code


def click_day(click_id: str) -> date | None:
    """The UTC day a click id of `new_click_id` says it was made on; None for ids of
    another shape (made before ids carried their day)."""
    if len(click_id) != DATED_ID_LENGTH:
        return None
    day = 0
    for char in click_id[-DAY_CHARS:]:
        value = _DIGIT.get(char)
        if value is None:
            return None
        day = day << 6 | value
    return _EPOCH_DAY + timedelta(days=day)


def is_click_id(text: str) -> bool:
    return CLICK_ID_PATTERN.fullmatch(text) is not None


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_api_key(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(24)}"


def new_postback_token() -> str:
    return secrets.token_urlsafe(18)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(given.encode(), expected.encode())
