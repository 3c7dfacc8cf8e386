"""Reading the hash chains back from the database and checking every link, book by book.

A book's transactions are read in chunks of ``CHUNK`` (keyset on ``book_seq``) with their
postings, so verifying a large journal streams instead of loading it whole. Each book must
also end where its ``books`` head says, and the legacy chain (rows from before books) where
``legacy_chain`` says: a tail cut off together with the head row is what the published
checkpoints catch (adapters/checkpoints.py).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.domain.chain import (
    GENESIS,
    LEGACY_BOOK,
    BrokenLink,
    ChainedPosting,
    ChainedTransaction,
    ChainReport,
    book_of,
    check_link,
)

CHUNK = 5_000

_COLUMNS = """id, seq, tenant_id, posted_at, original_date, source_event_id, source_type, kind,
       actor, reason, memo, reverses, prev_hash, hash, book_seq"""
_BOOK = sa.text(f"""
SELECT {_COLUMNS} FROM journal_transactions
WHERE tenant_id = :tenant AND book_seq > :after ORDER BY book_seq LIMIT :limit
""")
_LEGACY = sa.text(f"""
SELECT {_COLUMNS} FROM journal_transactions
WHERE book_seq IS NULL AND seq > :after ORDER BY seq LIMIT :limit
""")
_LINES = sa.text("""
SELECT p.transaction_id, a.code, a.subledger, p.currency, p.amount, p.external_ref
FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE p.transaction_id = ANY(:ids)
ORDER BY p.seq, p.line
""")


async def _walk(
    conn: AsyncConnection,
    book: str,
    query: sa.TextClause,
    params: dict[str, object],
    progress: Callable[[int], None] | None,
    start: tuple[int, str, int] = (0, GENESIS, 0),
) -> ChainReport:
    """Walk the chain from ``start`` (position, hash and links checked so far)."""
    after, prev, checked = start
    while True:
        txs = list(await conn.execute(query, {**params, "after": after, "limit": CHUNK}))
        if not txs:
            return ChainReport(book, checked, prev, after, None)
        lines: dict[object, list[ChainedPosting]] = {}
        for p in await conn.execute(_LINES, {"ids": [t.id for t in txs]}):
            lines.setdefault(p.transaction_id, []).append(
                ChainedPosting(p.code, p.subledger, p.currency, p.amount, p.external_ref)
            )
        for t in txs:
            chained = ChainedTransaction(
                t.id, t.seq, t.tenant_id, t.posted_at, t.original_date, t.source_event_id,
                t.source_type, t.kind, t.actor, t.reason, t.memo, t.reverses,
                lines.get(t.id, []), t.book_seq,
            )  # fmt: skip
            broken = check_link(after + 1, prev, chained, t.prev_hash, t.hash)
            if broken is not None:
                return ChainReport(book, checked, prev, after, broken)
            after, prev, checked = chained.position, t.hash, checked + 1
        if progress is not None:
            progress(len(txs))


def _head_mismatch(report: ChainReport, head: tuple[int, str] | None) -> ChainReport:
    """A walk that held must end exactly at the recorded head."""
    if not report.ok or head is None or head == (report.head_seq, report.head):
        return report
    seq, digest = head
    if seq > report.head_seq:
        why = (
            f"the chain ends at {report.head_seq} but its head says {seq}: transactions are missing"
        )
    elif seq < report.head_seq:
        why = f"the chain runs to {report.head_seq} past its recorded head {seq}"
    else:
        why = f"the head's hash {digest[:12]}... is not the chain's {report.head[:12]}..."
    return ChainReport(report.book, report.checked, report.head, report.head_seq,
                       BrokenLink(seq, None, why))  # fmt: skip


async def verify_book(
    conn: AsyncConnection, tenant_id: str, progress: Callable[[int], None] | None = None
) -> ChainReport:
    """Walk one tenant's book from genesis; stop at the first link that does not hold.

    The book may grow while it is walked (verify runs on a live ledger): a head read after
    the walk that is ahead of it names transactions committed since the walk's last read,
    and the walk goes on to them. Only a head that the rows never reach is a missing tail
    (reported as one until then: a false alarm on every busy book)."""
    book = book_of(tenant_id)
    params: dict[str, object] = {"tenant": tenant_id}
    report = await _walk(conn, book, _BOOK, params, progress)
    while True:
        row = (
            await conn.execute(
                sa.text("SELECT head_seq, head_hash FROM books WHERE tenant_id = :t"),
                {"t": tenant_id},
            )
        ).first()
        head = (row.head_seq, row.head_hash) if row else (0, GENESIS)
        if not report.ok or head[0] <= report.head_seq:
            return _head_mismatch(report, head)
        went_on = await _walk(
            conn, book, _BOOK, params, progress, (report.head_seq, report.head, report.checked)
        )
        if went_on.ok and went_on.head_seq == report.head_seq:  # nothing more: cut off
            return _head_mismatch(report, head)
        report = went_on


async def verify_legacy(
    conn: AsyncConnection, progress: Callable[[int], None] | None = None
) -> ChainReport:
    """The chain journals had before books (every tenant in one), closed by ``legacy_chain``."""
    report = await _walk(conn, LEGACY_BOOK, _LEGACY, {}, progress)
    head = (await conn.execute(sa.text("SELECT head_seq, head_hash FROM legacy_chain"))).first()
    return _head_mismatch(report, (head.head_seq, head.head_hash) if head else (0, GENESIS))


async def tenants_with_books(conn: AsyncConnection) -> list[str]:
    """Every tenant that has a book row or a booked transaction (a lost head row shows)."""
    rows = await conn.execute(
        sa.text(
            "SELECT tenant_id FROM books UNION"
            " SELECT DISTINCT tenant_id FROM journal_transactions WHERE book_seq IS NOT NULL"
            " ORDER BY 1"
        )
    )
    return list(rows.scalars())


async def verify_chains(
    conn: AsyncConnection,
    tenant_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ChainReport]:
    """One tenant's book, or the legacy chain and every book."""
    if tenant_id is not None:
        return [await verify_book(conn, tenant_id, progress)]
    reports = [await verify_legacy(conn, progress)]
    for tenant in await tenants_with_books(conn):
        reports.append(await verify_book(conn, tenant, progress))
    return reports
