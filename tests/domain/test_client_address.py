"""The caller's address behind trusted proxies."""

from __future__ import annotations

import ipaddress

from postback.domain.client_address import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def test_without_trusted_proxies_the_peer_is_the_caller() -> None:
    assert client_address("203.0.113.5", "198.51.100.7", ()) == "203.0.113.5"


def test_an_untrusted_peer_cannot_name_another_address() -> None:
    assert client_address("203.0.113.5", "198.51.100.7", PROXIES) == "203.0.113.5"


def test_behind_trusted_proxies_the_first_untrusted_hop_is_the_caller() -> None:
    forwarded = "192.0.2.1, 198.51.100.7, 10.1.1.1"
    assert client_address("10.0.0.2", forwarded, PROXIES) == "198.51.100.7"


def test_a_malformed_hop_falls_back_to_the_peer() -> None:
    assert client_address("10.0.0.2", "not-an-ip", PROXIES) == "10.0.0.2"


def test_only_proxies_in_the_chain_leaves_the_peer() -> None:
    assert client_address("10.0.0.2", "10.0.0.3", PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", None, PROXIES) == "10.0.0.2"
    assert client_address(None, "198.51.100.7", PROXIES) is None
