"""The naive ledger consumer, the ingest benchmark's baseline: the same events through the same
inbox consumer, but one database transaction per journal transaction (``max_records=1``) and
one INSERT per row (journal row, each posting), as a straightforward implementation would.

It keeps every guarantee the real one does (inbox claim in the transaction, offsets after the
commit, the book's lock and hash chain, the database's triggers and balance check), so the
ratio says what batching, COPY and the pipeline buy, nothing else.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.accounts import account_ids
from services.ledger.adapters.escrow_held import HeldReport, record_held
from services.ledger.adapters.posting import driver, lock_books
from services.ledger.domain.chain import canonical_of, link_bytes
from services.ledger.domain.rules import draft_for
from shared.events import Envelope

_JOURNAL = (
    "INSERT INTO journal_transactions (id, seq, tenant_id, posted_at, original_date,"
    " source_event_id, source_type, kind, actor, reason, memo, reverses, prev_hash, hash,"
    " book_seq) VALUES ($1, $2, $3, $4, NULL, $5, $6, 'event', NULL, NULL, $7, NULL, $8, $9, $10)"
)
_POSTING = (
    "INSERT INTO postings (transaction_id, line, seq, tenant_id, account_id, currency, amount,"
    " posted_at, external_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_HEAD = "UPDATE books SET head_seq = $2, head_hash = $3, updated_at = now() WHERE tenant_id = $1"


async def naive_post(conn: AsyncConnection, env: Envelope) -> None:
    payload = env.payload()
    d = draft_for(env, payload)
    if d is None:
        return
    pg = await driver(conn)
    (position, prev) = (await lock_books(pg, [d.tenant_id]))[d.tenant_id]
    ids = await account_ids(
        pg, [(d.tenant_id, ln.code, ln.currency, ln.subledger) for ln in d.lines]
    )
    seq = await pg.fetchval("SELECT nextval('journal_seq')")
    position += 1
    digest = link_bytes(prev, canonical_of(
        d.id, seq, d.tenant_id, d.posted_at, None, d.source_event_id, d.source_type, d.kind,
        None, None, d.memo, None, d.lines, position,
    ))  # fmt: skip
    await pg.execute(_JOURNAL, d.id, seq, d.tenant_id, d.posted_at, d.source_event_id,
                     d.source_type, d.memo, prev, digest, position)  # fmt: skip
    for n, ln in enumerate(d.lines, start=1):
        account = ids[(d.tenant_id, ln.code, ln.currency, ln.subledger)]
        await pg.execute(_POSTING, d.id, n, seq, d.tenant_id, account, ln.currency, ln.amount,
                         d.posted_at, ln.external_ref)  # fmt: skip
    await pg.execute(_HEAD, d.tenant_id, position, digest)
    held, order = getattr(payload, "held_after", None), getattr(payload, "order_id", None)
    if isinstance(held, int) and order:
        report = HeldReport(env.tenant_id, order, d.lines[0].currency, held, d.posted_at, env.id)
        await record_held(pg, [report])
