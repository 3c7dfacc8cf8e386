"""Every invariant of the ledger, checked on a live database (``tradeflow ledger audit``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.chain import verify_chains
from services.ledger.domain.chain import Check

SAMPLE = 5  # offenders named per failed check

_CHECKS: dict[str, str] = {
    "every transaction balances per currency": """
        SELECT transaction_id::text || ' ' || currency || ' off by ' || sum(amount)
        FROM postings GROUP BY transaction_id, currency HAVING sum(amount) <> 0
        LIMIT :n""",
    "every transaction has at least two postings": """
        SELECT j.id::text || ' has ' || count(p.line) || ' postings'
        FROM journal_transactions j LEFT JOIN postings p ON p.transaction_id = j.id
        GROUP BY j.id HAVING count(p.line) < 2 LIMIT :n""",
    "trial balance is zero per tenant and currency": """
        SELECT tenant_id || ' ' || currency || ' off by ' || sum(amount)
        FROM postings GROUP BY tenant_id, currency HAVING sum(amount) <> 0 LIMIT :n""",
    "no escrow holds a negative balance": """
        SELECT a.tenant_id || ' order ' || a.subledger || ' holds ' || -sum(p.amount) || ' '
               || a.currency
        FROM accounts a JOIN postings p ON p.account_id = a.id
        WHERE a.code = 'escrow_held' GROUP BY a.id HAVING sum(p.amount) > 0 LIMIT :n""",
    "postings agree with their transaction and account": """
        SELECT p.transaction_id::text || '/' || p.line FROM postings p
        LEFT JOIN journal_transactions j ON j.id = p.transaction_id
        LEFT JOIN accounts a ON a.id = p.account_id
        WHERE j.id IS NULL OR a.id IS NULL OR j.seq <> p.seq OR j.posted_at <> p.posted_at
           OR j.tenant_id <> p.tenant_id OR a.tenant_id <> p.tenant_id
           OR a.currency <> p.currency LIMIT :n""",
    # FX (docs/fx.md): FX clearing is explained by the open conversions. Every FX clearing
    # posting names its conversion (the Stripe object, else the payment, payout or refund),
    # and a conversion Stripe settled left nothing there, in any currency; so FX clearing of
    # each currency is the sum of what the conversions not yet settled hold.
    "every FX clearing posting names its conversion": """
        SELECT p.transaction_id::text || '/' || p.line FROM postings p
        JOIN accounts a ON a.id = p.account_id
        WHERE a.code = 'fx_clearing' AND p.external_ref IS NULL LIMIT :n""",
    "FX clearing of every settled conversion is zero per currency": """
        SELECT a.tenant_id || ' ' || p.external_ref || ' ' || p.currency || ' left '
               || sum(p.amount)
        FROM postings p JOIN accounts a ON a.id = p.account_id
        WHERE a.code = 'fx_clearing' AND EXISTS (
            SELECT 1 FROM postings s JOIN journal_transactions j ON j.id = s.transaction_id
            WHERE j.source_type = 'fx.settlement' AND s.tenant_id = a.tenant_id
              AND s.external_ref = p.external_ref)
        GROUP BY a.tenant_id, p.external_ref, p.currency HAVING sum(p.amount) <> 0 LIMIT :n""",
}


async def audit(conn: AsyncConnection) -> list[Check]:
    results = []
    for name, sql in _CHECKS.items():
        offenders = [str(v) for v in (await conn.execute(sa.text(sql), {"n": SAMPLE})).scalars()]
        results.append(Check(name, not offenders, offenders))
    reports = await verify_chains(conn)
    details = [
        f"{r.book} seq {r.broken.seq} (transaction {r.broken.transaction_id}): {r.broken.reason}"
        for r in reports
        if r.broken is not None
    ]
    links = sum(r.checked for r in reports)
    books = sum(1 for r in reports if r.checked or r.book != "legacy")
    results.append(
        Check(f"hash chains intact ({links} links verified in {books} books)", not details,
              details[:SAMPLE])
    )  # fmt: skip
    return results
