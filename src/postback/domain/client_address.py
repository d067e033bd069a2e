"""Who is calling: the peer's address, or behind trusted proxies the first address in
X-Forwarded-For (walked from the nearest hop back) that is not one of them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(
    peer: str | None, forwarded: str | None, trusted_proxies: Sequence[Network]
) -> str | None:
    """The caller's address; X-Forwarded-For counts only when the peer is a trusted proxy."""
    if peer is None or not trusted_proxies:
        return peer
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(address in net for net in trusted_proxies):
        return peer
    if not forwarded:
        return peer
    for hop in reversed([part.strip() for part in forwarded.split(",")]):
        try:
            hop_address = ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if not any(hop_address in net for net in trusted_proxies):
            return str(hop_address)
    return peer


def is_trusted_proxy(peer: str | None, trusted_proxies: Sequence[Network]) -> bool:
    """Whether the peer is one of the trusted proxies (whose headers may be believed)."""
    if peer is None:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in trusted_proxies)
