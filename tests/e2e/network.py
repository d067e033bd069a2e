"""Building an advertiser, offer and affiliate through the real API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class Network:
    advertiser: dict[str, Any]
    offer: dict[str, Any]
    affiliate: dict[str, Any]

    @property
    def token(self) -> str:
        return str(self.advertiser["postback_token"])


async def create_network(
    admin: httpx.AsyncClient,
    destination: str = "https://shop.example/lp?cid={click_id}&s1={sub1}",
    advertiser: dict[str, Any] | None = None,
    offer: dict[str, Any] | None = None,
) -> Network:
    adv = await admin.post("/advertisers", json={"name": "Advertiser", **(advertiser or {})})
    assert adv.status_code == 201, adv.text
    off = await admin.post(
        "/offers",
        json={
            "advertiser_id": adv.json()["id"],
            "name": "Offer",
            "destination_url": destination,
            "revenue": "10.5",
            "payout": "7.25",
            **(offer or {}),
        },
    )
    assert off.status_code == 201, off.text
    aff = await admin.post("/affiliates", json={"name": "Affiliate"})
    assert aff.status_code == 201, aff.text
    return Network(adv.json(), off.json(), aff.json())


async def add_postback(admin: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    answer = await admin.post("/postbacks", json=fields)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def click(client: httpx.AsyncClient, network: Network, **subs: str) -> str:
    """Follow a tracking link; return the click_id the 302 carries in `cid`."""
    params = {"offer_id": network.offer["id"], "aff_id": network.affiliate["id"], **subs}
    answer = await client.get("/click", params=params)
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["cid"][0]
