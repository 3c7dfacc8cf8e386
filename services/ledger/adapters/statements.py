"""Account statements: postings of one account in date order, with a running balance.

Pages are keyset-paginated on (posted_at, seq, line), the order of the index the query
reads; the opening balance of a page is one index-only sum over everything before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

Position = tuple[datetime, int, int]  # posted_at, seq, line

_PAGE = sa.text("""
SELECT p.transaction_id, p.line, p.seq, p.posted_at, p.amount, p.external_ref,
       j.memo, j.source_event_id, j.kind
FROM postings p JOIN journal_transactions j ON j.id = p.transaction_id
WHERE p.account_id = :account AND p.posted_at >= :start AND p.posted_at <= :end
  AND (p.posted_at, p.seq, p.line) > (:after_at, :after_seq, :after_line)
ORDER BY p.posted_at, p.seq, p.line
LIMIT :limit
""")
_BEFORE = sa.text("""
SELECT coalesce(sum(amount), 0) FROM postings
WHERE account_id = :account AND (posted_at, seq, line) <= (:at, :seq, :line)
""")


@dataclass(frozen=True, slots=True)
class StatementLine:
    transaction_id: UUID
    line: int
    seq: int
    posted_at: datetime
    amount: int  # raw, debit positive
    balance: int  # raw running balance after this line
    memo: str
    source_event_id: UUID
    kind: str
    external_ref: str | None

    @property
    def position(self) -> Position:
        return (self.posted_at, self.seq, self.line)


@dataclass(frozen=True, slots=True)
class StatementPage:
    opening: int
    lines: list[StatementLine]
    next_after: Position | None


async def statement_page(
    conn: AsyncConnection,
    account_id: int,
    start: datetime,
    end: datetime,
    after: Position | None,
    limit: int,
) -> StatementPage:
    # Before the first page: everything strictly before ``start`` (seq 0 never exists).
    after = after or (start, 0, 0)
    opening = (
        await conn.execute(
            _BEFORE, {"account": account_id, "at": after[0], "seq": after[1], "line": after[2]}
        )
    ).scalar_one()
    rows = await conn.execute(
        _PAGE,
        {"account": account_id, "start": start, "end": end, "after_at": after[0],
         "after_seq": after[1], "after_line": after[2], "limit": limit + 1},
    )  # fmt: skip
    fetched = list(rows)
    running, lines = int(opening), []
    for r in fetched[:limit]:
        running += r.amount
        lines.append(
            StatementLine(r.transaction_id, r.line, r.seq, r.posted_at, r.amount, running,
                          r.memo, r.source_event_id, r.kind, r.external_ref)
        )  # fmt: skip
    has_more = len(fetched) > limit
    return StatementPage(int(opening), lines, lines[-1].position if has_more else None)
