"""Identifiers, secrets and key hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

CLICK_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_click_id() -> str:
    """128 random bits, URL-safe: 22 characters of [A-Za-z0-9_-]."""
    return secrets.token_urlsafe(16)


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
