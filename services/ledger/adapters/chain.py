"""Reading the hash chain back from the database and checking every link, in seq order.

The chain is read in chunks of ``CHUNK`` transactions (keyset on seq) with their postings,
so verifying a large journal streams instead of loading it whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.domain.chain import (
    GENESIS,
    BrokenLink,
    ChainedPosting,
    ChainedTransaction,
    check_link,
)

CHUNK = 5_000

_TXS = sa.text("""
SELECT id, seq, tenant_id, posted_at, original_date, source_event_id, source_type, kind,
       actor, reason, memo, reverses, prev_hash, hash
FROM journal_transactions WHERE seq > :after ORDER BY seq LIMIT :limit
""")
_LINES = sa.text("""
SELECT p.transaction_id, a.code, a.subledger, p.currency, p.amount, p.external_ref
FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE p.transaction_id = ANY(:ids)
ORDER BY p.seq, p.line
""")


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    head: str
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None


async def verify_chain(
    conn: AsyncConnection, progress: Callable[[int], None] | None = None
) -> ChainReport:
    """Walk the chain from genesis; stop at the first link that does not hold."""
    after, prev, checked = 0, GENESIS, 0
    while True:
        txs = list(await conn.execute(_TXS, {"after": after, "limit": CHUNK}))
        if not txs:
            return ChainReport(checked, prev, None)
        lines: dict[object, list[ChainedPosting]] = {}
        for p in await conn.execute(_LINES, {"ids": [t.id for t in txs]}):
            lines.setdefault(p.transaction_id, []).append(
                ChainedPosting(p.code, p.subledger, p.currency, p.amount, p.external_ref)
            )
        for t in txs:
            chained = ChainedTransaction(
                t.id, t.seq, t.tenant_id, t.posted_at, t.original_date, t.source_event_id,
                t.source_type, t.kind, t.actor, t.reason, t.memo, t.reverses, lines.get(t.id, []),
            )  # fmt: skip
            broken = check_link(after + 1, prev, chained, t.prev_hash, t.hash)
            if broken is not None:
                return ChainReport(checked, prev, broken)
            after, prev, checked = t.seq, t.hash, checked + 1
        if progress is not None:
            progress(len(txs))
