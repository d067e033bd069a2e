"""Who may post back for an advertiser: its IP allow-list, then its platform's proof, a
signature or its token.

The order is part of the contract: the allow-list answers 403 first; a client address
that has failed too often answers 429 (services/ratelimit.py) before its credentials are
even looked at; then a sales platform's own proof (domain/partner_proof.py, for an
advertiser with a platform template and its secret), a signature
(domain/postback_signature.py, for an advertiser that turned signing on) or the static
token must match, compared in constant time, or the answer is 401 and the failure counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from postback.domain.catalog import known_incoming
from postback.domain.ids import same_secret
from postback.domain.partner_proof import partner_proof
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
    # Headers (lower-case names), the postback's fields and the query alone, where a
    # sales platform puts its proof.
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Sequence[str]] = field(default_factory=dict)
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)


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


def _check_platform_proof(advertiser: Advertiser, credentials: Credentials) -> bool:
    """True when the advertiser's sales platform proved the postback is its own; False
    when the request carries no such proof (our token or signature may then do)."""
    template = known_incoming(advertiser.template)
    auth = template.auth if template is not None else None
    if auth is None or advertiser.partner_secret is None:
        return False
    proved = partner_proof(
        auth,
        advertiser.partner_secret,
        credentials.headers,
        credentials.params,
        credentials.query,
        credentials.body,
    )
    if proved is False:
        raise BadToken(f"the {auth.label} is wrong")
    if proved is None and credentials.token is None and credentials.signature is None:
        raise BadToken(f"the {auth.label} is required")
    return proved is True


def _check_credentials(advertiser: Advertiser, credentials: Credentials, now: datetime) -> None:
    if _check_platform_proof(advertiser, credentials):
        return
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
