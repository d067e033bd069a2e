"""The resolver that enforces the target policy (domain/targets.py) at send time.

It resolves a host name once and refuses it when any address is blocked; aiohttp then
connects to exactly those addresses, so a DNS answer cannot change between the check and
the connection.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from postback.domain.targets import BlockedTarget, Policy, as_policy, is_localhost_name


class GuardedResolver(AbstractResolver):
    """Resolves once and refuses the host when any of its addresses is blocked.

    aiohttp connects to exactly the addresses returned here, so the addresses checked
    are the addresses used: there is no second lookup a changed DNS answer could slip into.
    """

    def __init__(self, policy: Policy, resolver: AbstractResolver | None = None) -> None:
        self._policy = as_policy(policy)
        self._owns_resolver = resolver is None
        self._resolver = resolver if resolver is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        trusted = self._policy.trusts_host(host)
        if not trusted and is_localhost_name(host):
            raise BlockedTarget(host, host, "loopback name")
        answers = await self._resolver.resolve(host, port, family)
        if not trusted:
            for answer in answers:
                self._check_answer(host, answer["host"])
        return answers

    def _check_answer(self, host: str, address: str) -> None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise BlockedTarget(host, address, "unreadable address") from None
        reason = self._policy.address_refusal(ip)
        if reason is not None:
            raise BlockedTarget(host, address, reason)

    async def close(self) -> None:
        if self._owns_resolver:
            await self._resolver.close()
