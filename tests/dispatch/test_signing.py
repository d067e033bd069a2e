"""Standard Webhooks headers, checked with the reference verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from postback.dispatch.signing import signed_url, url_signature, webhook_headers
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


def test_during_a_rotation_both_secrets_sign() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = webhook_headers((new, old), "msg_rot", BODY, datetime.now(UTC))
    assert len(headers["webhook-signature"].split(" ")) == 2
    # A partner holding either secret verifies with the reference library.
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(BODY, headers)


def partner_check(received_url: str, secret: str) -> bool:
    """What the documentation tells a partner to do with a signed GET postback."""
    cut = min(
        (i for i in (received_url.find("?signature="), received_url.find("&signature=")) if i >= 0),
        default=-1,
    )
    if cut < 0:
        return False
    signed, given = received_url[:cut], parse_qs(urlsplit(received_url).query)["signature"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for value in given)


@pytest.mark.parametrize(
    "url",
    [
        "https://tracker.example/pb?cid=abc&payout=1.50&s=%7Bx%7D",
        "https://tracker.example/pb",
        "https://tracker.example/pb?",
        "https://tracker.example/pb?a=1&",
        "https://tracker.example/pb?a=1#frag",
    ],
)
def test_signed_get_urls_verify_as_documented(url: str) -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    assert partner_check(signed_url(url, [new]), new)
    assert not partner_check(signed_url(url, [new]), old)
    rotated = signed_url(url, [new, old])
    assert partner_check(rotated, new) and partner_check(rotated, old)
    # Changing anything signed breaks it.
    tampered = signed_url(url, [new]).replace("tracker", "tracer")
    assert not partner_check(tampered, new)


def test_url_signature_is_the_hmac_of_the_url() -> None:
    secret = new_webhook_secret()
    key = base64.b64decode(secret[len("whsec_") :])
    url = "https://t.example/pb?x=1"
    assert url_signature(secret, url) == hmac.new(key, url.encode(), hashlib.sha256).hexdigest()
