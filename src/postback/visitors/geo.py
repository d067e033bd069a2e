"""Where a visitor is, from its address, offline.

Bundled: `iptocc`, the regional internet registries' delegation files (published for
free use, without warranty; refreshed with each release), country only: the country
where the block is registered. When the operator sets POSTBACK_GEOIP_DB, that .mmdb
file instead (MaxMind GeoLite2/GeoIP2, or DB-IP's layouts), with region and city where
it has them. Both answer nothing for private, reserved and unallocated addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

import iptocc
import maxminddb

from postback.visitors.profiler import NOWHERE, Place

MAX_NAME = 128


def public_address(text: str) -> str | None:
    """The address in a form the lookups agree on (IPv4-mapped IPv6 unwrapped), or None
    for what no database can place (not an address, private, loopback, reserved...)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address) if address.is_global else None


def bundled_place(ip: str) -> Place:
    address = public_address(ip)
    if address is None:
        return NOWHERE
    country = iptocc.country_code(address)
    # The registries' "EU" and "AP" are regions, not countries.
    if not country or len(country) != 2 or country in {"EU", "AP", "ZZ"}:
        return NOWHERE
    return Place(country.upper())


def _name(value: Any) -> str | None:
    """An English name, or a code, clipped; None when there is none."""
    if isinstance(value, Mapping):
        value = value.get("names", {}).get("en") if "names" in value else value.get("iso_code")
    return value[:MAX_NAME] if isinstance(value, str) and value else None


def place_of(record: Mapping[str, Any]) -> Place:
    """A record of a MaxMind-layout file (`country.iso_code`, `subdivisions`, `city`) or of
    a flat one (`country_code`, `state1`, `city`)."""
    country = record.get("country")
    code = country.get("iso_code") if isinstance(country, Mapping) else record.get("country_code")
    if not isinstance(code, str) or len(code) != 2 or not code.isalpha():
        return NOWHERE
    subdivisions = record.get("subdivisions")
    region = _name(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
    region = region or _name(record.get("state1"))
    return Place(code.upper(), region, _name(record.get("city")))


def open_geo_file(path: str) -> Callable[[str], Place]:
    """A lookup in the operator's .mmdb; ValueError names what is wrong with the file."""
    try:
        reader = maxminddb.open_database(path)
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable MaxMind DB (.mmdb) file: {exc}") from None

    def file_place(ip: str) -> Place:
        address = public_address(ip)
        if address is None:
            return NOWHERE
        try:
            record = reader.get(address)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return NOWHERE
        return place_of(record) if isinstance(record, Mapping) else NOWHERE

    return file_place
