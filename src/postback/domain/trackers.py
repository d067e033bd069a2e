"""The trackers and networks we speak with both ways: what they send us (incoming) and
what we send an affiliate's instance of them (outgoing), in their own parameter names and
status words.

Each template names the public pages its parameters and words come from (`sources`).
Outgoing, a tracker hears only the statuses it can record, in its words; where it has no
word for a refund or a chargeback it hears its reject word, as its docs say a refused or
cancelled payout is recorded. Trackers with no status at all in their postback hear only
approved sales (a pending one would count as a sale). Our event names are not sent as a
tracker's conversion type or goal: those are ids or names the affiliate sets up in the
tracker, and a name it does not know is refused or miscounted there.
"""

from __future__ import annotations

from typing import Final

from postback.domain.status import STATUSES
from postback.domain.templates import (
    ADVERTISER,
    CLICK,
    TOKEN,
    IncomingTemplate,
    OutgoingTemplate,
)

KEITARO: Final = (
    "https://docs.keitaro.io/en/conversions/postback.html",
    "https://v9.help.keitaro.io/en/conversions-and-postback/postback.html",
    "https://blog.keitaro.io/en/managing-conversions-keitaro/",
)
VOLUUM: Final = (
    "https://doc.voluum.com/en/tracking_conversions_postback.html",
    "https://doc.voluum.com/article/parameters-in-postback-urls",
    "https://doc.voluum.com/en/upselling.html",
    "https://doc.voluum.com/en/custom_conversions.html",
    "https://doc.voluum.com/en/conversion_upload.html",
)
BINOM: Final = (
    "https://docs.binom.org/postback-url.php",
    "https://docs.binom.org/status-scheme.php",
    "https://docs.binom.org/update-conv.php",
)
REDTRACK: Final = (
    "https://docs.redtrack.io/knowledgebase/tracking-event-types/",
    "https://help.redtrack.io/knowledgebase/kb/tracker-setup-for-affiliates/"
    "advanced-tracking-tracker-setup-for-advertisers/conditional-postback/",
    "https://help.redtrack.io/knowledgebase/kb/tracker-setup-for-affiliates/offer-sources/"
    "duplicate-postback-settings/",
    "https://redtrack.zendesk.com/hc/en-us/articles/207082019-Step-2-Adding-Affiliate-Networks",
)
EVERFLOW: Final = (
    "https://helpdesk.everflow.io/customer/accessing-editing-s2s-postback-urls",
    "https://helpdesk.everflow.io/en/articles/6279436-getting-started-advertiser-server-postbacks",
    "https://developers.everflow.io/docs/everflow-sdk/conversion_tracking",
    "https://developers.everflow.io/docs/network/conversion_updates/",
)
EVERFLOW_REVERSAL: Final = (
    "https://helpdesk.everflow.io/en/articles/"
    "6273089-reversal-postback-setup-for-processing-canceled-transactions",
    "https://helpdesk.everflow.io/customer/"
    "reversal-postback-setup-for-processing-canceled-transactions",
)
TUNE: Final = (
    "https://support.tune.com/hc/en-us/articles/4413247665431-Receiving-Conversions-via-Postback-URL",
    "https://support.tune.com/hc/en-us/articles/1500007722601-Recording-Sale-Amount-upon-Conversion",
    "https://support.tune.com/hc/en-us/articles/1500005236742-Customizing-a-Conversion-URL",
    "https://support.tune.com/hc/en-us/articles/4413246900375-Approving-and-Rejecting-Conversions",
)
AFFISE: Final = (
    "https://help-center.affise.com/en/articles/6475468-affise-postback-url-parameters",
    "https://affise.zendesk.com/hc/en-us/articles/360010437160-Conversion-s-Statuses-",
    "http://help-center.affise.com/en/articles/4111041-how-to-change-conversion-status",
)
CAKE: Final = (
    "https://support.getcake.com/support/solutions/articles/5000546124-conversion-pixel-variables",
    "https://support.getcake.com/support/solutions/articles/"
    "5000546059-how-to-implement-server-to-server-tracking-using-a-postback-url",
    "https://getcake.freshdesk.com/support/solutions/articles/"
    "13000068566-track-updateconversionevents-api-version-6",
)

