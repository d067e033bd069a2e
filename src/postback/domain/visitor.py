"""Who clicked, without keeping who it was: the visitor's keyed hash (for unique clicks)
and the address as stored when IPs are anonymized."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Final

# 128 bits of the HMAC: collisions between two visitors of one offer are not a concern.
VISITOR_HEX: Final = 32
ANONYMOUS_V4_PREFIX: Final = 24
ANONYMOUS_V6_PREFIX: Final = 48


def visitor_id(key: bytes, ip: str | None, user_agent: str | None) -> str | None:
    """The visitor as a keyed hash of its address and browser; None when neither is known
    (such clicks cannot be told apart, and count as unique)."""
    if not ip and not user_agent:
        return None
    message = f"{ip or ''}\n{user_agent or ''}".encode("utf-8", "replace")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:VISITOR_HEX]


def anonymized(ip: str | None) -> str | None:
    """The address with its host part zeroed: IPv4 /24, IPv6 /48 (an unreadable one is
    dropped rather than kept whole)."""
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = ANONYMOUS_V4_PREFIX if address.version == 4 else ANONYMOUS_V6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
