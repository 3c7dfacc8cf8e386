"""The database itself refuses unbalanced, altered or misplaced postings. Every test commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.entrypoints.consumers import post_events
from tests.integration.ledger.helpers import funded, post

NOW = datetime(2026, 3, 1, tzinfo=UTC)


async def _account(engine: AsyncEngine, tenant: str, code: str) -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    sa.text(
                        "WITH new AS (INSERT INTO accounts (tenant_id, code, currency)"
                        " VALUES (:t, :c, 'USD') ON CONFLICT DO NOTHING RETURNING id)"
                        " SELECT id FROM new UNION ALL SELECT id FROM accounts"
                        " WHERE tenant_id = :t AND code = :c AND currency = 'USD'"
                        " AND subledger = ''"
                    ),
                    {"t": tenant, "c": code},
                )
            ).scalar_one()
        )


# A hand-written row's place in its tenant's book: right after the last one.
NEXT_IN_BOOK = (
    "(SELECT coalesce(max(book_seq), 0) + 1 FROM journal_transactions WHERE tenant_id = :t)"
)


async def _insert_raw(engine: AsyncEngine, tenant: str, amounts: list[int]) -> uuid.UUID:
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
                " source_type, kind, memo, prev_hash, hash, book_seq)"
                " VALUES (:id, :seq, :t, :at, :src, 'test', 'event', 'by hand', 'x', 'y',"
                f" {NEXT_IN_BOOK})"
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
    return tx


async def test_unbalanced_transaction_is_refused_at_commit(
    ledger: AsyncEngine, tenant: str
) -> None:
    with pytest.raises(DBAPIError, match="unbalanced: USD off by 1"):
        await _insert_raw(ledger, tenant, [1_001, -1_000])


async def test_a_single_posting_is_refused(ledger: AsyncEngine, tenant: str) -> None:
    with pytest.raises(DBAPIError, match="has 1 postings; at least 2"):
        await _insert_raw(ledger, tenant, [500])


async def test_balanced_transaction_by_hand_commits(ledger: AsyncEngine, tenant: str) -> None:
    tx = await _insert_raw(ledger, tenant, [700, -300, -400])
    async with ledger.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT amount FROM postings WHERE transaction_id = :tx ORDER BY line"),
                {"tx": tx},
            )
        ).scalars()
        assert list(stored) == [700, -300, -400]


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


_JOURNAL_ROW = (
    "INSERT INTO journal_transactions (id, seq, tenant_id, posted_at, source_event_id,"
    " source_type, kind, memo, prev_hash, hash, book_seq{extra})"
    " VALUES (:id, :seq, :t, :at, :src, 'test', 'event', 'by hand', 'x', 'y',"
    f" {NEXT_IN_BOOK}{{value}})"
)


async def test_a_row_claiming_another_database_transaction_is_refused(
    ledger: AsyncEngine, tenant: str
) -> None:
    """The balance check finds the rows to check by xact_id; a row written with someone
    else's xact_id would escape it (here: a transaction with no postings at all)."""
    with pytest.raises(DBAPIError, match="written by database transaction"):
        async with ledger.begin() as conn:
            await conn.execute(
                sa.text(_JOURNAL_ROW.format(extra=", xact_id", value=", 1")),
                {"id": uuid.uuid4(), "seq": 10**12 + uuid.uuid4().int % 10**9, "t": tenant,
                 "at": NOW, "src": uuid.uuid4()},
            )  # fmt: skip


async def test_nothing_slips_in_after_an_immediate_balance_check(
    ledger: AsyncEngine, tenant: str
) -> None:
    """SET CONSTRAINTS ... IMMEDIATE runs the check early; what is written afterwards must
    not ride on it: neither a posting added to a checked transaction nor a journal row
    numbered below the checked ones."""
    with pytest.raises(DBAPIError, match="already checked for balance"):
        async with ledger.begin() as conn:
            await post_events(conn, [funded(tenant, "o2", 1_000, 1_000)])
            await conn.execute(sa.text("SET CONSTRAINTS journal_balanced IMMEDIATE"))
            checked = (
                await conn.execute(
                    sa.text(
                        "SELECT transaction_id, seq, account_id, posted_at FROM postings"
                        " WHERE tenant_id = :t AND line = 1"
                    ),
                    {"t": tenant},
                )
            ).one()
            await conn.execute(
                sa.text(
                    "INSERT INTO postings (transaction_id, line, seq, tenant_id, account_id,"
                    " currency, amount, posted_at) VALUES (:tx, 9, :seq, :t, :a, 'USD', 5, :at)"
                ),
                {"tx": checked.transaction_id, "seq": checked.seq, "t": tenant,
                 "a": checked.account_id, "at": checked.posted_at},
            )  # fmt: skip
    bank, suspense = (
        await _account(ledger, tenant, "bank"),
        await _account(ledger, tenant, "suspense"),
    )
    with pytest.raises(DBAPIError, match="numbered below rows already checked"):
        async with ledger.begin() as conn:
            head = (
                await conn.execute(sa.text("SELECT max(seq) FROM journal_transactions"))
            ).scalar()
            high, low = (head or 0) + 1_000, (head or 0) + 500
            tx = uuid.uuid4()
            await conn.execute(
                sa.text(_JOURNAL_ROW.format(extra="", value="")),
                {"id": tx, "seq": high, "t": tenant, "at": NOW, "src": uuid.uuid4()},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO postings (transaction_id, line, seq, tenant_id, account_id,"
                    " currency, amount, posted_at) VALUES (:tx, 1, :seq, :t, :d, 'USD', 5, :at),"
                    " (:tx, 2, :seq, :t, :c, 'USD', -5, :at)"
                ),
                {"tx": tx, "seq": high, "t": tenant, "d": bank, "c": suspense, "at": NOW},
            )
            await conn.execute(sa.text("SET CONSTRAINTS journal_balanced IMMEDIATE"))
            await conn.execute(sa.text("SET CONSTRAINTS journal_balanced DEFERRED"))
            await conn.execute(  # no postings at all, and the check would skip it
                sa.text(_JOURNAL_ROW.format(extra="", value="")),
                {"id": uuid.uuid4(), "seq": low, "t": tenant, "at": NOW, "src": uuid.uuid4()},
            )


async def test_accounts_and_closes_are_append_only_too(ledger: AsyncEngine, tenant: str) -> None:
    """Postings name their account by id: re-labelling an account (another tenant, code or
    currency) would move money between books without touching a posting."""
    await post(ledger, funded(tenant, "o1", 1_000, 1_000))
    for statement in (
        "UPDATE accounts SET tenant_id = 'someone-else' WHERE tenant_id = :t",
        "DELETE FROM accounts WHERE tenant_id = :t",
        "TRUNCATE accounts, period_closes",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with ledger.begin() as conn:
                await conn.execute(sa.text(statement), {"t": tenant})
