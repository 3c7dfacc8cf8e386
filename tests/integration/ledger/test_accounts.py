"""Accounts are opened on first use, in one statement, and found again by their key."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters.accounts import AccountKey, account_ids
from services.ledger.adapters.posting import driver


async def _ids(engine: AsyncEngine, keys: list[AccountKey]) -> dict[AccountKey, int]:
    async with engine.begin() as conn:
        return await account_ids(await driver(conn), keys)


async def test_opens_the_missing_and_finds_the_rest(ledger: AsyncEngine, tenant: str) -> None:
    old = [(tenant, "escrow_held", "USD", "o1"), (tenant, "platform_fee_revenue", "USD", "")]
    first = await _ids(ledger, old + old)  # repeated keys: one account each
    assert set(first) == set(old) and len(set(first.values())) == 2
    new = [(tenant, "escrow_held", "USD", "o2"), (tenant, "escrow_held", "EUR", "o1")]
    both = await _ids(ledger, new + old)
    assert set(both) == set(old + new) and len(set(both.values())) == 4
    assert {k: both[k] for k in old} == first
    assert await _ids(ledger, old + new) == both


async def test_an_account_opened_concurrently_is_found(ledger: AsyncEngine, tenant: str) -> None:
    """Another transaction opens the same account and commits while this one's statement
    waits on it: the statement's own snapshot misses that account, the second look finds it."""
    key = (tenant, "escrow_held", "USD", "race")
    async with ledger.begin() as blocker:
        opened = await account_ids(await driver(blocker), [key])
        waiting = asyncio.create_task(_ids(ledger, [key, (tenant, "escrow_held", "USD", "r2")]))
        await asyncio.sleep(0.3)  # the other INSERT now waits on this uncommitted key
        assert not waiting.done()
    ids = await asyncio.wait_for(waiting, 10)
    assert ids[key] == opened[key] and len(ids) == 2