# What undoes a sale the tracker already counted (and a rejection it may never have heard).
UNDOING: Final = ("rejected", "refunded", "chargeback")


def _query(**params: str) -> dict[str, str]:
    return {"adv_id": ADVERTISER, "token": TOKEN, **params}


INCOMING_TRACKERS: Final[tuple[IncomingTemplate, ...]] = (
    IncomingTemplate(
        name="keitaro",
        title="Keitaro",
        query="subid={click_id}&tid={txid}&status={status}&payout={revenue}",
        # A rebill is a further payment with its own tid: a new approved conversion.
        # `trash` is not a Keitaro status; networks' trash leads pass through as it.
        status_map={
            "lead": "pending",
            "sale": "approved",
            "rejected": "rejected",
            "rebill": "approved",
            "trash": "rejected",
        },
        example_query=_query(subid=CLICK, tid="K-1", status="sale", payout="12.5"),
        sources=KEITARO,
    ),
    IncomingTemplate(
        name="voluum",
        title="Voluum",
        query="cid={click_id}&txid={txid}&payout={revenue}&et={event}",
        example_query=_query(cid=CLICK, txid="V-1", payout="3.2", et="purchase"),
        sources=VOLUUM,
    ),
    IncomingTemplate(
        name="binom",
        title="Binom",
        query="cnv_id={click_id}&txid={txid}&payout={revenue}&cnv_status={status}",
        field_map={"cnv_id": "click_id"},
        status_map={"approved": "approved", "pending": "pending", "rejected": "rejected"},
        example_query=_query(cnv_id=CLICK, txid="B-1", payout="4", cnv_status="approved"),
        sources=BINOM,
    ),
    IncomingTemplate(
        name="redtrack",
        title="RedTrack",
        query="clickid={click_id}&sum={revenue}&type={event}&status={status}",
        # RedTrack records a conversion that came with no status as `Other`.
        status_map={
            "approved": "approved",
            "pending": "pending",
            "declined": "rejected",
            "other": "approved",
        },
        example_query=_query(clickid=CLICK, sum="9.99", type="Purchase", status="Approved"),
        sources=REDTRACK,
    ),
    IncomingTemplate(
        name="everflow",
        title="Everflow",
        query="transaction_id={click_id}&order_id={txid}&amount={revenue}&adv_event_id={event}",
        field_map={"transaction_id": "click_id", "adv_event_id": "event"},
        example_query=_query(transaction_id=CLICK, order_id="E-1", amount="20", adv_event_id="2"),
        sources=EVERFLOW,
    ),
    IncomingTemplate(
        name="tune",
        title="HasOffers / TUNE",
        query="transaction_id={click_id}&adv_sub={txid}&amount={revenue}&goal_id={event}",
        field_map={"transaction_id": "click_id", "adv_sub": "txid", "goal_id": "event"},
        status_map={"approved": "approved", "pending": "pending", "rejected": "rejected"},
        example_query=_query(transaction_id=CLICK, adv_sub="T-1", amount="15", goal_id="7"),
        sources=TUNE,
    ),
    IncomingTemplate(
        name="affise",
        title="Affise",
        query="clickid={click_id}&action_id={txid}&sum={revenue}&goal={event}&status={status}",
        # 1 approved, 2 pending, 3 declined, 4 not found (no such order at the
        # advertiser), 5 hold (paid when the hold period ends).
        status_map={
            "1": "approved",
            "2": "pending",
            "3": "rejected",
            "4": "rejected",
            "5": "pending",
        },
        example_query=_query(clickid=CLICK, action_id="A-1", sum="5", goal="1", status="2"),
        sources=AFFISE,
    ),
    IncomingTemplate(
        name="cake",
        title="CAKE",
        query="r={click_id}&t={txid}&p={revenue}&e={event}",
        field_map={"r": "click_id", "t": "txid", "p": "revenue", "e": "event"},
        example_query=_query(r=CLICK, t="C-1", p="30", e="12"),
        sources=CAKE,
    ),
)

