"""The three-way check with escrow asked, per order, into a run's ``recon_result``: what is
held (ledger against escrow), and the money taken in through Stripe as the ledger, escrow
and Stripe know it, each break naming the one that disagrees (``domain/recon.odd_one_out``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.ledger.domain.recon import BreakKind, EscrowHeld, odd_one_out
from services.ledger.domain.stripe_books import GROSS_BY_ORDER

# Escrow asked (as of $2): what it holds against the ledger's escrow held, and the money
# taken in through Stripe per order, as the ledger (clearing lines of the order's funding and
# refund transactions), escrow and Stripe (the tenant's charges and refunds that name the
# order, as runs recorded them) know it. Stripe's figure is NULL for an order none of the
# recorded lines names: then only ledger and escrow are compared (the held check). An order
# only Stripe names is one that ledger and escrow both put at 0.
_THREE_WAY = """
WITH lh AS (
    SELECT a.subledger AS order_id, a.currency, -sum(p.amount)::bigint AS held
    FROM accounts a JOIN postings p ON p.account_id = a.id
    WHERE a.tenant_id = $1 AND a.code = 'escrow_held' AND p.posted_at <= $2
    GROUP BY a.subledger, a.currency
), lc AS (
    SELECT o.order_id, p.currency, sum(p.amount)::bigint AS collected
    FROM journal_transactions j
    JOIN postings p ON p.transaction_id = j.id
    JOIN accounts c ON c.id = p.account_id AND c.code = 'stripe_clearing'
    JOIN LATERAL (
        SELECT a.subledger AS order_id FROM postings q JOIN accounts a ON a.id = q.account_id
        WHERE q.transaction_id = j.id AND a.code = 'escrow_held' LIMIT 1
    ) o ON true
    WHERE j.tenant_id = $1 AND j.source_type IN ('escrow.funded', 'escrow.refunded')
      AND j.posted_at <= $2
    GROUP BY o.order_id, p.currency
), sc AS (
    SELECT order_id, currency, sum(amount)::bigint AS collected
    FROM stripe_balance_transactions
    WHERE tenant_id = $1 AND order_id IS NOT NULL AND created <= $2
      AND type = ANY($3::text[])
    GROUP BY order_id, currency
), three AS (
    SELECT coalesce(lh.order_id, lc.order_id, e.order_id) AS order_id,
           coalesce(lh.currency, lc.currency, e.currency) AS currency,
           coalesce(lh.held, 0) AS l_held, coalesce(e.held, 0) AS e_held,
           coalesce(lc.collected, 0) AS l_coll, coalesce(e.collected, 0) AS e_coll
    FROM lh FULL JOIN lc ON lc.order_id = lh.order_id AND lc.currency = lh.currency
    FULL JOIN escrow_asked e
      ON e.order_id = coalesce(lh.order_id, lc.order_id)
     AND e.currency = coalesce(lh.currency, lc.currency)
)
SELECT coalesce(t.order_id, sc.order_id) AS order_id, coalesce(t.currency, sc.currency) AS currency,
       coalesce(t.l_held, 0) AS l_held, coalesce(t.e_held, 0) AS e_held,
       coalesce(t.l_coll, 0) AS l_coll, coalesce(t.e_coll, 0) AS e_coll, sc.collected AS s_coll
FROM three t FULL JOIN sc ON sc.order_id = t.order_id AND sc.currency = t.currency
WHERE t.order_id IS NULL  -- an order only Stripe names: ledger and escrow say 0
   OR t.l_held <> t.e_held OR t.l_coll <> t.e_coll OR t.l_coll <> sc.collected
"""


async def three_way(pg: Any, tenant_id: str, escrow: Sequence[EscrowHeld], as_of: datetime) -> None:
    await pg.execute(
        "CREATE TEMP TABLE escrow_asked (order_id text, currency text, held bigint,"
        " collected bigint) ON COMMIT DROP"
    )
    await pg.copy_records_to_table(
        "escrow_asked", records=[(e.order_id, e.currency, e.held, e.collected) for e in escrow]
    )
    rows = await pg.fetch(_THREE_WAY, tenant_id, as_of, sorted(GROSS_BY_ORDER))
    results = []
    for r in rows:
        if r["l_held"] != r["e_held"]:
            results.append((r["order_id"], r["currency"], r["l_held"], r["e_held"],
                            str(BreakKind.ESCROW_HELD_MISMATCH)))  # fmt: skip
        kind = odd_one_out(r["l_coll"], r["e_coll"], r["s_coll"])
        if kind is not None:
            other = r["s_coll"] if kind == BreakKind.STRIPE_DISAGREES else r["e_coll"]
            results.append((r["order_id"], r["currency"], r["l_coll"], other, str(kind)))
    await pg.executemany(
        "INSERT INTO recon_result (object_id, currency, ledger_amount, other_amount, kind)"
        " VALUES ($1, $2, $3, $4, $5)",
        results,
    )
    await pg.execute("DROP TABLE escrow_asked")
