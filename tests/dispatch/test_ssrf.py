"""The SSRF guard: which addresses, spellings and URLs are refused."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from postback.dispatch.ssrf import GuardedResolver
from postback.domain.targets import (
    BlockedTarget,
    blocked_reason,
    check_url,
    literal_ip,
    parse_loose_ipv4,
)

BLOCKED = {
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "10.0.0.1": "private",
    "10.255.255.255": "private",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "169.254.169.254": "link-local",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.0.0.8": "IETF",
    "192.0.2.10": "documentation",
    "192.168.1.1": "private",
    "198.18.0.1": "benchmarking",
    "198.19.255.255": "benchmarking",
    "198.51.100.7": "documentation",
    "203.0.113.99": "documentation",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast",
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "febf::1": "link-local",
    "fc00::1": "unique local",
    "fd12:3456::1": "unique local",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "2001:db8::1": "documentation",
    "3fff::1": "documentation",
    "2001::1": "Teredo",
    "2001:2::1": "benchmarking",
    "100::1": "discard",
    "64:ff9b:1::1": "NAT64",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.1.2.3": "private",
    "::ffff:169.254.169.254": "link-local",
    "2002:7f00:1::": "loopback",
    "2002:c0a8:101::1": "private",
    "64:ff9b::7f00:1": "loopback",
    "64:ff9b::a00:1": "private",
    "::7f00:1": "reserved",
    "4000::1": "reserved",
}

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.169.0.1",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.254",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize(("address", "reason"), sorted(BLOCKED.items()))
def test_blocked_addresses(address: str, reason: str) -> None:
    found = blocked_reason(ipaddress.ip_address(address))
    assert found is not None
    assert reason.lower() in found.lower()


@pytest.mark.parametrize("address", ALLOWED)
def test_global_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.0x10.0.1", "10.16.0.1"),
        ("0", "0.0.0.0"),
        ("3232235777", "192.168.1.1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_loose_ipv4_spellings(spelling: str, address: str) -> None:
    assert parse_loose_ipv4(spelling) == ipaddress.IPv4Address(address)
    # The system resolver agrees with every spelling it accepts.
    infos = socket.getaddrinfo(spelling, 80, socket.AF_INET, socket.SOCK_STREAM)
    assert {info[4][0] for info in infos} == {address}


def test_trailing_dot_is_still_a_literal() -> None:
    # URL parsers read it as an address; refusing it up front is the safe reading.
    assert parse_loose_ipv4("127.0.0.1.") == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    "host",
    ["example.com", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "08.0.0.1", "0x", "1..2", "", "a.1"],
)
def test_not_ipv4_literals(host: str) -> None:
    assert parse_loose_ipv4(host) is None


def test_literal_ip_handles_ipv6_and_names() -> None:
    assert literal_ip("[::1]") == ipaddress.IPv6Address("::1")
    assert literal_ip("::ffff:7f00:1") == ipaddress.IPv6Address("::ffff:127.0.0.1")
    assert literal_ip("example.com") is None
    assert literal_ip("not:an:address") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/pb",
        "http://127.0.0.1:8080/pb?x={click_id}",
        "https://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1%25eth0]/",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost:9000/",
        "http://user:pass@192.168.0.1/",
    ],
)
def test_check_url_refuses_private_targets(url: str) -> None:
    reason = check_url(url, policy=False)
    assert reason is not None
    assert reason.startswith("target refused")
    assert "POSTBACK_ALLOW_PRIVATE_TARGETS" in reason
    assert check_url(url, policy=True) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("example.com/postback", "scheme"),
        ("http:///path", "no host"),
        ("http://example.com:99999/", "malformed"),
        ("http://example.com:0/", "port"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\n", "whitespace"),
    ],
)
def test_check_url_refuses_malformed_urls(url: str, words: str) -> None:
    reason = check_url(url, policy=True)
    assert reason is not None
    assert words in reason


@pytest.mark.parametrize(
    "url",
    [
        "https://partner.example.com/postback?cid={click_id}&payout={payout}",
        "http://8.8.8.8/pb",
        "https://[2001:4860:4860::8888]/pb",
        "HTTPS://Partner.Example.com:8443/pb",
    ],
)
def test_check_url_accepts_public_targets(url: str) -> None:
    assert check_url(url, policy=False) is None


class FixedResolver(AbstractResolver):
    """Answers every lookup with the same addresses, as a DNS server under test would."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.lookups = 0
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups += 1
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        self.closed = True


async def test_resolver_passes_global_answers_through() -> None:
    inner = FixedResolver("8.8.8.8", "2001:4860:4860::8888")
    resolver = GuardedResolver(policy=False, resolver=inner)
    answers = await resolver.resolve("partner.example", 443)
    assert [a["host"] for a in answers] == ["8.8.8.8", "2001:4860:4860::8888"]
    assert inner.lookups == 1
    await resolver.close()
    assert not inner.closed  # the caller's resolver stays the caller's to close


async def test_resolver_refuses_when_any_answer_is_private() -> None:
    resolver = GuardedResolver(policy=False, resolver=FixedResolver("8.8.8.8", "10.0.0.7"))
    with pytest.raises(BlockedTarget) as caught:
        await resolver.resolve("rebind.example", 80)
    assert caught.value.address == "10.0.0.7"
    assert caught.value.reason == "private address"
    assert "rebind.example resolves to 10.0.0.7 (private address)" in str(caught.value)


async def test_resolver_refuses_mapped_and_metadata_addresses() -> None:
    for address in ("::ffff:127.0.0.1", "169.254.169.254", "fd00::1"):
        resolver = GuardedResolver(policy=False, resolver=FixedResolver(address))
        with pytest.raises(BlockedTarget):
            await resolver.resolve("evil.example", 80)


async def test_resolver_allows_private_when_configured() -> None:
    resolver = GuardedResolver(policy=True, resolver=FixedResolver("127.0.0.1"))
    answers = await resolver.resolve("localhost", 80)
    assert answers[0]["host"] == "127.0.0.1"


async def test_resolver_refuses_localhost_with_the_system_resolver() -> None:
    resolver = GuardedResolver(policy=False)
    with pytest.raises(BlockedTarget, match="loopback"):
        await resolver.resolve("localhost", 80)
    await resolver.close()
