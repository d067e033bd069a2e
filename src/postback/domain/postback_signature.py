"""Signed incoming postbacks: an advertiser may sign a postback instead of sending its
token in the clear.

    canonical = <query string as sent, without its `signature` parameter> + "\\n" + <body>
    signature = hex(HMAC-SHA256(key = the advertiser's postback_token, canonical))

The signature travels as the `signature` query parameter or the `X-Postback-Signature`
header, and the request must carry `ts` (Unix seconds, in the query or the body, so it
is signed too) within MAX_SKEW_SECONDS of our clock, so a captured request cannot be
replayed later. During a token rotation's grace period the previous token verifies too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

SIGNATURE_PARAM = "signature"
TIMESTAMP_PARAM = "ts"
MAX_SKEW_SECONDS = 300


def canonical_message(raw_query: bytes, body: bytes) -> bytes:
    """The signed bytes: the raw query without `signature` parameters, a newline, the body."""
    kept = [
        part
        for part in raw_query.split(b"&")
        if part and part.split(b"=", 1)[0] != SIGNATURE_PARAM.encode()
    ]
    return b"&".join(kept) + b"\n" + body


def sign(token: str, raw_query: bytes, body: bytes) -> str:
    return hmac.new(token.encode(), canonical_message(raw_query, body), hashlib.sha256).hexdigest()


def signature_matches(signature: str, tokens: Iterable[str], raw_query: bytes, body: bytes) -> bool:
    """Whether any accepted token made this signature; every token is compared, in
    constant time, so timing tells nothing about which one matched."""
    given = signature.strip().lower().encode()
    results = [hmac.compare_digest(given, sign(t, raw_query, body).encode()) for t in tokens]
    return any(results)


def timestamp_problem(ts: str | None, now: datetime) -> str | None:
    """Why the signed request's `ts` is not acceptable, or None."""
    if ts is None or not ts.isascii() or not ts.isdigit() or len(ts) > 12:
        return f"a signed postback needs {TIMESTAMP_PARAM} (Unix seconds)"
    if abs(int(ts) - now.timestamp()) > MAX_SKEW_SECONDS:
        return f"{TIMESTAMP_PARAM} is more than {MAX_SKEW_SECONDS} seconds away from our clock"
    return None
