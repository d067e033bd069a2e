"""Rollup deltas: what a click adds, and changes kept pending by an earlier version."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from postback.domain.records import Click
from postback.domain.report import Figures
from postback.store.rollups import Deltas, texts_key
from postback.store.schema import rollup_all, rollup_subs

AT = datetime(2024, 1, 1, 12, 7, tzinfo=UTC)
QUARTER_US = int(datetime(2024, 1, 1, 12, tzinfo=UTC).timestamp()) * 1_000_000


def a_click(**fields: object) -> Click:
    values: dict[str, object] = {
        "click_id": "c1",
        "offer_id": 1,
        "affiliate_id": 2,
        "subs": ("a", None, None, None, ""),
        "ip": None,
        "user_agent": None,
        "referrer": None,
        "country": "BR",
        "created_at": AT,
        "device": "mobile",
        "os": "Android",
        "browser": None,
        "is_bot": True,
        "is_unique": False,
        "cost": Decimal("0.0125"),
    }
    values.update(fields)
    return Click(**values)  # type: ignore[arg-type]


def test_a_click_adds_its_flags_and_cost_under_its_texts() -> None:
    deltas = Deltas()
    deltas.add_clicks([a_click(), a_click(click_id="c2", is_bot=False, is_unique=True, cost=None)])
    tables = deltas.table_rows()
    texts = ("a", "", "", "", "", "BR", "mobile", "Android", "")
    (row,) = [row for row in tables[rollup_all] if row[0] == 900]
    assert row[:6] == (900, QUARTER_US, 1, 2, "", texts_key(texts))
    assert row[6:15] == texts
    assert Figures(*row[15:]) == Figures(clicks=2, unique_clicks=1, bot_clicks=1, cost=125)
    # rollup_subs: one slot per text, country to browser in slots 6 to 9.
    slots = {row[0]: row[4] for row in tables[rollup_subs] if row[1] == 900}
    assert slots == {1: "a", 2: "", 3: "", 4: "", 5: "", 6: "BR", 7: "mobile", 8: "Android", 9: ""}


def test_changes_pending_from_before_the_visitor_texts_still_fold() -> None:
    older = orjson.dumps([[1, 2, "sale", "a", "", "", "", "", QUARTER_US, 0, 1, 1, 0, 0, 5, 3]])
    deltas = Deltas()
    deltas.add_encoded(older)
    again = Deltas()
    again.add_encoded(deltas.encode())
    for found in (deltas, again):
        (row,) = [row for row in found.table_rows()[rollup_all] if row[0] == 900]
        assert row[6:15] == ("a", "", "", "", "", "", "", "", "")
        assert Figures(*row[15:]) == Figures(conversions=1, approved=1, revenue=5, payout=3)


def test_the_many_rows_are_kept_in_days_and_quarters_only() -> None:
    deltas = Deltas()
    deltas.add_clicks([a_click()])
    tables = deltas.table_rows()
    assert {row[0] for row in tables[rollup_all]} == {900, 86_400}
    grains_by_slot: dict[int, set[int]] = {}
    for row in tables[rollup_subs]:
        grains_by_slot.setdefault(row[0], set()).add(row[1])
    assert grains_by_slot[1] == {900, 3_600, 21_600, 86_400, 604_800}
    assert all(grains_by_slot[slot] == {900, 86_400} for slot in (6, 7, 8, 9))
