"""Prometheus metrics, one registry per application (nothing global at import)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.clicks = Counter(
            "postback_clicks",
            "Tracking-link requests by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.postbacks = Counter(
            "postback_incoming",
            "Incoming postbacks by result",
            ["result"],
            registry=self.registry,
        )
        self.delivery_attempts = Counter(
            "postback_delivery_attempts",
            "Outgoing postback attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "postback_delivery_seconds",
            "Duration of outgoing postback attempts",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
