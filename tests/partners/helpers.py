"""What the partners' plays share: reading an answer, listing conversions, following an
affiliate's link to a platform's checkout."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.e2e.network import Network


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON of an answer that must have this status."""
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()
    return found


async def conversions(admin: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok(await admin.get("/conversions", params=filters))["items"]
    return items


async def checkout_click(client: httpx.AsyncClient, net: Network, checkout: str, param: str) -> str:
    """Follow the affiliate's link to the checkout; the click id rides in `param`."""
    params = {"offer_id": net.offer["id"], "aff_id": net.affiliate["id"]}
    answer = await client.get("/click", params=params)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert location.netloc + location.path == checkout
    return parse_qs(location.query)[param][0]


async def conversion(admin: httpx.AsyncClient, conversion_id: int) -> dict[str, Any]:
    return ok(await admin.get(f"/conversions/{conversion_id}"))
