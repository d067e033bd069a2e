"""The outgoing-target policy end to end: every special-purpose range in every spelling,
names that resolve (or re-resolve) to private addresses, redirects, and the operator's
allow-list. Real sockets on 127.0.0.0/8; the DNS answers come from a test resolver."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import ValidationError

from postback.dispatch.sender import Sender
from postback.domain.targets import blocked_reason, check_url, parse_allowed_targets
from postback.settings import Settings
from tests.reliability_report import record

from .support import MakeReceiver, Receiver
from .test_sender import claim_for

# IANA's IPv4 and IPv6 special-purpose registries: every block that is not globally
# reachable (plus multicast and the deprecated site-local range). IPv4-mapped, 6to4 and
# NAT64 addresses stand for the IPv4 address inside them and are judged by it (see
# the spellings below and tests/dispatch/test_ssrf.py).
SPECIAL_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.0.0/29",
    "192.0.0.8/32",
    "192.0.0.170/31",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
]
SPECIAL_V6 = [
    "::1/128",
    "::/128",
    "64:ff9b:1::/48",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/32",
    "2001:2::/48",
    "2001:10::/28",
    "2001:db8::/32",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]


def samples(network: str) -> list[str]:
    """The first, a middle and the last address of a network."""
    net = ipaddress.ip_network(network)
    middle = net.network_address + net.num_addresses // 2
    return sorted({str(net.network_address), str(middle), str(net.broadcast_address)})


SPECIAL_ADDRESSES = [a for net in SPECIAL_V4 + SPECIAL_V6 for a in samples(net)]


def spellings(address: str) -> list[str]:
    """How the IPv4 address may be written in a URL host: dotted, decimal, hex, octal,
    short forms, and IPv4-mapped IPv6."""
    ip = ipaddress.IPv4Address(address)
    value, parts = int(ip), [int(p) for p in address.split(".")]
    return [
        address,
        str(value),
        hex(value),
        "0" + oct(value)[2:],
        ".".join(f"0{p:o}" for p in parts),
        ".".join(hex(p) for p in parts),
        f"{parts[0]}.{(parts[1] << 16) + (parts[2] << 8) + parts[3]}",
        f"[::ffff:{address}]",
        f"[::ffff:{value >> 16:x}:{value & 0xFFFF:x}]",
    ]


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", SPECIAL_ADDRESSES)
def test_every_special_purpose_address_is_refused(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None
    reason = check_url(f"http://{url_host(address)}:8080/pb", policy=False)
    assert reason is not None and reason.startswith("target refused")
    record("ssrf", literal_targets=1)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.1"])
def test_every_spelling_of_a_private_address_is_refused(address: str) -> None:
    for host in spellings(address):
        reason = check_url(f"http://{host}/pb", policy=False)
        assert reason is not None, host
        assert "target refused" in reason and "POSTBACK_ALLOW_PRIVATE_TARGETS" in reason
    record("ssrf", spellings=len(spellings(address)))


class ScriptedResolver(AbstractResolver):
    """A DNS server under test: answers each lookup with the next scripted address."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.answers[min(self.lookups, len(self.answers) - 1)]
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
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def twins(receivers: MakeReceiver) -> tuple[Receiver, Receiver]:
    """A partner on 127.0.0.1 and an 'internal service' on 127.0.0.2, same port."""
    partner: Receiver

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/moved":
            raise web.HTTPFound(f"http://127.0.0.2:{partner.port}/internal")
        return web.Response(text="hello")

    partner = await receivers(handle)
    internal = await receivers(handle, host="127.0.0.2", port=partner.port)
    return partner, internal


