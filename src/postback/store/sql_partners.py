"""The store's advertisers, offers and affiliates: each read through its short cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select

from postback.domain.records import Advertiser, Affiliate, Offer
from postback.errors import InUse
from postback.store import rows
from postback.store.base import MAX_PAGE, Page
from postback.store.cache import TtlCache
from postback.store.schema import advertisers, affiliates, offers
from postback.store.sql_base import SqlBase


class PartnersMixin(SqlBase):
    """Advertisers, offers and affiliates (sql.Store keeps their caches)."""

    _offers: TtlCache[int, Offer]
    _affiliates: TtlCache[int, Affiliate]
    _advertisers: TtlCache[int, Advertiser]

    # ---- advertisers, offers, affiliates ------------------------------------------

    async def create_advertiser(self, fields: Mapping[str, Any]) -> Advertiser:
        created = rows.advertiser(await self._create(advertisers, fields))
        self._advertisers.drop(created.id)
        return created

    async def get_advertiser(self, advertiser_id: int) -> Advertiser | None:
        async def load() -> Advertiser | None:
            row = await self._get(advertisers, advertiser_id)
            return rows.advertiser(row) if row else None

        return await self._advertisers.get_or_load(advertiser_id, load)

    async def list_advertisers(self, *, limit: int = MAX_PAGE, cursor: str | None = None) -> Page:
        """Newest first, like every list; `cursor` is the previous page's next_cursor."""
        return await self._page(select(advertisers), advertisers, limit, cursor, rows.advertiser)

    async def update_advertiser(
        self, advertiser_id: int, changes: Mapping[str, Any]
    ) -> Advertiser | None:
        row = await self._update(advertisers, advertiser_id, changes)
        self._advertisers.drop(advertiser_id)
        return rows.advertiser(row) if row else None

    async def create_offer(self, fields: Mapping[str, Any]) -> Offer:
        created = rows.offer(await self._create(offers, fields))
        self._offers.drop(created.id)
        return created

    async def get_offer(self, offer_id: int) -> Offer | None:
        async def load() -> Offer | None:
            row = await self._get(offers, offer_id)
            return rows.offer(row) if row else None

        return await self._offers.get_or_load(offer_id, load)

    async def list_offers(
        self,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(offers)
        if statuses is not None:
            stmt = stmt.where(offers.c.status.in_(list(statuses)))
        return await self._page(stmt, offers, limit, cursor, rows.offer)

    async def update_offer(self, offer_id: int, changes: Mapping[str, Any]) -> Offer | None:
        row = await self._update(offers, offer_id, changes)
        self._offers.drop(offer_id)
        return rows.offer(row) if row else None

    async def create_affiliate(self, name: str, api_key_hash: str) -> Affiliate:
        fields = {"name": name, "api_key_hash": api_key_hash, "status": "active"}
        created = rows.affiliate(await self._create(affiliates, fields))
        self._affiliates.drop(created.id)
        return created

    async def get_affiliate(self, affiliate_id: int) -> Affiliate | None:
        async def load() -> Affiliate | None:
            row = await self._get(affiliates, affiliate_id)
            return rows.affiliate(row) if row else None

        return await self._affiliates.get_or_load(affiliate_id, load)

    async def find_affiliate_by_key_hash(self, api_key_hash: str) -> Affiliate | None:
        async with self._read() as conn:
            stmt = select(affiliates).where(affiliates.c.api_key_hash == api_key_hash)
            row = (await conn.execute(stmt)).first()
        return rows.affiliate(row) if row else None

    async def list_affiliates(
        self,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = MAX_PAGE,
        cursor: str | None = None,
    ) -> Page:
        stmt = select(affiliates)
        if statuses is not None:
            stmt = stmt.where(affiliates.c.status.in_(list(statuses)))
        return await self._page(stmt, affiliates, limit, cursor, rows.affiliate)

    async def update_affiliate(
        self, affiliate_id: int, changes: Mapping[str, Any]
    ) -> Affiliate | None:
        row = await self._update(affiliates, affiliate_id, changes)
        self._affiliates.drop(affiliate_id)
        return rows.affiliate(row) if row else None

    async def delete_advertiser(self, advertiser_id: int) -> bool:
        """False when there is no such advertiser; InUse while it has offers."""
        async with self._write() as conn:
            used = select(offers.c.id).where(offers.c.advertiser_id == advertiser_id).limit(1)
            if (await conn.execute(used)).first() is not None:
                raise InUse(
                    f"advertiser {advertiser_id} has offers; archive them and keep the advertiser"
                )
            gone = delete(advertisers).where(advertisers.c.id == advertiser_id)
            deleted = (await conn.execute(gone)).rowcount > 0
        self._advertisers.drop(advertiser_id)
        return deleted
