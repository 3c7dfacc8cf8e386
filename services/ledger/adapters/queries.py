"""Read side: accounts, balances as of any moment, statements, trial balance, transactions.

Balances are sums over postings, served by the index (account_id, posted_at, seq, line)
INCLUDE (amount): an index-only range scan per account, no running-balance rows to keep.
Amounts returned are raw (debit positive); callers present natural balances via the chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.tables import accounts, journal, postings
from services.ledger.domain.reports import AccountSums


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    tenant_id: str
    code: str
    currency: str
    subledger: str
    opened_at: datetime


async def list_accounts(
    conn: AsyncConnection, tenant_id: str, code: str | None = None, currency: str | None = None
) -> list[AccountRow]:
    q = sa.select(accounts).where(accounts.c.tenant_id == tenant_id)
    if code:
        q = q.where(accounts.c.code == code)
    if currency:
        q = q.where(accounts.c.currency == currency)
    rows = await conn.execute(q.order_by(accounts.c.code, accounts.c.currency, accounts.c.id))
    return [AccountRow(**r._mapping) for r in rows]


async def get_account(conn: AsyncConnection, tenant_id: str, account_id: int) -> AccountRow | None:
    row = (
        await conn.execute(
            sa.select(accounts).where(
                accounts.c.id == account_id, accounts.c.tenant_id == tenant_id
            )
        )
    ).first()
    return AccountRow(**row._mapping) if row else None


async def find_account(
    conn: AsyncConnection, tenant_id: str, code: str, currency: str, subledger: str = ""
) -> AccountRow | None:
    row = (
        await conn.execute(
            sa.select(accounts).where(
                accounts.c.tenant_id == tenant_id,
                accounts.c.code == code,
                accounts.c.currency == currency,
                accounts.c.subledger == subledger,
            )
        )
    ).first()
    return AccountRow(**row._mapping) if row else None


async def balance(conn: AsyncConnection, account_id: int, as_of: datetime) -> int:
    """Raw balance (debits - credits) of the postings dated at or before ``as_of``."""
    q = sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount), 0)).where(
        postings.c.account_id == account_id, postings.c.posted_at <= as_of
    )
    return int((await conn.execute(q)).scalar_one())


_TRIAL = sa.text("""
SELECT a.code, a.currency, sum(b.total)::bigint AS balance, count(*) AS accounts
FROM accounts a
CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.amount), 0) AS total FROM postings p
    WHERE p.account_id = a.id AND p.posted_at <= :as_of
) b
WHERE a.tenant_id = :tenant
GROUP BY a.code, a.currency
ORDER BY a.currency, a.code
""")


@dataclass(frozen=True, slots=True)
class TrialLine:
    code: str
    currency: str
    balance: int  # raw: debit positive
    accounts: int


async def trial_balance(conn: AsyncConnection, tenant_id: str, as_of: datetime) -> list[TrialLine]:
    rows = await conn.execute(_TRIAL, {"tenant": tenant_id, "as_of": as_of})
    return [TrialLine(r.code, r.currency, int(r.balance), int(r.accounts)) for r in rows]


async def transaction(
    conn: AsyncConnection,
    tenant_id: str,
    *,
    id: UUID | None = None,
    source_event_id: UUID | None = None,
) -> dict[str, Any] | None:
    """A journal transaction with its postings (account code, sub-ledger, amount, ...)."""
    q = sa.select(journal).where(journal.c.tenant_id == tenant_id)
    q = q.where(journal.c.id == id) if id else q.where(journal.c.source_event_id == source_event_id)
    row = (await conn.execute(q)).first()
    if row is None:
        return None
    lines = await conn.execute(
        sa.select(
            postings.c.line,
            postings.c.account_id,
            accounts.c.code,
            accounts.c.subledger,
            postings.c.currency,
            postings.c.amount,
            postings.c.external_ref,
        )
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.transaction_id == row.id)
        .order_by(postings.c.line)
    )
    return {**row._mapping, "postings": [dict(p._mapping) for p in lines]}


async def reversed_by(conn: AsyncConnection, transaction_id: UUID) -> UUID | None:
    q = sa.select(journal.c.id).where(journal.c.reverses == transaction_id)
    found: UUID | None = (await conn.execute(q)).scalar_one_or_none()
    return found


_PERIOD_SUMS = sa.text("""
SELECT a.code,
       coalesce(sum(p.amount) FILTER (WHERE p.posted_at < :previous), 0)::bigint AS before,
       coalesce(sum(p.amount) FILTER (WHERE p.posted_at >= :previous AND p.posted_at < :start),
                0)::bigint AS previous,
       coalesce(sum(p.amount) FILTER (WHERE p.posted_at >= :start), 0)::bigint AS current
FROM accounts a JOIN postings p ON p.account_id = a.id
WHERE a.tenant_id = :tenant AND a.currency = :currency AND p.posted_at < :end
GROUP BY a.code
ORDER BY a.code
""")


async def period_sums(
    conn: AsyncConnection,
    tenant_id: str,
    currency: str,
    previous: datetime,
    start: datetime,
    end: datetime,
) -> list[AccountSums]:
    """Raw sums per account code of one currency: dated before ``previous``, in
    [previous, start) and in [start, end)."""
    rows = await conn.execute(
        _PERIOD_SUMS,
        {"tenant": tenant_id, "currency": currency, "previous": previous, "start": start,
         "end": end},
    )  # fmt: skip
    return [AccountSums(r.code, int(r.before), int(r.previous), int(r.current)) for r in rows]