def policy_settings(**changes: object) -> Settings:
    values: dict[str, object] = {"delivery_timeout": 3.0, "allow_private_targets": False}
    values.update(changes)
    return Settings(database_url="sqlite:///:memory:", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", SPECIAL_ADDRESSES)
async def test_names_resolving_to_special_addresses_are_refused_before_connecting(
    address: str,
) -> None:
    resolver = ScriptedResolver(address)
    async with Sender(policy_settings(), resolver=resolver) as sender:
        outcome = await sender.send(claim_for("http://partner.example:8080/pb"))
    assert outcome.kind == "blocked", outcome
    assert outcome.error is not None
    assert f"partner.example resolves to {address}" in outcome.error
    assert resolver.lookups == 1
    record("ssrf", resolved_targets=1)


async def test_an_answer_that_changes_after_the_check_is_never_used(
    twins: tuple[Receiver, Receiver],
) -> None:
    partner, internal = twins
    settings = policy_settings(allowed_targets="127.0.0.1/32")
    url = f"http://partner.example:{partner.port}/pb"

    # Checked answer allowed, the next one would be internal: the checked one is used.
    resolver = ScriptedResolver("127.0.0.1", "127.0.0.2")
    async with Sender(settings, resolver=resolver) as sender:
        assert (await sender.send(claim_for(url))).success
    assert resolver.lookups == 1
    assert partner.paths == ["/pb"] and internal.paths == []

    # Checked answer refused, the next one would be allowed: refused, no second lookup.
    resolver = ScriptedResolver("127.0.0.2", "127.0.0.1")
    async with Sender(settings, resolver=resolver) as sender:
        outcome = await sender.send(claim_for(url))
    assert outcome.kind == "blocked"
    assert resolver.lookups == 1
    assert partner.paths == ["/pb"] and internal.paths == []


async def test_a_redirect_to_an_internal_address_is_not_followed(
    twins: tuple[Receiver, Receiver],
) -> None:
    partner, internal = twins
    settings = policy_settings(allowed_targets="127.0.0.1")
    async with Sender(settings) as sender:
        outcome = await sender.send(claim_for(f"http://127.0.0.1:{partner.port}/moved"))
    assert outcome.kind == "redirect"
    assert outcome.error == "redirect 302 not followed"
    assert partner.paths == ["/moved"] and internal.paths == []


async def test_allow_list_opens_exactly_what_it_names(twins: tuple[Receiver, Receiver]) -> None:
    partner, internal = twins
    settings = policy_settings(allowed_targets="127.0.0.1/32, hooks.internal")
    async with Sender(settings, resolver=ScriptedResolver("127.0.0.2")) as sender:
        listed_ip = await sender.send(claim_for(f"http://127.0.0.1:{partner.port}/a"))
        other_ip = await sender.send(claim_for(f"http://127.0.0.2:{partner.port}/b"))
        listed_name = await sender.send(claim_for(f"http://hooks.internal:{partner.port}/c"))
        other_name = await sender.send(claim_for(f"http://other.internal:{partner.port}/d"))
    assert listed_ip.success
    assert other_ip.kind == "blocked" and other_ip.error is not None
    assert "POSTBACK_ALLOWED_TARGETS" in other_ip.error
    # A listed name may resolve to any address: the operator vouched for it.
    assert listed_name.success
    assert other_name.kind == "blocked"
    assert partner.paths == ["/a"] and internal.paths == ["/c"]


def test_allow_list_entries_are_checked() -> None:
    policy = parse_allowed_targets(["10.0.0.0/8", " ::1 ", "Hooks.Internal.", "a-b.example"])
    assert [str(n) for n in policy.networks] == ["10.0.0.0/8", "::1/128"]
    assert policy.hosts == {"hooks.internal", "a-b.example"}
    assert check_url("http://10.9.8.7/pb", policy) is None
    assert check_url("http://HOOKS.internal/pb", policy) is None
    assert check_url("http://172.16.0.1/pb", policy) is not None
    bad_entries = ("10.0.0.0/33", "bad_host", "-x.example", "http://x.example", "1.2.3.4.5")
    for bad in (*bad_entries, "0x7f000001", "127.1"):
        with pytest.raises(ValueError, match="not a CIDR"):
            parse_allowed_targets([bad])
        with pytest.raises(ValidationError):
            Settings(allowed_targets=bad)


@pytest.fixture
def bad_env() -> Iterator[dict[str, str]]:
    yield {**os.environ, "POSTBACK_ALLOWED_TARGETS": "10.0.0.0/8,not a host"}


def test_the_server_refuses_to_start_with_a_bad_allow_list(bad_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "postback", "migrate"],
        env=bad_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "POSTBACK_ALLOWED_TARGETS" in done.stderr
    assert "not a host" in done.stderr
