"""Which postback configs fire for a conversion event."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from postback.domain.records import PostbackConfig
from postback.domain.routing import matches, select_configs

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)

AFF, OTHER_AFF = 10, 11
OFFER, OTHER_OFFER = 100, 101


def config(
    affiliate_id: int | None,
    offer_id: int | None,
    *,
    events: tuple[str, ...] = ("*",),
    statuses: tuple[str, ...] = ("approved",),
    active: bool = True,
    config_id: int | None = None,
) -> PostbackConfig:
    return PostbackConfig(
        id=config_id if config_id is not None else next(_ids),
        affiliate_id=affiliate_id,
        offer_id=offer_id,
        url="https://example.com/pb?c={click_id}",
        method="GET",
        body=None,
        content_type="application/json",
        events=events,
        statuses=statuses,
        active=active,
        secret="whsec_dGVzdA==",
        created_at=T0,
        updated_at=T0,
    )


def fire(configs: list[PostbackConfig], event: str = "sale", status: str = "approved") -> list[int]:
    return [c.id for c in select_configs(configs, AFF, OFFER, event, status)]


def test_local_beats_global() -> None:
    local = config(AFF, OFFER)
    global_ = config(AFF, None)
    assert fire([global_, local]) == [local.id]


def test_global_fires_without_local() -> None:
    global_ = config(AFF, None)
    assert fire([global_]) == [global_.id]


def test_local_for_another_offer_does_not_block_global() -> None:
    elsewhere = config(AFF, OTHER_OFFER)
    global_ = config(AFF, None)
    assert fire([elsewhere, global_]) == [global_.id]


def test_global_fires_when_local_does_not_match_the_event() -> None:
    local = config(AFF, OFFER, events=("install",))
    global_ = config(AFF, None)
    assert fire([local, global_], event="sale") == [global_.id]
    assert fire([local, global_], event="install") == [local.id]


def test_global_fires_when_local_does_not_match_the_status() -> None:
    local = config(AFF, OFFER, statuses=("rejected",))
    global_ = config(AFF, None, statuses=("*",))
    assert fire([local, global_], status="approved") == [global_.id]
    assert fire([local, global_], status="rejected") == [local.id]


def test_inactive_local_does_not_block_global() -> None:
    local = config(AFF, OFFER, active=False)
    global_ = config(AFF, None)
    assert fire([local, global_]) == [global_.id]


def test_all_matching_locals_fire() -> None:
    a, b = config(AFF, OFFER), config(AFF, OFFER)
    global_ = config(AFF, None)
    assert fire([b, global_, a]) == sorted([a.id, b.id])


def test_all_matching_globals_fire() -> None:
    a, b = config(AFF, None), config(AFF, None)
    assert fire([b, a]) == sorted([a.id, b.id])


def test_network_configs_always_added() -> None:
    local = config(AFF, OFFER)
    global_ = config(AFF, None)
    net_all = config(None, None)
    net_offer = config(None, OFFER)
    assert fire([net_offer, global_, net_all, local]) == [
        local.id,
        *sorted([net_all.id, net_offer.id]),
    ]
    assert fire([net_all, global_]) == [global_.id, net_all.id]
    assert fire([net_all]) == [net_all.id]


def test_network_configs_for_another_offer_do_not_fire() -> None:
    net_other = config(None, OTHER_OFFER)
    net_here = config(None, OFFER)
    assert fire([net_other, net_here]) == [net_here.id]
    assert fire([net_other]) == []


def test_network_configs_obey_filters() -> None:
    net = config(None, None, events=("lead",), statuses=("pending",))
    assert fire([net], event="sale", status="pending") == []
    assert fire([net], event="lead", status="approved") == []
    assert fire([net], event="lead", status="pending") == [net.id]


def test_inactive_configs_never_fire() -> None:
    configs = [
        config(AFF, OFFER, active=False),
        config(AFF, None, active=False),
        config(None, None, active=False),
        config(None, OFFER, active=False),
    ]
    assert fire(configs) == []


def test_other_affiliates_configs_never_fire() -> None:
    configs = [config(OTHER_AFF, OFFER), config(OTHER_AFF, None)]
    assert fire(configs) == []


def test_other_affiliates_local_does_not_block_global() -> None:
    theirs = config(OTHER_AFF, OFFER)
    global_ = config(AFF, None)
    assert fire([theirs, global_]) == [global_.id]


def test_nothing_configured() -> None:
    assert fire([]) == []


def test_order_is_chosen_then_network_each_by_id() -> None:
    net = config(None, None, config_id=1)
    local_late = config(AFF, OFFER, config_id=9)
    local_early = config(AFF, OFFER, config_id=5)
    assert fire([local_late, net, local_early]) == [5, 9, 1]


@pytest.mark.parametrize(
    ("events", "event", "fires"),
    [
        (("*",), "sale", True),
        (("*",), "anything", True),
        (("sale",), "sale", True),
        (("sale", "lead"), "lead", True),
        (("sale",), "lead", False),
        (("Sale",), "sale", False),
        ((), "sale", False),
    ],
)
def test_event_filter(events: tuple[str, ...], event: str, fires: bool) -> None:
    assert matches(config(AFF, OFFER, events=events), event, "approved") is fires


@pytest.mark.parametrize(
    ("statuses", "status", "fires"),
    [
        (("*",), "chargeback", True),
        (("approved",), "approved", True),
        (("approved",), "pending", False),
        (("approved", "rejected"), "rejected", True),
        ((), "approved", False),
    ],
)
def test_status_filter(statuses: tuple[str, ...], status: str, fires: bool) -> None:
    assert matches(config(AFF, OFFER, statuses=statuses), "sale", status) is fires


def test_matches_requires_active() -> None:
    assert not matches(config(AFF, OFFER, active=False, events=("*",), statuses=("*",)), "x", "y")
