"""Limits every process shares: failed authentications per client address
(services/ratelimit.py) and the pauses of partner endpoints (dispatch/pauses.py).

Neither is written on a request or an attempt that goes well. A failed authentication
appends one row (inserts only, so concurrent failures share no row) and counts its
address's rows of the last window on the (client, at) index; the failure that reaches
the limit also writes the address's block, which each server process reads every
second. A circuit breaker that opens or closes writes its endpoint's row; each worker
reads them every second, and the one probe after a pause is given to the worker whose
atomic UPDATE takes it first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from postback.store import rows
from postback.store.base import EndpointPause
from postback.store.schema import auth_blocks, auth_failures, endpoint_pauses
from postback.store.sql_base import SqlBase

#: The most blocked addresses and paused endpoints one read returns.
MAX_READ = 100_000


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


class LimitsMixin(SqlBase):
    """Failed authentications and endpoint pauses, shared by every process."""

    #: Failed authentications are counted here, for every process (PostgreSQL: several
    #: server processes, maybe on several machines); on SQLite each process counts its own.
    counts_auth_failures = False

    def _upsert(self, table: Table) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # ---- failed authentications ---------------------------------------------------------

    async def record_auth_failure(
        self, client: str, at: datetime, window: float, limit: int
    ) -> datetime | None:
        """Count a failed authentication of `client`; when it has now failed `limit` times
        within `window` seconds, block it until the oldest of those is `window` old, and
        return that moment (None: not blocked)."""
        at_us = rows.to_us(at)
        async with self._write() as conn:
            await conn.execute(insert(auth_failures).values(client=client, at=at_us))
        # Counted after the commit, so failures other processes committed meanwhile count.
        recent = (
            select(auth_failures.c.at)
            .where(auth_failures.c.client == client, auth_failures.c.at > at_us - _us(window))
            .order_by(auth_failures.c.at.desc())
            .limit(limit)
        )
        async with self._read() as conn:
            found = list((await conn.execute(recent)).scalars())
        if len(found) < limit:
            return None
        until = found[-1] + _us(window)
        stmt = self._upsert(auth_blocks).values(client=client, blocked_until=until)
        later = case(
            (
                stmt.excluded.blocked_until > auth_blocks.c.blocked_until,
                stmt.excluded.blocked_until,
            ),
            else_=auth_blocks.c.blocked_until,
        )
        async with self._write() as conn:
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[auth_blocks.c.client], set_={"blocked_until": later}
                )
            )
        return rows.from_us(until)

    async def auth_blocks(self, now: datetime, limit: int = MAX_READ) -> dict[str, datetime]:
        """The client addresses blocked after `now`, and until when (the latest first, at
        most `limit`)."""
        stmt = (
            select(auth_blocks.c.client, auth_blocks.c.blocked_until)
            .where(auth_blocks.c.blocked_until > rows.to_us(now))
            .order_by(auth_blocks.c.blocked_until.desc())
            .limit(limit)
        )
        async with self._read() as conn:
            found = await conn.execute(stmt)
            return {row.client: rows.from_us(row.blocked_until) for row in found}

    async def forget_auth_failures(self, now: datetime, window: float) -> int:
        """Delete the failures older than `window` seconds and the blocks that are over;
        the number of rows deleted."""
        now_us = rows.to_us(now)
        async with self._write() as conn:
            old = await conn.execute(
                delete(auth_failures).where(auth_failures.c.at <= now_us - _us(window))
            )
            over = await conn.execute(
                delete(auth_blocks).where(auth_blocks.c.blocked_until <= now_us)
            )
        return int(old.rowcount) + int(over.rowcount)

    # ---- endpoint pauses ----------------------------------------------------------------

    async def publish_endpoint_pause(self, endpoint: str, until: datetime, pause: float) -> None:
        """Pause `endpoint` for every worker until `until` (or later, if it already is),
        after a pause of `pause` seconds; whoever held the probe right lost it (the probe
        is over, or a new pause began)."""
        stmt = self._upsert(endpoint_pauses).values(
            endpoint=endpoint,
            paused_until=rows.to_us(until),
            pause_ms=round(pause * 1000),
            probe_until=0,
        )
        current = endpoint_pauses.c
        new = stmt.excluded
        async with self._write() as conn:
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[current.endpoint],
                    set_={
                        "paused_until": case(
                            (new.paused_until > current.paused_until, new.paused_until),
                            else_=current.paused_until,
                        ),
                        "pause_ms": case(
                            (new.pause_ms > current.pause_ms, new.pause_ms),
                            else_=current.pause_ms,
                        ),
                        "probe_until": 0,
                    },
                )
            )

    async def clear_endpoint_pause(self, endpoint: str) -> None:
        """The endpoint answered: no worker holds it back any more."""
        async with self._write() as conn:
            await conn.execute(
                delete(endpoint_pauses).where(endpoint_pauses.c.endpoint == endpoint)
            )

    async def endpoint_pauses(self, limit: int = MAX_READ) -> list[EndpointPause]:
        """Every published pause, over or not (one that is over waits for its probe)."""
        stmt = select(endpoint_pauses).order_by(endpoint_pauses.c.endpoint).limit(limit)
        async with self._read() as conn:
            found = await conn.execute(stmt)
            return [
                EndpointPause(
                    endpoint=row.endpoint,
                    paused_until=rows.from_us(row.paused_until),
                    pause=row.pause_ms / 1000,
                    probe_until=rows.from_us(row.probe_until) if row.probe_until else None,
                )
                for row in found
            ]

    async def take_probe(self, endpoint: str, now: datetime, lease: float) -> bool:
        """Whether the caller may send the probe of `endpoint` now: its pause is over and
        no other worker holds the right, which the caller then holds for `lease` seconds
        (or nothing is published for it)."""
        now_us = rows.to_us(now)
        take = (
            update(endpoint_pauses)
            .where(
                endpoint_pauses.c.endpoint == endpoint,
                endpoint_pauses.c.paused_until <= now_us,
                endpoint_pauses.c.probe_until <= now_us,
            )
            .values(probe_until=now_us + _us(lease))
            .returning(endpoint_pauses.c.endpoint)
        )
        async with self._write() as conn:
            if (await conn.execute(take)).first() is not None:
                return True
            published = await conn.scalar(
                select(endpoint_pauses.c.endpoint).where(endpoint_pauses.c.endpoint == endpoint)
            )
        return published is None

    async def forget_endpoint_pauses(self, before: datetime) -> int:
        """Delete the pauses over before `before` whose probe never came (nothing was sent
        to the endpoint since); the number deleted."""
        before_us = rows.to_us(before)
        async with self._write() as conn:
            found = await conn.execute(
                delete(endpoint_pauses).where(
                    endpoint_pauses.c.paused_until < before_us,
                    endpoint_pauses.c.probe_until < before_us,
                )
            )
        return int(found.rowcount)
