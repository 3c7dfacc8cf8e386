"""The posting engine's SQL: appends a batch of journal drafts in one database transaction.

What a batch may post (duplicates, closed periods, reversals) is decided by
``domain/admission.py`` on the facts read here, under the books' locks; the order of the
steps is ``service_layer/posting.py``'s.

One batch = one lock per book it touches, one statement for accounts, and a COPY each for
journal rows and postings. No per-posting statements and no running-balance rows: balances
are computed from the postings (indexed by account and date), so the fee account that every
release touches is never a hot row.

Each tenant's journal is a book with its own hash chain (``book_seq``, ``prev_hash``,
``hash``). A batch locks the ``books`` rows of the tenants it posts for, in tenant order (so
two batches cannot deadlock), and holds them to its commit: appends to one book are
serialised, appends to different books never wait on each other. ``seq``, the journal-wide
order, comes from a sequence and needs no lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.accounts import AccountKey, account_ids
from services.ledger.domain.chain import GENESIS, canonical_of, link_bytes
from services.ledger.domain.journal import JournalDraft, Posted

JOURNAL_COLUMNS = (
    "id", "seq", "tenant_id", "posted_at", "original_date", "source_event_id", "source_type",
    "kind", "actor", "reason", "memo", "reverses", "prev_hash", "hash", "book_seq",
)  # fmt: skip
POSTING_COLUMNS = (
    "transaction_id", "line", "seq", "tenant_id", "account_id", "currency", "amount",
    "posted_at", "external_ref",
)  # fmt: skip


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one, inside the same transaction, for COPY.

    SQLAlchemy's asyncpg adapter opens the database transaction lazily, on its first
    statement; a statement through SQLAlchemy first makes sure the COPY is not autocommitted.
    """
    raw = await conn.get_raw_connection()
    pg: asyncpg.Connection = raw.driver_connection
    if not pg.is_in_transaction():
        await conn.execute(sa.text("SELECT 1"))
    if not pg.is_in_transaction():
        raise RuntimeError("the ledger writes only inside a transaction (use engine.begin())")
    return pg


Head = tuple[int, str]  # a book's last position and hash


async def lock_books(pg: asyncpg.Connection, tenants: Sequence[str]) -> dict[str, Head]:
    """Lock the books of ``tenants`` (opening the missing ones) until commit; their heads."""
    ordered = sorted(set(tenants))
    await pg.execute(
        "INSERT INTO books (tenant_id, head_seq, head_hash)"
        " SELECT t, 0, $2 FROM unnest($1::text[]) AS t ORDER BY t ON CONFLICT DO NOTHING",
        ordered,
        GENESIS,
    )
    rows = await pg.fetch(
        "SELECT tenant_id, head_seq, head_hash FROM books WHERE tenant_id = ANY($1::text[])"
        " ORDER BY tenant_id FOR UPDATE",
        ordered,
    )
    return {r["tenant_id"]: (r["head_seq"], r["head_hash"]) for r in rows}


async def closed_through(pg: asyncpg.Connection, tenants: Sequence[str]) -> dict[str, datetime]:
    rows = await pg.fetch(
        "SELECT tenant_id, max(closed_through) AS upto FROM period_closes"
        " WHERE tenant_id = ANY($1::text[]) GROUP BY tenant_id",
        list(tenants),
    )
    return {r["tenant_id"]: r["upto"] for r in rows}


async def known_sources(pg: asyncpg.Connection, source_event_ids: Sequence[UUID]) -> list[Posted]:
    """The transactions the journal has of these source events (as duplicates)."""
    rows = await pg.fetch(
        "SELECT id, seq, source_event_id, posted_at FROM journal_transactions"
        " WHERE source_event_id = ANY($1::uuid[])",
        source_event_ids,
    )
    return [Posted(r["id"], r["seq"], r["source_event_id"], r["posted_at"], True) for r in rows]


async def reversed_among(pg: asyncpg.Connection, transaction_ids: Sequence[UUID]) -> set[UUID]:
    """Those of ``transaction_ids`` a transaction in the journal reverses."""
    if not transaction_ids:
        return set()
    rows = await pg.fetch(
        "SELECT reverses FROM journal_transactions WHERE reverses = ANY($1::uuid[])",
        transaction_ids,
    )
    return {r["reverses"] for r in rows}


async def append(
    pg: asyncpg.Connection, drafts: Sequence[JournalDraft], heads: dict[str, Head]
) -> list[Posted]:
    keys: list[AccountKey] = [
        (d.tenant_id, ln.code, ln.currency, ln.subledger) for d in drafts for ln in d.lines
    ]
    ids = await account_ids(pg, keys)
    seqs = sorted(
        await pg.fetchval(
            "SELECT array_agg(nextval('journal_seq')) FROM generate_series(1, $1)", len(drafts)
        )
    )
    heads = dict(heads)
    journal_rows, posting_rows, posted = [], [], []
    for d, seq in zip(drafts, seqs, strict=True):
        position, prev = heads[d.tenant_id]
        position += 1
        digest = link_bytes(prev, canonical_of(
            d.id, seq, d.tenant_id, d.posted_at, d.original_date, d.source_event_id,
            d.source_type, d.kind, d.actor, d.reason, d.memo, d.reverses, d.lines, position,
        ))  # fmt: skip
        journal_rows.append(
            (d.id, seq, d.tenant_id, d.posted_at, d.original_date, d.source_event_id,
             d.source_type, d.kind, d.actor, d.reason, d.memo, d.reverses, prev, digest, position)
        )  # fmt: skip
        for n, ln in enumerate(d.lines, start=1):
            account_id = ids[(d.tenant_id, ln.code, ln.currency, ln.subledger)]
            posting_rows.append(
                (d.id, n, seq, d.tenant_id, account_id, ln.currency, ln.amount, d.posted_at, ln.external_ref)
            )  # fmt: skip
        posted.append(Posted(d.id, seq, d.source_event_id, d.posted_at))
        heads[d.tenant_id] = (position, digest)
    await pg.copy_records_to_table(
        "journal_transactions", records=journal_rows, columns=JOURNAL_COLUMNS
    )
    await pg.copy_records_to_table("postings", records=posting_rows, columns=POSTING_COLUMNS)
    moved = [(t, heads[t]) for t in sorted({d.tenant_id for d in drafts})]
    await pg.execute(
        "UPDATE books SET head_seq = v.s, head_hash = v.h, updated_at = now()"
        " FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(t, s, h)"
        " WHERE books.tenant_id = v.t",
        [t for t, _ in moved], [h[0] for _, h in moved], [h[1] for _, h in moved],
    )  # fmt: skip
    return posted
