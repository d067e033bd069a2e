"""Standard Webhooks headers, checked with the reference verifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from postback.dispatch.signing import webhook_headers
from postback.domain.ids import new_webhook_secret

BODY = '{"event":"sale","payout":1.5,"name":"caf\\u00e9 ☕"}'


def test_headers_verify_with_the_reference_library() -> None:
    secret = new_webhook_secret()
    now = datetime.now(UTC)
    headers = webhook_headers(secret, "msg_abc", BODY, now)
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY.encode("utf-8"), headers) == {
        "event": "sale",
        "payout": 1.5,
        "name": "café ☕",
    }


def test_signature_covers_body_id_and_secret() -> None:
    secret = new_webhook_secret()
    headers = webhook_headers(secret, "msg_1", "a=1&b=2", datetime.now(UTC))
    verifier = Webhook(secret)
    verifier.verify("a=1&b=2", headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        verifier.verify("a=1&b=3", headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        verifier.verify("a=1&b=2", {**headers, "webhook-id": "msg_2"}, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify("a=1&b=2", headers, json_parse=False)


def test_timestamp_of_any_time_zone_is_the_same_instant() -> None:
    secret = new_webhook_secret()
    utc_now = datetime.now(UTC)
    elsewhere = utc_now.astimezone(timezone(timedelta(hours=-7)))
    naive_utc = utc_now.replace(tzinfo=None)
    expected = webhook_headers(secret, "msg_tz", "", utc_now)
    assert webhook_headers(secret, "msg_tz", "", elsewhere) == expected
    assert webhook_headers(secret, "msg_tz", "", naive_utc) == expected
    Webhook(secret).verify("", expected, json_parse=False)