OUTGOING: Final[tuple[OutgoingTemplate, ...]] = (
    # The tracker URL carries the postback key: https://tracker.example/<key>.
    # Keitaro's transitions: lead -> sale | rejected, sale -> rejected; `rejected`
    # cancels the payout of a sale.
    OutgoingTemplate(
        "keitaro",
        "Keitaro",
        "/postback?subid={sub1}&status={status}&payout={payout}&currency={currency}&tid={txid}",
        STATUSES,
        status_map={
            "pending": "lead",
            "approved": "sale",
            "rejected": "rejected",
            "refunded": "rejected",
            "chargeback": "rejected",
        },
        sources=KEITARO,
    ),
    # No status: every postback is a conversion, and the same cid and txid again is
    # discarded, so a refund cannot be sent (a negative payout exists only for uploads).
    OutgoingTemplate(
        "voluum",
        "Voluum",
        "/postback?cid={sub1}&payout={payout}&currency={currency}&txid={txid}",
        ("approved",),
        sources=VOLUUM,
    ),
    # `cnv_status` is free text; the affiliate lists which words are leads, sales and
    # rejected leads in Binom's status scheme. No transaction id: a further postback on
    # the click updates its conversion (or adds an upsell, as the offer says).
    OutgoingTemplate(
        "binom",
        "Binom",
        "/click.php?cnv_id={sub1}&payout={payout}&cnv_currency={currency}&cnv_status={status}",
        STATUSES,
        status_map={"refunded": "rejected", "chargeback": "rejected"},
        sources=BINOM,
    ),
    # RedTrack's statuses are Approved, Pending, Declined (and Other when none is sent);
    # a status change reaches a conversion when the offer source's duplicate postback
    # mode is "edit conversion with new data".
    OutgoingTemplate(
        "redtrack",
        "RedTrack",
        "/postback?clickid={sub1}&sum={payout}&status={status}",
        STATUSES,
        status_map={
            "pending": "Pending",
            "approved": "Approved",
            "rejected": "Declined",
            "refunded": "Declined",
            "chargeback": "Declined",
        },
        sources=REDTRACK,
    ),
    # The tracker URL carries the network id: https://tracking.example?nid=12. `amount`
    # is the sale amount (revenue and payout come from the offer, or a share of it).
    # Everflow's postback has no status; undoing goes to its reversal postback below.
    OutgoingTemplate(
        "everflow",
        "Everflow",
        "/?transaction_id={sub1}&amount={sale_amount}&order_id={txid}",
        ("approved",),
        sources=EVERFLOW,
    ),
    # Reverses (rejects) the conversions of one order; by order id because a click may
    # have several orders and a reversal by transaction id takes them all. A conversion
    # without a txid cannot be reversed this way.
    OutgoingTemplate(
        "everflow_reversal",
        "Everflow reversals",
        "/reversal?order_id={txid}",
        UNDOING,
        sources=EVERFLOW_REVERSAL,
    ),
    # `amount` is the sale amount; the conversion link has no status (rejecting is done
    # in TUNE's conversion report or its API).
    OutgoingTemplate(
        "tune",
        "HasOffers / TUNE",
        "/aff_lsr?transaction_id={sub1}&amount={sale_amount}&adv_sub={txid}",
        ("approved",),
        sources=TUNE,
    ),
    # Affise lets a postback change a conversion's status only when the conversion was
    # created pending; one created approved keeps its status whatever follows.
    OutgoingTemplate(
        "affise",
        "Affise",
        "/postback?clickid={sub1}&action_id={txid}&sum={payout}&status={status}",
        STATUSES,
        status_map={
            "pending": "2",
            "approved": "1",
            "rejected": "3",
            "refunded": "3",
            "chargeback": "3",
        },
        sources=AFFISE,
    ),
    # `f=pb` marks a server postback; `r` is CAKE's request id, `p` overrides the
    # revenue CAKE receives. The offer (`o`) or advertiser (`a`) id goes in the tracker
    # URL. Returns and rejections are made through CAKE's API only.
    OutgoingTemplate(
        "cake",
        "CAKE",
        "/p.ashx?f=pb&r={sub1}&t={txid}&p={payout}",
        ("approved",),
        sources=CAKE,
    ),
)
