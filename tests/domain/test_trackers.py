"""Tracker templates: each tracker hears only the statuses it can record, in words its
published postback format documents, with no parameter it would misread."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from postback.domain.catalog import outgoing_template
from postback.domain.incoming import resolve_status
from postback.domain.macros import POSTBACK_MACROS, macro_names, unknown_macros
from postback.domain.payload import render
from postback.domain.records import PostbackConfig
from postback.domain.status import STATUSES
from postback.domain.templates import IncomingTemplate, OutgoingTemplate, outgoing_url
from postback.domain.trackers import INCOMING_TRACKERS, OUTGOING

NOW = datetime(2026, 5, 1, tzinfo=UTC)
NAMES = ("keitaro", "voluum", "binom", "redtrack", "everflow", "tune", "affise", "cake")

# The status parameter of each tracker that has one, and the words its docs list for it.
# Binom's `cnv_status` is free text; these are the words its status scheme is set up with.
STATUS_WORDS = {
    "keitaro": ("status", {"lead", "sale", "rejected", "rebill"}),
    "binom": ("cnv_status", {"pending", "approved", "rejected"}),
    "redtrack": ("status", {"Approved", "Pending", "Declined", "Other"}),
    "affise": ("status", {"1", "2", "3", "5"}),
}
# Each tracker's parameter for the affiliate's click id of that tracker.
CLICK_PARAM = {
    "keitaro": "subid",
    "voluum": "cid",
    "binom": "cnv_id",
    "redtrack": "clickid",
    "everflow": "transaction_id",
    "tune": "transaction_id",
    "affise": "clickid",
    "cake": "r",
}
UNDOING = {"rejected", "refunded", "chargeback"}


def _config(template: OutgoingTemplate) -> PostbackConfig:
    """A config as `template` and `tracker_url` build it."""
    return PostbackConfig(
        id=1,
        affiliate_id=1,
        offer_id=None,
        url=outgoing_url(template, "https://tracker.example/k3y"),
        method=template.method,
        body=None,
        content_type="application/json",
        events=("*",),
        statuses=template.statuses,
        active=True,
        secret="whsec_test",
        created_at=NOW,
        updated_at=NOW,
        status_map=dict(template.status_map),
        omit_empty=True,
        status_changes_only=True,
    )


def _sent(template: OutgoingTemplate, status: str, **values: str) -> dict[str, str]:
    fields = {
        "sub1": "their-click",
        "txid": "ORDER-1",
        "payout": "7.25",
        "currency": "USD",
        "sale_amount": "49.5",
        "status": status,
        "event": "sale",
        **values,
    }
    url = render(_config(template), fields).url
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def test_the_promised_trackers_are_there_by_name() -> None:
    assert set(NAMES) <= {t.name for t in OUTGOING}
    assert set(NAMES) <= {t.name for t in INCOMING_TRACKERS}
    assert len({t.name for t in OUTGOING}) == len(OUTGOING)


@pytest.mark.parametrize("template", OUTGOING, ids=lambda t: t.name)
def test_each_template_names_where_its_format_is_published(template: OutgoingTemplate) -> None:
    assert template.sources
    assert all(url.startswith(("https://", "http://")) for url in template.sources)


@pytest.mark.parametrize("template", OUTGOING, ids=lambda t: t.name)
def test_statuses_and_their_map_are_ours(template: OutgoingTemplate) -> None:
    assert template.statuses
    assert len(set(template.statuses)) == len(template.statuses)
    assert set(template.statuses) <= set(STATUSES)
    # A word for a status the template never sends would be dead and misleading.
    assert set(template.status_map) <= set(template.statuses)
    assert all(word for word in template.status_map.values())


@pytest.mark.parametrize("template", OUTGOING, ids=lambda t: t.name)
def test_only_macros_an_affiliate_may_have(template: OutgoingTemplate) -> None:
    assert unknown_macros(template.path, POSTBACK_MACROS) == []
    # Our event names are not the tracker's conversion types or goals.
    assert "event" not in macro_names(template.path)
    assert "revenue" not in macro_names(template.path)


@pytest.mark.parametrize("name", NAMES)
def test_the_click_id_goes_back_in_the_trackers_own_parameter(name: str) -> None:
    template = outgoing_template(name)
    sent = _sent(template, template.statuses[0])
    assert sent[CLICK_PARAM[name]] == "their-click"


@pytest.mark.parametrize("name", sorted(STATUS_WORDS))
def test_every_status_a_template_lists_goes_as_a_documented_word(name: str) -> None:
    template = outgoing_template(name)
    param, words = STATUS_WORDS[name]
    assert set(template.statuses) == set(STATUSES)
    sent = {status: _sent(template, status)[param] for status in template.statuses}
    assert set(sent.values()) <= words
    # No refund word in these trackers: a refund or chargeback is their reject word.
    assert sent["refunded"] == sent["chargeback"] == sent["rejected"]
    assert len({sent["pending"], sent["approved"], sent["rejected"]}) == 3


def test_the_words_each_tracker_hears() -> None:
    def words(name: str) -> list[str]:
        template = outgoing_template(name)
        param = STATUS_WORDS[name][0]
        return [_sent(template, status)[param] for status in STATUSES]

    # In the order pending, approved, rejected, refunded, chargeback.
    assert words("keitaro") == ["lead", "sale", "rejected", "rejected", "rejected"]
    assert words("redtrack") == ["Pending", "Approved", "Declined", "Declined", "Declined"]
    assert words("affise") == ["2", "1", "3", "3", "3"]
    assert words("binom") == ["pending", "approved", "rejected", "rejected", "rejected"]


@pytest.mark.parametrize("template", OUTGOING, ids=lambda t: t.name)
def test_a_tracker_without_a_status_word_hears_only_what_it_can_record(
    template: OutgoingTemplate,
) -> None:
    if "status" in macro_names(template.path):
        return
    assert not template.status_map
    # A pending sale would count as a sale there; undoing needs an endpoint of its own.
    if "/reversal" in template.path:
        assert set(template.statuses) == UNDOING
    else:
        assert template.statuses == ("approved",)


def test_everflow_and_tune_get_the_sale_amount_not_our_payout() -> None:
    for name in ("everflow", "tune"):
        template = outgoing_template(name)
        assert _sent(template, "approved")["amount"] == "49.5"
        # Not reported by the sales platform: the tracker uses the offer's own amounts.
        assert "amount" not in _sent(template, "approved", sale_amount="")
    assert "{payout}" not in outgoing_template("everflow").path


def test_an_everflow_reversal_names_the_order() -> None:
    reversal = outgoing_template("everflow_reversal")
    url = render(_config(reversal), {"txid": "ORDER-1", "status": "refunded"}).url
    assert url == "https://tracker.example/k3y/reversal?order_id=ORDER-1"


def test_a_value_that_comes_out_empty_is_not_sent() -> None:
    sent = _sent(outgoing_template("keitaro"), "approved", txid="")
    assert sent == {"subid": "their-click", "status": "sale", "payout": "7.25", "currency": "USD"}
    assert "t" not in _sent(outgoing_template("cake"), "approved", txid="")
    assert "action_id" not in _sent(outgoing_template("affise"), "approved", txid="")


def test_cake_is_told_it_is_a_server_postback() -> None:
    assert _sent(outgoing_template("cake"), "approved") == {
        "f": "pb",
        "r": "their-click",
        "t": "ORDER-1",
        "p": "7.25",
    }


@pytest.mark.parametrize("template", INCOMING_TRACKERS, ids=lambda t: t.name)
def test_incoming_tracker_words_map_onto_our_statuses(template: IncomingTemplate) -> None:
    assert template.sources
    assert set(template.status_map.values()) <= set(STATUSES)


def test_keitaro_rebills_are_approved_sales_of_their_own() -> None:
    keitaro = next(t for t in INCOMING_TRACKERS if t.name == "keitaro")
    assert [resolve_status(s, keitaro.status_map) for s in ("lead", "sale", "rebill")] == [
        "pending",
        "approved",
        "approved",
    ]
    assert resolve_status("rejected", keitaro.status_map) == "rejected"
    assert resolve_status("trash", keitaro.status_map) == "rejected"


def test_incoming_words_are_read_in_any_case() -> None:
    redtrack = next(t for t in INCOMING_TRACKERS if t.name == "redtrack")
    assert resolve_status("Declined", redtrack.status_map) == "rejected"
    assert resolve_status("Approved", redtrack.status_map) == "approved"
    affise = next(t for t in INCOMING_TRACKERS if t.name == "affise")
    assert [resolve_status(s, affise.status_map) for s in "12345"] == [
        "approved",
        "pending",
        "rejected",
        "rejected",
        "pending",
    ]
