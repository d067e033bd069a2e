"""Which addresses an outgoing postback may reach: the policy, pure (no I/O).

Only globally routable unicast addresses are allowed unless the operator sets
POSTBACK_ALLOW_PRIVATE_TARGETS, or lists networks and host names in
POSTBACK_ALLOWED_TARGETS (a ``TargetPolicy``). Three places enforce it:

- ``check_url`` when a postback config is saved (scheme, host, IP literals, localhost);
- ``dispatch.ssrf.GuardedResolver`` at send time: it resolves a host name once and
  refuses it when any address is blocked; aiohttp then connects to exactly those
  addresses, so a DNS answer cannot change between the check and the connection;
- the sender for IP-literal hosts, which aiohttp never hands to a resolver.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
ALLOW_HINT = (
    "set POSTBACK_ALLOW_PRIVATE_TARGETS=true or list it in POSTBACK_ALLOWED_TARGETS to allow it"
)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _nets4(*pairs: tuple[str, str]) -> tuple[tuple[ipaddress.IPv4Network, str], ...]:
    return tuple((ipaddress.IPv4Network(net), reason) for net, reason in pairs)


def _nets6(*pairs: tuple[str, str]) -> tuple[tuple[ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.IPv6Network(net), reason) for net, reason in pairs)


# Checked in order; the first match names the reason.
BLOCKED_V4 = _nets4(
    ("0.0.0.0/8", "unspecified address ('this network')"),
    ("10.0.0.0/8", "private address"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback address"),
    ("169.254.0.0/16", "link-local address"),
    ("172.16.0.0/12", "private address"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation address"),
    ("192.88.99.0/24", "6to4 relay anycast address"),
    ("192.168.0.0/16", "private address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("224.0.0.0/4", "multicast address"),
    ("255.255.255.255/32", "broadcast address"),
    ("240.0.0.0/4", "reserved address"),
)

BLOCKED_V6 = _nets6(
    ("::/128", "unspecified address"),
    ("::1/128", "loopback address"),
    ("64:ff9b:1::/48", "local-use NAT64 address"),
    ("100::/64", "discard-only address"),
    ("2001::/32", "Teredo address"),
    ("2001:2::/48", "benchmarking address"),
    ("2001:10::/28", "ORCHID address"),
    ("2001:20::/28", "ORCHIDv2 address"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation address"),
    ("3fff::/20", "documentation address"),
    ("5f00::/16", "SRv6 segment identifier"),
    ("fc00::/7", "unique local address"),
    ("fe80::/10", "link-local address"),
    ("fec0::/10", "site-local address"),
    ("ff00::/8", "multicast address"),
)

GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which non-global targets the operator allows.

    `allow_private` opens everything. Otherwise a target is allowed when its host name is
    listed in `hosts` (whatever it resolves to: the operator vouches for the name), or
    when the address it is, or resolves to, lies in one of `networks`, or is global.
    """

    allow_private: bool = False
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    def trusts_host(self, host: str) -> bool:
        return self.allow_private or normal_host(host) in self.hosts

    def address_refusal(self, ip: IPAddress) -> str | None:
        """Why an address may not be reached under this policy, or None."""
        if self.allow_private or any(_contains(net, ip) for net in self.networks):
            return None
        return blocked_reason(ip)


Policy = TargetPolicy | bool


def as_policy(policy: Policy) -> TargetPolicy:
    """A plain bool stands for POSTBACK_ALLOW_PRIVATE_TARGETS alone."""
    return policy if isinstance(policy, TargetPolicy) else TargetPolicy(allow_private=policy)


def _contains(network: Network, ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version == network.version and ip in network


def normal_host(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")


def parse_allowed_targets(entries: Iterable[str]) -> TargetPolicy:
    """POSTBACK_ALLOWED_TARGETS: CIDRs, addresses and host names; ValueError names a bad one."""
    networks: list[Network] = []
    hosts: set[str] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = normal_host(entry)
        labels = name.split(".")
        # An address in a loose spelling, or an all-digit last label (RFC 3696), is no
        # host name: most likely a mistyped address.
        if (
            literal_ip(name) is not None
            or labels[-1].isdigit()
            or not all(_HOST_LABEL.fullmatch(x) for x in labels)
        ):
            raise ValueError(f"not a CIDR, an IP address or a host name: {entry!r}")
        hosts.add(name)
    return TargetPolicy(allow_private=False, networks=tuple(networks), hosts=frozenset(hosts))


class BlockedTarget(Exception):
    """A postback target resolves to an address that outgoing calls may not reach."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        where = host if host == address else f"{host} resolves to {address}"
        super().__init__(f"target refused: {where} ({reason}); {ALLOW_HINT}")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why an address must not be reached, or None when it is globally routable."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _blocked_v4(ip)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        inner = _blocked_v4(embedded)
        return None if inner is None else f"{inner} (embedded IPv4 {embedded})"
    for network, reason in BLOCKED_V6:
        if ip in network:
            return reason
    if ip not in GLOBAL_UNICAST_V6:
        return "reserved address"
    if not ip.is_global:
        return "non-global address"
    return None


def _blocked_v4(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in BLOCKED_V4:
        if ip in network:
            return reason
    if not ip.is_global:
        return "non-global address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4 or NAT64 address stands for."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_V6:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


_HEX = re.compile(r"0x[0-9a-f]+")
_OCTAL = re.compile(r"0[0-7]*")
_DECIMAL = re.compile(r"[1-9][0-9]*")


def _ipv4_part(text: str) -> int | None:
    if _HEX.fullmatch(text):
        return int(text, 16)
    if _OCTAL.fullmatch(text):
        return int(text, 8)
    if _DECIMAL.fullmatch(text):
        return int(text)
    return None


def parse_loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Every IPv4 spelling resolvers accept: 127.0.0.1, 2130706433, 0x7f.1, 0177.0.0.01 ..."""
    text = host.lower()
    if text.endswith("."):
        text = text[:-1]
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_ipv4_part(part) for part in parts]
    values = [n for n in numbers if n is not None]
    if len(values) != len(parts):
        return None
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def literal_ip(host: str) -> IPAddress | None:
    """The address an IP-literal host names (in any spelling), or None for a host name."""
    text = host.strip("[]")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(unquote(text))
        except ValueError:
            return None
    return parse_loose_ipv4(text)


def is_localhost_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def check_host(host: str, policy: Policy) -> str | None:
    """Why a host (name or literal) is refused before any lookup, or None."""
    rules = as_policy(policy)
    if rules.trusts_host(host):
        return None
    ip = literal_ip(host)
    if ip is not None:
        reason = rules.address_refusal(ip)
        return None if reason is None else f"target refused: {host} ({reason}); {ALLOW_HINT}"
    if is_localhost_name(host):
        return f"target refused: {host} (loopback name); {ALLOW_HINT}"
    return None


def check_url(url: str, policy: Policy) -> str | None:
    """Why a postback URL is refused when a config is saved, or None when it is acceptable.

    Host names are judged again at every send, on the addresses they resolve to.
    """
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        return "URL must not contain whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"malformed URL: {exc}"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return "URL scheme must be http or https"
    host = parts.hostname
    if not host:
        return "URL has no host"
    if port == 0:
        return "URL port must be between 1 and 65535"
    return check_host(host, policy)
