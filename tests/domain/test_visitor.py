"""The visitor's keyed hash and anonymized addresses."""

from __future__ import annotations

from postback.domain.visitor import anonymized, visitor_id


def test_the_visitor_is_a_keyed_hash_of_address_and_browser() -> None:
    one = visitor_id(b"k1", "203.0.113.9", "Mozilla/5.0")
    assert one is not None and len(one) == 32 and "203.0.113.9" not in one
    assert one == visitor_id(b"k1", "203.0.113.9", "Mozilla/5.0")
    assert one != visitor_id(b"k2", "203.0.113.9", "Mozilla/5.0")  # keyed
    assert one != visitor_id(b"k1", "203.0.113.10", "Mozilla/5.0")
    assert one != visitor_id(b"k1", "203.0.113.9", "curl/8.0")
    assert visitor_id(b"k1", None, "\udcff broken") is not None
    assert visitor_id(b"k1", None, None) is None and visitor_id(b"k1", "", "") is None


def test_anonymized_addresses_keep_the_network_only() -> None:
    assert anonymized("203.0.113.77") == "203.0.113.0"
    assert anonymized("::ffff:198.51.100.9") == "198.51.100.0"
    assert anonymized("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert anonymized("not an address") is None and anonymized(None) is None
