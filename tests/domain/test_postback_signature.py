"""The signed-postback scheme, as an advertiser would implement it from the docs."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from postback.domain.postback_signature import (
    canonical_message,
    sign,
    signature_matches,
    timestamp_problem,
)


def advertiser_signs(token: str, query: str, body: bytes = b"") -> str:
    """Straight from the documentation, without the product's code."""
    return hmac.new(token.encode(), query.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def test_the_documented_recipe_matches() -> None:
    query = "click_id=abc&txid=T1&status=approved&ts=1700000000"
    signature = advertiser_signs("tok", query)
    assert sign("tok", query.encode(), b"") == signature
    sent = f"{query}&signature={signature}".encode()
    assert signature_matches(signature, ["tok"], sent, b"")
    assert signature_matches(signature.upper(), ["other", "tok"], sent, b"")


def test_the_signature_parameter_is_left_out_wherever_it_stands() -> None:
    assert canonical_message(b"signature=x&a=1&b=2", b"") == b"a=1&b=2\n"
    assert canonical_message(b"a=1&signature=x&b=2", b"{}") == b"a=1&b=2\n{}"
    assert canonical_message(b"a=1&signatures=x", b"") == b"a=1&signatures=x\n"


def test_anything_changed_breaks_it() -> None:
    body = b'{"click_id":"abc","status":"approved","ts":1700000000}'
    signature = advertiser_signs("tok", "", body)
    assert signature_matches(signature, ["tok"], b"", body)
    assert not signature_matches(signature, ["tok"], b"", body.replace(b"approved", b"rejected"))
    assert not signature_matches(signature, ["tok2"], b"", body)
    assert not signature_matches(signature, ["tok"], b"extra=1", body)
    assert not signature_matches("", ["tok"], b"", body)


def test_timestamps_within_five_minutes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fresh = str(int((now - timedelta(seconds=299)).timestamp()))
    stale = str(int((now - timedelta(seconds=301)).timestamp()))
    future = str(int((now + timedelta(seconds=301)).timestamp()))
    assert timestamp_problem(fresh, now) is None
    for bad in (stale, future, None, "", "12a", "-5", "1" * 13, "\uff11\uff12\uff13"):
        assert timestamp_problem(bad, now) is not None
