"""Steady click and postback traffic against a server that may fail at any moment, the
ledger of what it acknowledged, and the checks that nothing acknowledged was lost."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
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
    # Sent along with every status of this txid when set.
    revenue: str | None = None


@dataclass
class Ledger:
    """What the server acknowledged, and every answer that broke the contract."""

    clicks: list[str] = field(default_factory=list)
    acked: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    answers: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    unexpected: list[str] = field(default_factory=list)
    # Acknowledged repeats of an acknowledged postback, each answered "duplicate".
    duplicates: int = 0
    # New txids posted to several servers at once and acknowledged by more than one.
    races: int = 0

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

    `also`: further servers of the same installation; each lane sends its requests to all
    of them in turn, so a click made on one is posted back on another. `links`: the click
    parameters to choose from (offer, affiliate, subs); the network's offer and affiliate
    by default. `duplicate_share`: the share of postbacks that repeat one already
    acknowledged (same txid and status), which must be answered "duplicate". `race_share`:
    the share of new txids whose first postback goes to every server at once, where one
    may create it and the others must find it. `revenue_share`: the share of txids sent
    with a revenue of their own.
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
        also: Sequence[str] = (),
        links: Sequence[dict[str, Any]] = (),
        duplicate_share: float = 0.0,
        race_share: float = 0.0,
        revenue_share: float = 0.0,
    ) -> None:
        self.base_urls = [base_url, *also]
        self.network = network
        self.links = list(links) or [
            {"offer_id": network.offer["id"], "aff_id": network.affiliate["id"]}
        ]
        self.lanes = lanes
        self.pace = pace
        self.timeout = timeout
        self.click_share = click_share
        self.duplicate_share = duplicate_share
        self.race_share = race_share
        self.revenue_share = revenue_share
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
        begun: list[OpenConversion] = []
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, timeout=self.timeout)
                )
                for url in self.base_urls
            ]
            turns = itertools.cycle(clients)
            while not self._stop.is_set():
                client = next(turns)
                if not self.ledger.clicks or random.random() < self.click_share:
                    await self._click(client)
                elif self.duplicate_share and random.random() < self.duplicate_share:
                    await self._repeat(client, begun)
                else:
                    await self._postback_step(client, lane, open_ones, begun, clients)
                await asyncio.sleep(self.pace)

    async def _click(self, client: httpx.AsyncClient) -> None:
        params = random.choice(self.links)
        answer = await self._get(client, "/click", params)
        if answer is None:
            return
        if answer.status_code == 302:
            cid = parse_qs(urlsplit(answer.headers["location"]).query)["cid"][0]
            self.ledger.clicks.append(cid)
        elif answer.status_code != 503 or not is_unavailable_shape(answer):
            self.ledger.unexpected.append(f"click: {answer.status_code} {answer.text[:200]}")

    def _params(self, current: OpenConversion, status: str) -> dict[str, Any]:
        params = {
            "click_id": current.click_id,
            "txid": current.txid,
            "status": status,
            "token": self.network.token,
        }
        if current.revenue is not None:
            params["revenue"] = current.revenue
        return params

    async def _postback_step(
        self,
        client: httpx.AsyncClient,
        lane: int,
        open_ones: list[OpenConversion],
        begun: list[OpenConversion],
        clients: Sequence[httpx.AsyncClient],
    ) -> None:
        racing = False
        if not open_ones or random.random() < 0.3:
            self._txids += 1
            path = random.choice(STATUS_PATHS)
            txid = f"tx-{lane}-{self._txids}"
            new = OpenConversion(txid, random.choice(self.ledger.clicks), list(path))
            if self.revenue_share and random.random() < self.revenue_share:
                new.revenue = f"{random.randint(1, 500)}.{random.randint(0, 99):02d}"
            racing = bool(self.race_share) and random.random() < self.race_share
            open_ones.append(new)
            begun.append(new)
            current = new
        else:
            current = random.choice(open_ones)
        status = current.to_send[0]
        if status not in self.ledger.sent[current.txid]:
            self.ledger.sent[current.txid].append(status)
        params = self._params(current, status)
        if racing and len(clients) > 1:
            answers = await asyncio.gather(*(self._get(c, "/postback", params) for c in clients))
            self._check_race(current.txid, [a for a in answers if a is not None])
        else:
            answers = [await self._get(client, "/postback", params)]
        acked = False
        for answer in answers:
            if answer is None:
                continue
            if answer.status_code == 200:
                acked = True
            elif answer.status_code != 503 or not is_unavailable_shape(answer):
                self.ledger.unexpected.append(f"postback: {answer.status_code} {answer.text[:200]}")
        if acked:
            self.ledger.acked[current.txid].append(status)
            current.to_send.pop(0)
            if not current.to_send:
                open_ones.remove(current)

    def _check_race(self, txid: str, answers: list[httpx.Response]) -> None:
        """Of one postback sent to several servers at once, at most one creates the
        conversion; every other acknowledgement names the same one."""
        bodies = [answer.json() for answer in answers if answer.status_code == 200]
        if len(bodies) < 2:
            return
        self.ledger.races += 1
        created = [body for body in bodies if body.get("result") == "created"]
        ids = {body.get("conversion_id") for body in bodies}
        if len(created) > 1 or len(ids) != 1:
            self.ledger.unexpected.append(f"race on {txid}: {bodies}")

    async def _repeat(self, client: httpx.AsyncClient, begun: list[OpenConversion]) -> None:
        """Send an acknowledged postback again (only where nothing since is unanswered,
        so the stored status is the one repeated)."""
        settled = [
            item
            for item in begun
            if self.ledger.acked.get(item.txid)
            and self.ledger.sent[item.txid] == self.ledger.acked[item.txid]
        ]
        if not settled:
            return
        current = random.choice(settled)
        answer = await self._get(
            client, "/postback", self._params(current, self.ledger.acked[current.txid][-1])
        )
        if answer is None:
            return
        if answer.status_code == 200 and answer.json().get("result") == "duplicate":
            self.ledger.duplicates += 1
        elif answer.status_code != 503 or not is_unavailable_shape(answer):
            self.ledger.unexpected.append(
                f"repeat of {current.txid}: {answer.status_code} {answer.text[:200]}"
            )

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
