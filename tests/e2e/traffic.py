"""Steady click and postback traffic against a server that may fail at any moment, the
ledger of what it acknowledged, and the checks that nothing acknowledged was lost."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from postback.domain.records import Conversion, StatusChange
from postback.store.sql import Store
from tests.e2e.network import Network

# Each txid walks one of these paths; every step is a transition the contract allows.
STATUS_PATHS = (
    ("approved",),
    ("pending", "approved"),
    ("pending", "rejected", "approved"),
    ("approved", "chargeback"),
)


@dataclass
class OpenConversion:
    txid: str
    click_id: str
    to_send: list[str]


@dataclass
class Ledger:
    """What the server acknowledged, and every answer that broke the contract."""

    clicks: list[str] = field(default_factory=list)
    acked: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    answers: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    unexpected: list[str] = field(default_factory=list)

    @property
    def acked_postbacks(self) -> int:
        return sum(len(statuses) for statuses in self.acked.values())


def is_unavailable_shape(answer: httpx.Response) -> bool:
    """A 503 exactly as the contract's error shape says."""
    try:
        body = answer.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and error.get("code") == "unavailable"
        and isinstance(error.get("message"), str)
    )


class Traffic:
    """Lanes that click and post back at a steady pace until stopped.

    An advertiser whose postback got no answer (connection lost, 503) sends the same one
    again, as real advertisers do; so a postback stored just before a crash comes back
    as a duplicate, and the ledger shows whether it was counted twice.
    """

    def __init__(
        self,
        base_url: str,
        network: Network,
        *,
        lanes: int = 4,
        pace: float = 0.02,
        timeout: float = 10.0,
        click_share: float = 0.4,
    ) -> None:
        self.base_url = base_url
        self.network = network
        self.lanes = lanes
        self.pace = pace
        self.timeout = timeout
        self.click_share = click_share
        self.ledger = Ledger()
        self._stop = asyncio.Event()
        self._task: asyncio.Future[list[None]] | None = None
        self._txids = 0

    def start(self) -> Traffic:
        self._task = asyncio.ensure_future(
            asyncio.gather(*(self._lane(n) for n in range(self.lanes)))
        )
        return self

    async def stop(self) -> Ledger:
        self._stop.set()
        if self._task is not None:
            await self._task
        return self.ledger

    async def _lane(self, lane: int) -> None:
        open_ones: list[OpenConversion] = []
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as client:
            while not self._stop.is_set():
                if not self.ledger.clicks or random.random() < self.click_share:
                    await self._click(client)
                else:
                    await self._postback_step(client, lane, open_ones)
                await asyncio.sleep(self.pace)

    async def _click(self, client: httpx.AsyncClient) -> None:
        params = {"offer_id": self.network.offer["id"], "aff_id": self.network.affiliate["id"]}
        answer = await self._get(client, "/click", params)
        if answer is None:
            return
        if answer.status_code == 302:
            cid = parse_qs(urlsplit(answer.headers["location"]).query)["cid"][0]
            self.ledger.clicks.append(cid)
        elif answer.status_code != 503 or not is_unavailable_shape(answer):
            self.ledger.unexpected.append(f"click: {answer.status_code} {answer.text[:200]}")

    async def _postback_step(
        self, client: httpx.AsyncClient, lane: int, open_ones: list[OpenConversion]
    ) -> None:
        if not open_ones or random.random() < 0.3:
            self._txids += 1
            path = random.choice(STATUS_PATHS)
            txid = f"tx-{lane}-{self._txids}"
            open_ones.append(OpenConversion(txid, random.choice(self.ledger.clicks), list(path)))
        current = random.choice(open_ones)
        status = current.to_send[0]
        if status not in self.ledger.sent[current.txid]:
            self.ledger.sent[current.txid].append(status)
        params = {
            "click_id": current.click_id,
            "txid": current.txid,
            "status": status,
            "token": self.network.token,
        }
        answer = await self._get(client, "/postback", params)
        if answer is None:
            return
        if answer.status_code == 200:
            self.ledger.acked[current.txid].append(status)
            current.to_send.pop(0)
            if not current.to_send:
                open_ones.remove(current)
        elif answer.status_code != 503 or not is_unavailable_shape(answer):
            self.ledger.unexpected.append(f"postback: {answer.status_code} {answer.text[:200]}")

    async def _get(
        self, client: httpx.AsyncClient, path: str, params: dict[str, Any]
    ) -> httpx.Response | None:
        try:
            answer = await client.get(path, params=params)
        except httpx.TransportError:
            self.ledger.no_answer += 1
            await asyncio.sleep(0.05)
            return None
        self.ledger.answers[answer.status_code] += 1
        return answer


@dataclass
class StoredConversion:
    conversion: Conversion
    history: list[StatusChange]

    @property
    def statuses(self) -> list[str]:
        return [change.to_status for change in self.history]


async def stored_conversions(store: Store, offer_id: int) -> dict[str, list[StoredConversion]]:
    """Every conversion of the offer with its history, by txid."""
    found: dict[str, list[StoredConversion]] = defaultdict(list)
    cursor: str | None = None
    while True:
        page = await store.list_conversions(
            filters={"offer_id": offer_id}, limit=1000, cursor=cursor
        )
        for conversion in page.items:
            history = await store.conversion_history(conversion.id)
            found[conversion.txid or ""].append(StoredConversion(conversion, history))
        cursor = page.next_cursor
        if cursor is None:
            return found


async def missing_clicks(store: Store, click_ids: list[str]) -> list[str]:
    return [cid for cid in click_ids if await store.get_click(cid) is None]


def postback_problems(ledger: Ledger, stored: dict[str, list[StoredConversion]]) -> list[str]:
    """Every acknowledged postback is one conversion, and its history holds exactly the
    changes that were sent, in order, each once (a change stored just before a crash and
    never acknowledged may be there too; nothing else may)."""
    problems: list[str] = []
    for txid, acked in ledger.acked.items():
        conversions = stored.get(txid, [])
        if len(conversions) != 1:
            problems.append(f"{txid}: {len(conversions)} conversions for an acknowledged postback")
            continue
        statuses = conversions[0].statuses
        sent = ledger.sent[txid]
        if statuses != sent[: len(statuses)]:
            problems.append(f"{txid}: history {statuses} is not the sent sequence {sent}")
        if statuses[: len(acked)] != acked:
            problems.append(f"{txid}: history {statuses} lacks acknowledged {acked}")
    return problems
