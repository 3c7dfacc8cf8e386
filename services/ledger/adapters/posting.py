"""The posting engine: appends a batch of journal drafts in one database transaction.

One batch = one chain-lock acquisition, one statement for accounts, and a COPY each for
journal rows and postings. No per-posting statements and no running-balance rows: balances
are computed from the postings (indexed by account and date), so the fee account that every
release touches is never a hot row. Appends are serialised by a transaction-scoped advisory
lock because the hash chain needs a single order; with batches of thousands of events that
costs one lock wait per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.accounts import AccountKey, account_ids
from services.ledger.domain.chain import GENESIS, canonical_of, link_bytes
from services.ledger.domain.journal import JournalDraft

CHAIN_LOCK = 0x6C65_6467_6572_0001  # "ledger" + 1: the one lock every journal append takes

JOURNAL_COLUMNS = (
    "id", "seq", "tenant_id", "posted_at", "original_date", "source_event_id", "source_type",
    "kind", "actor", "reason", "memo", "reverses", "prev_hash", "hash",
)  # fmt: skip
POSTING_COLUMNS = (
    "transaction_id", "line", "seq", "tenant_id", "account_id", "currency", "amount",
    "posted_at", "external_ref",
)  # fmt: skip


class ClosedPeriod(Exception):
    """A staff posting dated inside a closed period."""


class AlreadyReversed(Exception):
    """A reversal of a transaction that has been reversed already (checked under the lock,
    so two concurrent reversals cannot both pass)."""


@dataclass(frozen=True, slots=True)
class Posted:
    id: UUID
    seq: int
    source_event_id: UUID
    posted_at: datetime
    duplicate: bool = False


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


async def lock_chain(pg: asyncpg.Connection) -> None:
    await pg.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)


async def closed_through(pg: asyncpg.Connection, tenants: Sequence[str]) -> dict[str, datetime]:
    rows = await pg.fetch(
        "SELECT tenant_id, max(closed_through) AS upto FROM period_closes"
        " WHERE tenant_id = ANY($1::text[]) GROUP BY tenant_id",
        list(tenants),
    )
    return {r["tenant_id"]: r["upto"] for r in rows}


async def post_batch(conn: AsyncConnection, drafts: Sequence[JournalDraft]) -> list[Posted]:
    """Append ``drafts`` (in order) to the journal inside ``conn``'s transaction.

    Drafts whose source event is already in the journal are skipped (reported as duplicate).
    Late event drafts dated in a closed period move to the start of the open period and keep
    their date as ``original_date``; a staff draft dated there raises ``ClosedPeriod``.
    """
    if not drafts:
        return []
    pg = await driver(conn)
    await lock_chain(pg)
    known = await pg.fetch(
        "SELECT id, seq, source_event_id, posted_at FROM journal_transactions"
        " WHERE source_event_id = ANY($1::uuid[])",
        [d.source_event_id for d in drafts],
    )
    done = {
        r["source_event_id"]: Posted(r["id"], r["seq"], r["source_event_id"], r["posted_at"], True)
        for r in known
    }
    closes = await closed_through(pg, sorted({d.tenant_id for d in drafts}))
    reversing = [d.reverses for d in drafts if d.reverses is not None]
    if reversing and await pg.fetchval(
        "SELECT count(*) FROM journal_transactions WHERE reverses = ANY($1::uuid[])", reversing
    ):
        raise AlreadyReversed("this transaction has been reversed already")
    fresh: list[JournalDraft] = []
    taken = set(done)
    for draft in drafts:
        if draft.source_event_id in taken:
            continue
        taken.add(draft.source_event_id)
        upto = closes.get(draft.tenant_id)
        if upto is not None and draft.posted_at < upto:
            if draft.kind != "event":
                raise ClosedPeriod(f"{draft.posted_at} is in a period closed through {upto}")
            draft = draft.moved_to(upto)
        fresh.append(draft)
    if fresh:
        for p in await _append(pg, fresh):
            done[p.source_event_id] = p
    return [done[d.source_event_id] for d in drafts]


async def _append(pg: asyncpg.Connection, drafts: Sequence[JournalDraft]) -> list[Posted]:
    keys: list[AccountKey] = [
        (d.tenant_id, ln.code, ln.currency, ln.subledger) for d in drafts for ln in d.lines
    ]
    ids = await account_ids(pg, keys)
    head = await pg.fetchrow("SELECT seq, hash FROM journal_transactions ORDER BY seq DESC LIMIT 1")
    seq, prev = (head["seq"], head["hash"]) if head else (0, GENESIS)
    journal_rows, posting_rows, posted = [], [], []
    for d in drafts:
        seq += 1
        digest = link_bytes(prev, canonical_of(
            d.id, seq, d.tenant_id, d.posted_at, d.original_date, d.source_event_id,
            d.source_type, d.kind, d.actor, d.reason, d.memo, d.reverses, d.lines,
        ))  # fmt: skip
        journal_rows.append(
            (d.id, seq, d.tenant_id, d.posted_at, d.original_date, d.source_event_id,
             d.source_type, d.kind, d.actor, d.reason, d.memo, d.reverses, prev, digest)
        )  # fmt: skip
        for n, ln in enumerate(d.lines, start=1):
            account_id = ids[(d.tenant_id, ln.code, ln.currency, ln.subledger)]
            posting_rows.append(
                (d.id, n, seq, d.tenant_id, account_id, ln.currency, ln.amount, d.posted_at, ln.external_ref)
            )  # fmt: skip
        posted.append(Posted(d.id, seq, d.source_event_id, d.posted_at))
        prev = digest
    await pg.copy_records_to_table(
        "journal_transactions", records=journal_rows, columns=JOURNAL_COLUMNS
    )
    await pg.copy_records_to_table("postings", records=posting_rows, columns=POSTING_COLUMNS)
    return posted
