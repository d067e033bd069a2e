"""Who may post back for an advertiser: its IP allow-list, then its token or a signature.

The order is part of the contract: the allow-list answers 403 first; a client address
that has failed too often answers 429 (services/ratelimit.py) before its credentials are
even looked at; then a signature (domain/postback_signature.py) or the static token
must match, compared in constant time, or the answer is 401 and the failure counts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

from postback.domain.ids import same_secret
from postback.domain.postback_signature import signature_matches, timestamp_problem
from postback.domain.records import Advertiser
from postback.errors import BadToken, IpNotAllowed, TooManyRequests
from postback.services.ratelimit import FailureLimiter


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an incoming postback brings to prove who sent it."""

    token: str | None
    signature: str | None
    timestamp: str | None
    raw_query: bytes
    body: bytes


def ip_allowed(ip: str | None, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in allowed)


async def check_access(
    advertiser: Advertiser, ip: str | None, credentials: Credentials, limiter: FailureLimiter
) -> None:
    """Raise IpNotAllowed, TooManyRequests or BadToken; return when the caller may post."""
    if not ip_allowed(ip, advertiser.allowed_ips):
        raise IpNotAllowed(f"{ip} is not in the advertiser's allowed IPs")
    if not advertiser.require_token:
        return
    wait = limiter.retry_after(ip)
    if wait is not None:
        raise TooManyRequests(
            f"too many failed authentications from {ip}; retry in {wait} s", retry_after=wait
        )
    try:
        _check_credentials(advertiser, credentials, datetime.now(UTC))
    except BadToken:
        await limiter.failed(ip)
        raise


def _check_credentials(advertiser: Advertiser, credentials: Credentials, now: datetime) -> None:
    tokens = advertiser.tokens_accepted(now)
    if credentials.signature is not None:
        problem = timestamp_problem(credentials.timestamp, now)
        if problem is not None:
            raise BadToken(problem)
        if not signature_matches(
            credentials.signature, tokens, credentials.raw_query, credentials.body
        ):
            raise BadToken("signature is wrong")
        return
    if credentials.token is None:
        raise BadToken("token is required")
    # Every accepted token is compared, so timing tells nothing about which matched.
    matches = [same_secret(credentials.token, token) for token in tokens]
    if not any(matches):
        raise BadToken("token is wrong")
