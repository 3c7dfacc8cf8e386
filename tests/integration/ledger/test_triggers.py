"""The database itself refuses unbalanced, altered or misplaced postings. Every test commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.ledger.helpers import funded, post

NOW = datetime(2026, 3, 1, tzinfo=UTC)


async def _account(engine: AsyncEngine, tenant: str, code: str) -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    sa.text(
                        "INSERT INTO accounts (tenant_id, code, currency) VALUES (:t, :c, 'USD')"
                        " ON CONFLICT (tenant_id, code, currency, subledger)"
                        " DO UPDATE SET code = excluded.code RETURNING id"
                    ),
                    {"t": tenant, "c": code},
                )
            ).scalar_one()
        )


async def _insert_raw(engine: AsyncEngine, tenant: str, amounts: list[int]) -> None:
    """A journal transaction written by hand, bypassing the posting engine, then COMMIT."""
    debit, credit = (
        await _account(engine, tenant, "bank"),
        await _account(engine, tenant, "suspense"),
    )
    tx, seq = uuid.uuid4(), 10**12 + uuid.uuid4().int % 10**9
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO journal_transactions (id, seq, tenant_id, posted_at, source_event_id,"
                " source_type, kind, memo, prev_hash, hash)"
                " VALUES (:id, :seq, :t, :at, :src, 'test', 'event', 'by hand', 'x', 'y')"
            ),
            {"id": tx, "seq": seq, "t": tenant, "at": NOW, "src": uuid.uuid4()},
        )
        for line, amount in enumerate(amounts, start=1):
            await conn.execute(
                sa.text(
                    "INSERT INTO postings (transaction_id, line, seq, tenant_id, account_id,"
                    " currency, amount, posted_at) VALUES (:tx, :l, :seq, :t, :a, 'USD', :amt, :at)"
                ),
                {"tx": tx, "l": line, "seq": seq, "t": tenant, "amt": amount, "at": NOW,
                 "a": debit if amount > 0 else credit},
            )  # fmt: skip


async def test_unbalanced_transaction_is_refused_at_commit(
    ledger: AsyncEngine, tenant: str
) -> None:
    with pytest.raises(DBAPIError, match="unbalanced: USD off by 1"):
        await _insert_raw(ledger, tenant, [1_001, -1_000])


async def test_a_single_posting_is_refused(ledger: AsyncEngine, tenant: str) -> None:
    with pytest.raises(DBAPIError, match="has 1 postings; at least 2"):
        await _insert_raw(ledger, tenant, [500])


async def test_balanced_transaction_by_hand_commits(ledger: AsyncEngine, tenant: str) -> None:
    await _insert_raw(ledger, tenant, [700, -300, -400])


async def test_postings_cannot_be_updated_or_deleted(ledger: AsyncEngine, tenant: str) -> None:
    event = funded(tenant, "o1", 1_000, 1_000)
    await post(ledger, event)
    for statement in (
        "UPDATE postings SET amount = amount * 2 WHERE tenant_id = :t",
        "DELETE FROM postings WHERE tenant_id = :t",
        "UPDATE journal_transactions SET memo = 'x' WHERE tenant_id = :t",
        "DELETE FROM journal_transactions WHERE tenant_id = :t",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with ledger.begin() as conn:
                await conn.execute(sa.text(statement), {"t": tenant})
    with pytest.raises(DBAPIError, match="append-only"):
        async with ledger.begin() as conn:
            await conn.execute(sa.text("TRUNCATE postings"))


async def test_a_committed_transaction_gains_no_postings(ledger: AsyncEngine, tenant: str) -> None:
    event = funded(tenant, "o1", 1_000, 1_000)
    await post(ledger, event)
    async with ledger.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT transaction_id, seq, account_id, posted_at FROM postings"
                    " WHERE tenant_id = :t AND line = 1"
                ),
                {"t": tenant},
            )
        ).one()
    with pytest.raises(DBAPIError, match="would change a transaction committed earlier"):
        async with ledger.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO postings (transaction_id, line, seq, tenant_id, account_id,"
                    " currency, amount, posted_at) VALUES (:tx, 9, :seq, :t, :a, 'USD', 5, :at),"
                    " (:tx, 10, :seq, :t, :a, 'USD', -5, :at)"
                ),
                {"tx": row.transaction_id, "seq": row.seq, "t": tenant, "a": row.account_id,
                 "at": row.posted_at},
            )  # fmt: skip
