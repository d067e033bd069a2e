"""Finding clicks by id: in the id's own day first (PostgreSQL's partitions), then
anywhere (an id without its day, or a day that is not the click's), then among those
kept for their conversions."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import timedelta

import pytest

from postback.domain.ids import new_click_id
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(60)


async def test_every_shape_of_id_is_found(store: Store) -> None:
    now = make.now()
    offer = await make.offer(store)
    aff = (await make.affiliate(store)).id
    dated = make.click(offer, aff, now - timedelta(days=3))
    # An id whose day is not its click's, and one made before ids carried their day.
    elsewhere = dataclasses.replace(
        make.click(offer, aff, now - timedelta(days=40)), click_id=new_click_id(now)
    )
    legacy = dataclasses.replace(make.click(offer, aff, now), click_id=secrets.token_urlsafe(16))
    await store.insert_clicks([dated, elsewhere, legacy])
    unknown = new_click_id(now)
    for click in (dated, elsewhere, legacy):
        assert await store.get_click(click.click_id) == click
    assert await store.get_click(unknown) is None
    assert await store.get_click(secrets.token_urlsafe(16)) is None
    # Looked up together, as concurrent postbacks are.
    found = await asyncio.gather(
        *(
            store.get_click(cid)
            for cid in (dated.click_id, unknown, elsewhere.click_id, legacy.click_id)
        )
    )
    assert found == [dated, None, elsewhere, legacy]
