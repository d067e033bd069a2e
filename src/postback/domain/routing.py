"""Which postback configs fire for a conversion event."""

from __future__ import annotations

from collections.abc import Iterable

from postback.domain.records import PostbackConfig


def matches(config: PostbackConfig, event: str, status: str) -> bool:
    return (
        config.active
        and ("*" in config.events or event in config.events)
        and ("*" in config.statuses or status in config.statuses)
    )


def select_configs(
    configs: Iterable[PostbackConfig], affiliate_id: int, offer_id: int, event: str, status: str
) -> list[PostbackConfig]:
    """Local configs of the affiliate for this offer; its global ones only when no local
    one matches; plus every matching network-level config (for this offer or all offers).
    """
    local: list[PostbackConfig] = []
    global_: list[PostbackConfig] = []
    network: list[PostbackConfig] = []
    for config in configs:
        if not matches(config, event, status):
            continue
        if config.affiliate_id is None:
            if config.offer_id in (None, offer_id):
                network.append(config)
        elif config.affiliate_id == affiliate_id:
            if config.offer_id == offer_id:
                local.append(config)
            elif config.offer_id is None:
                global_.append(config)
    chosen = local or global_
    return sorted(chosen, key=lambda c: c.id) + sorted(network, key=lambda c: c.id)
