"""The SQL of Stripe's books: the tenant's Stripe account, the balance transactions seen
(each once: the primary key is its id), payouts due to arrive, and the Stripe-clearing
balance against the Stripe balance (the sum of the nets of the tenant's balance
transactions) per currency."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.ledger.domain.recon import ClearingBalance, StripeLine
from services.ledger.domain.stripe_books import PAYOUT_RETURNS, PAYOUTS, SELF_BOOKED

_LINE = (
    "balance_txn_id, source_id, type, currency, amount, fee, created, available_on, tenant_id,"
    " order_id, exchange_rate"
)

# A balance transaction seen before (by any run, for any tenant) is not recorded again (the
# run staged each one once). Of those recorded now, only the ones with something to book
# come back: a fee, or a type whose gross no event books.
_RECORD = f"""
WITH recorded AS (
    INSERT INTO stripe_balance_transactions (balance_txn_id, tenant_id, type, source_id,
        currency, amount, fee, created, available_on, run_id, order_id, exchange_rate)
    SELECT balance_txn_id, $1, type, source_id, currency, amount, fee, created, available_on,
           run_id, order_id, exchange_rate
    FROM stripe_lines WHERE run_id = $2
    ON CONFLICT (balance_txn_id) DO NOTHING
    RETURNING {_LINE}
)
SELECT {_LINE} FROM recorded
WHERE fee <> 0 OR type = ANY($3::text[]) OR exchange_rate IS NOT NULL
ORDER BY created, balance_txn_id
"""
# What the partial index on payouts holds (their arrivals and failures are looked up by it).
PAYOUT_TYPES = "(" + ", ".join(f"'{t}'" for t in sorted(PAYOUTS | PAYOUT_RETURNS)) + ")"
_DUE = f"""
SELECT {_LINE} FROM stripe_balance_transactions b
WHERE tenant_id = $1 AND type = ANY($2::text[]) AND NOT arrival_booked AND available_on <= $3
  AND type IN {PAYOUT_TYPES}
  AND NOT EXISTS (
    SELECT 1 FROM stripe_balance_transactions f
    WHERE f.tenant_id = b.tenant_id AND f.source_id = b.source_id AND f.type = ANY($4::text[])
      AND f.type IN {PAYOUT_TYPES})
ORDER BY available_on, balance_txn_id
"""
_ARRIVED = f"""
SELECT source_id FROM stripe_balance_transactions
WHERE tenant_id = $1 AND source_id = ANY($2::text[]) AND arrival_booked
  AND type IN {PAYOUT_TYPES}
"""
_BALANCES = """
WITH ledger AS (
    SELECT p.currency, sum(p.amount)::bigint AS amount
    FROM accounts a JOIN postings p ON p.account_id = a.id
    WHERE a.tenant_id = $1 AND a.code = 'stripe_clearing' AND p.posted_at < $2
    GROUP BY p.currency
), stripe AS (
    SELECT currency, sum(amount - fee)::bigint AS amount FROM stripe_balance_transactions
    WHERE tenant_id = $1 AND created < $2 GROUP BY currency
)
SELECT coalesce(l.currency, s.currency) AS currency, coalesce(l.amount, 0) AS clearing,
       coalesce(s.amount, 0) AS stripe
FROM ledger l FULL JOIN stripe s ON s.currency = l.currency ORDER BY 1
"""


# What the events booked of each converted object (Stripe clearing, events only) and what FX
# clearing holds for it, per currency: what a settlement moves and clears (domain/fx.py).
_FX_POSITIONS = """
SELECT p.external_ref, a.code, p.currency, sum(p.amount)::bigint
FROM postings p JOIN accounts a ON a.id = p.account_id
JOIN journal_transactions j ON j.id = p.transaction_id
WHERE a.tenant_id = $1 AND p.external_ref = ANY($2::text[])
  AND (a.code = 'fx_clearing' OR (a.code = 'stripe_clearing' AND j.source_type NOT LIKE 'stripe.%'))
GROUP BY 1, 2, 3
"""


_UNSETTLED = f"""
SELECT {_LINE} FROM stripe_balance_transactions
WHERE tenant_id = $1 AND exchange_rate IS NOT NULL AND NOT fx_settled AND type <> ALL($2::text[])
ORDER BY created, balance_txn_id
"""


async def unsettled(pg: asyncpg.Connection, tenant_id: str) -> list[StripeLine]:
    return _lines(await pg.fetch(_UNSETTLED, tenant_id, sorted(SELF_BOOKED)))


async def mark_settled(pg: asyncpg.Connection, balance_txn_ids: Sequence[str]) -> None:
    await pg.execute(
        "UPDATE stripe_balance_transactions SET fx_settled = true"
        " WHERE balance_txn_id = ANY($1::text[])",
        list(balance_txn_ids),
    )


async def fx_positions(
    pg: asyncpg.Connection, tenant_id: str, refs: Sequence[str]
) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    """Per object: (Stripe clearing booked by events, FX clearing), each per currency."""
    out: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for ref, code, currency, amount in await pg.fetch(_FX_POSITIONS, tenant_id, list(refs)):
        booked, fx = out.setdefault(ref, ({}, {}))
        (fx if code == "fx_clearing" else booked)[currency] = amount
    return out


def _lines(rows: Sequence[asyncpg.Record]) -> list[StripeLine]:
    return [StripeLine(*r) for r in rows]


async def record(pg: asyncpg.Connection, tenant_id: str, run_id: int) -> list[StripeLine]:
    return _lines(await pg.fetch(_RECORD, tenant_id, run_id, sorted(SELF_BOOKED)))


async def payouts_due(pg: asyncpg.Connection, tenant_id: str, now: datetime) -> list[StripeLine]:
    return _lines(await pg.fetch(_DUE, tenant_id, sorted(PAYOUTS), now, sorted(PAYOUT_RETURNS)))


async def arrived(pg: asyncpg.Connection, tenant_id: str, payout_ids: Sequence[str]) -> set[str]:
    return {r["source_id"] for r in await pg.fetch(_ARRIVED, tenant_id, list(payout_ids))}


async def mark_arrived(pg: asyncpg.Connection, balance_txn_ids: Sequence[str]) -> None:
    await pg.execute(
        "UPDATE stripe_balance_transactions SET arrival_booked = true"
        " WHERE balance_txn_id = ANY($1::text[])",
        list(balance_txn_ids),
    )


async def balances(pg: asyncpg.Connection, tenant_id: str, end: datetime) -> list[ClearingBalance]:
    return [
        ClearingBalance(r["currency"], r["clearing"], r["stripe"])
        for r in await pg.fetch(_BALANCES, tenant_id, end)
    ]


async def account_of(pg: asyncpg.Connection, tenant_id: str) -> str | None:
    found = await pg.fetchval(
        "SELECT stripe_account_id FROM stripe_accounts WHERE tenant_id = $1", tenant_id
    )
    return str(found) if found is not None else None


async def set_account(pg: asyncpg.Connection, tenant_id: str, account: str, actor: str) -> None:
    await pg.execute(
        "INSERT INTO stripe_accounts (tenant_id, stripe_account_id, set_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (tenant_id) DO UPDATE SET stripe_account_id = excluded.stripe_account_id,"
        " set_by = excluded.set_by, set_at = now()",
        tenant_id, account, actor,
    )  # fmt: skip
