"""Identifiers, secrets and key hashing."""

from __future__ import annotations

import base64
import hashlib
import re
import string
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain import ids

NOW = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)

CLICK_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-")


def _b64url_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_click_id_shape() -> None:
    for _ in range(1000):
        click_id = ids.new_click_id(NOW)
        assert 1 <= len(click_id) <= 64
        assert set(click_id) <= CLICK_ID_CHARS
        assert ids.is_click_id(click_id)


def test_click_ids_carry_at_least_96_random_bits() -> None:
    click_id = ids.new_click_id(NOW)
    raw = _b64url_bytes(click_id[: -ids.DAY_CHARS])
    assert len(raw) * 8 >= 96
    # Every character is used: over many ids the alphabet is (nearly) fully covered,
    # which a counter, a timestamp or a hex encoding would not do.
    seen: set[str] = set()
    for _ in range(2000):
        seen.update(ids.new_click_id(NOW))
    assert len(seen) >= 60


def test_click_ids_are_unique() -> None:
    many = [ids.new_click_id(NOW) for _ in range(50_000)]
    assert len(set(many)) == len(many)


def test_click_ids_do_not_share_prefixes() -> None:
    # Random from the first character: no shared timestamp or counter prefix.
    firsts = {ids.new_click_id(NOW)[:4] for _ in range(500)}
    assert len(firsts) > 490


@pytest.mark.parametrize(
    "text",
    ["a", "A-z_0", "x" * 64, "abc-DEF_123"],
)
def test_is_click_id_accepts(text: str) -> None:
    assert ids.is_click_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x" * 65,
        "abc def",
        "abc\n",
        "\nabc",
        "a.b",
        "a+b",
        "a/b",
        "a=b",
        "a%20",
        "{click_id}",
        "caf\u00e9",
        "\u0661\u0662",  # Arabic-Indic digits are not [0-9]
        "a|b",
    ],
)
def test_is_click_id_refuses(text: str) -> None:
    assert not ids.is_click_id(text)


@given(st.text(alphabet=sorted(CLICK_ID_CHARS), min_size=1, max_size=64))
def test_is_click_id_accepts_the_whole_charset(text: str) -> None:
    assert ids.is_click_id(text)


@given(st.text(min_size=1, max_size=80))
def test_is_click_id_agrees_with_the_contract(text: str) -> None:
    expected = len(text) <= 64 and set(text) <= CLICK_ID_CHARS
    assert ids.is_click_id(text) is expected


def test_hash_key_is_sha256_hex() -> None:
    assert ids.hash_key("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert ids.hash_key("k\u00e9y") == hashlib.sha256("k\u00e9y".encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", ids.hash_key(ids.new_api_key("aff")))


def test_hash_key_is_deterministic_and_distinguishes() -> None:
    key = ids.new_api_key("adm")
    assert ids.hash_key(key) == ids.hash_key(key)
    assert ids.hash_key(key) != ids.hash_key(key + "x")
    assert ids.hash_key(key) != key


def test_same_secret() -> None:
    secret = ids.new_postback_token()
    assert ids.same_secret(secret, secret)
    assert ids.same_secret(secret, str(secret))
    assert not ids.same_secret(secret, secret[:-1])
    assert not ids.same_secret(secret, secret + "x")
    assert not ids.same_secret("", secret)
    assert not ids.same_secret(secret.upper() + "A", secret.lower() + "a")
    assert ids.same_secret("p\u00e4ss", "p\u00e4ss")
    assert not ids.same_secret("p\u00e4ss", "pass")


def test_api_keys_and_tokens() -> None:
    key = ids.new_api_key("aff")
    assert key.startswith("aff_")
    assert len(_b64url_bytes(key.removeprefix("aff_"))) == 24
    assert ids.new_api_key("aff") != key

    token = ids.new_postback_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(_b64url_bytes(token)) == 18
    assert ids.new_postback_token() != token


def test_webhook_secret_is_standard_webhooks_shaped() -> None:
    secret = ids.new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert ids.new_webhook_secret() != secret


def test_message_ids() -> None:
    made = {ids.new_message_id() for _ in range(1000)}
    assert len(made) == 1000
    for message_id in made:
        assert re.fullmatch(r"msg_[0-9a-f]{24}", message_id)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2600, 1, 1)))
def test_a_click_id_ends_with_its_utc_day(moment: datetime) -> None:
    at = moment.replace(tzinfo=UTC)
    click_id = ids.new_click_id(at)
    assert len(click_id) == ids.DATED_ID_LENGTH and ids.is_click_id(click_id)
    assert ids.click_day(click_id) == at.date()


def test_the_day_is_the_utc_one() -> None:
    late_in_kathmandu = datetime(2026, 12, 7, 1, 0, tzinfo=timezone(timedelta(hours=5, minutes=45)))
    assert ids.click_day(ids.new_click_id(late_in_kathmandu)) == date(2026, 12, 6)


@pytest.mark.parametrize("text", ["a" * 22, "a" * 24, "", "x" * 20 + "a=b", "abc"])
def test_ids_of_another_shape_say_no_day(text: str) -> None:
    assert ids.click_day(text) is None
