"""Where a visitor is: the bundled registry data, and an operator's .mmdb file."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MmdbU32, MMDBWriter
from netaddr import IPSet
from pydantic import ValidationError

from postback.settings import Settings
from postback.visitors.geo import bundled_place, open_geo_file, place_of, public_address
from postback.visitors.profiler import NOWHERE, Place

# Each address is in a block the regional registry's delegation file lists for that
# country (ARIN, RIPE NCC, LACNIC, APNIC, AFRINIC delegated-extended statistics).
REGISTRY_FACTS = {
    "8.8.8.8": "US",  # 8.0.0.0/9 ARIN, Level 3 / Google, US
    "193.0.6.139": "NL",  # RIPE NCC's own 193.0.0.0/21, NL
    "2001:67c:2e8:22::c100:68b": "NL",  # RIPE NCC, 2001:67c:2e8::/48, NL
    "81.2.69.142": "GB",  # 81.2.64.0/19 RIPE NCC, GB
    "200.147.67.142": "BR",  # 200.147.0.0/16 LACNIC, UOL, BR
    "177.1.2.3": "BR",  # 177.0.0.0/14 LACNIC, BR
    "2804::1": "BR",  # 2804::/32 LACNIC, BR
    "133.11.0.1": "JP",  # 133.11.0.0/16 APNIC (JPNIC), University of Tokyo, JP
    "202.12.29.175": "AU",  # 202.12.28.0/22 APNIC's own, AU
    "41.1.2.3": "ZA",  # 41.0.0.0/11 AFRINIC, ZA
    "::ffff:200.147.67.142": "BR",  # an IPv4-mapped IPv6 address is its IPv4 address
}


@pytest.mark.parametrize(("ip", "country"), sorted(REGISTRY_FACTS.items()))
def test_known_addresses_are_in_their_registered_country(ip: str, country: str) -> None:
    assert bundled_place(ip) == Place(country)


def test_addresses_no_database_can_place_are_nowhere() -> None:
    for ip in ("10.1.2.3", "127.0.0.1", "::1", "192.168.0.1", "100.64.0.1", "not-an-ip", ""):
        assert bundled_place(ip) is NOWHERE, ip
    assert public_address(" 8.8.8.8 ") == "8.8.8.8"


def write_mmdb(path: Path) -> Path:
    """A GeoIP2-City-layout file of two ranges (the places are the test's own), with ASNs
    beside, as GeoLite2 City and ASN files hold them."""
    writer = MMDBWriter(
        ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"]
    )
    records = [
        ("200.147.0.0/16", "BR", "São Paulo", "Campinas", 64496),
        ("2a00:1450::/32", "DE", "Hesse", "Frankfurt", 64498),
    ]
    for network, country, region, city, asn in records:
        writer.insert_network(
            IPSet([network]),
            {
                "country": {"iso_code": country, "names": {"en": country}},
                "subdivisions": [{"iso_code": "XX", "names": {"en": region}}],
                "city": {"names": {"en": city}},
                "autonomous_system_number": MmdbU32(asn),
            },
        )
    writer.to_db_file(str(path))
    return path


def test_an_operators_mmdb_gives_region_and_city(tmp_path: Path) -> None:
    lookup = open_geo_file(str(write_mmdb(tmp_path / "city.mmdb")))
    assert lookup("200.147.67.142") == Place("BR", "São Paulo", "Campinas")
    assert lookup("::ffff:200.147.1.1") == Place("BR", "São Paulo", "Campinas")
    assert lookup("2a00:1450:4001::1") == Place("DE", "Hesse", "Frankfurt")
    assert lookup("8.8.8.8") is NOWHERE  # not in the file
    assert lookup("10.0.0.1") is NOWHERE  # no file places a private address
    assert place_of({"country_code": "fr", "state1": "Île-de-France", "city": "Paris"}) == (
        Place("FR", "Île-de-France", "Paris")
    )
    assert place_of({"country": {"iso_code": "X1"}}) is NOWHERE


def test_a_missing_or_corrupt_file_is_a_start_up_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    corrupt = tmp_path / "corrupt.mmdb"
    corrupt.write_bytes(b"not a database" * 100)
    for path, problem in ((tmp_path / "missing.mmdb", "cannot read"), (corrupt, "not a MaxMind")):
        with pytest.raises(ValidationError) as refused:
            Settings(geoip_db=str(path))
        assert "geoip_db" in str(refused.value) and problem in str(refused.value)
        with pytest.raises(ValueError):
            open_geo_file(str(path))
    assert Settings(geoip_db=str(write_mmdb(tmp_path / "ok.mmdb"))).geoip_db
