"""Standard Webhooks signatures (https://www.standardwebhooks.com) for POST deliveries."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from standardwebhooks import Webhook


def webhook_headers(secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    """webhook-id, webhook-timestamp and a v1 HMAC-SHA256 webhook-signature over body.

    `body` must be exactly the text sent (as UTF-8); `message_id` stays the same across
    retries so that receivers can drop duplicates.
    """
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    moment = moment.astimezone(UTC)
    signature: str = Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": signature,
    }
