"""Signatures on outgoing postbacks.

POST: Standard Webhooks (https://www.standardwebhooks.com) headers over the body.
GET (when the config asks for it): a `signature` query parameter, the hex HMAC-SHA256
of the URL exactly as rendered, keyed with the same `whsec_` secret.

While a rotated secret is in its grace period, every signature is made with both the
new and the previous secret, so a partner that still holds the old one keeps verifying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
URL_SIGNATURE_PARAM = "signature"


def webhook_headers(
    secrets: str | Sequence[str], message_id: str, body: str, now: datetime
) -> dict[str, str]:
    """webhook-id, webhook-timestamp and one v1 HMAC-SHA256 signature per secret.

    `body` must be exactly the text sent (as UTF-8); `message_id` stays the same across
    retries so that receivers can drop duplicates.
    """
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    moment = moment.astimezone(UTC)
    signatures = [
        str(Webhook(key).sign(msg_id=message_id, timestamp=moment, data=body)) for key in keys
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for (the base64 text after the prefix)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def url_signature(secret: str, url: str) -> str:
    return hmac.new(secret_key(secret), url.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_url(url: str, secrets: Sequence[str]) -> str:
    """`url` with one `signature` parameter per secret appended, newest secret first.

    A partner verifies by cutting the URL it received before the first `signature`
    parameter (and its `?` or `&`) and computing the HMAC of what is left.
    """
    # A fragment never leaves the client, and a dangling separator says nothing: neither
    # is signed nor sent, so the signed text is always what precedes `?signature=` or
    # the first `&signature=`.
    url = url.partition("#")[0].rstrip("?&")
    separator = "&" if "?" in url else "?"
    params = "&".join(f"{URL_SIGNATURE_PARAM}={url_signature(key, url)}" for key in secrets)
    return f"{url}{separator}{params}"
