"""Reconciliation in set-based SQL: stage Stripe lines with COPY, match them against the
Stripe-clearing postings in one statement, fold the differences into breaks kept across runs.

Matching key: the Stripe object id (charge, refund, transfer, ...) and currency. The ledger
side is the sum of the Stripe-clearing postings that events booked carrying that id as
external ref, dated in the run's window; the Stripe side the sum of the gross amounts of the
balance transactions whose source it is, of the types events book. What the run booked from
Stripe itself (fees, payouts, adjustments, reserves: ``domain/stripe_books.py``) is on both
sides by construction and left out of the match; it is in the balance check
(``adapters/stripe_books.py``). Same key, same amount: matched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.posting import driver
from services.ledger.adapters.tables import recon_breaks, recon_runs
from services.ledger.adapters.three_way import three_way
from services.ledger.domain.recon import (
    DEFAULT_OWNER,
    STRIPE_KINDS,
    THREE_WAY_KINDS,
    BreakKind,
    ClearingBalance,
    EscrowHeld,
    RunWindow,
    StripeLine,
)
from services.ledger.domain.stripe_books import SELF_BOOKED
from shared import pagination
from shared.pagination import InvalidCursor, Page

COPY_CHUNK = 50_000
STRIPE_COLUMNS = ("run_id", *StripeLine._fields)

_STRIPE_RESULTS = """
CREATE TEMP TABLE recon_result ON COMMIT DROP AS
WITH ledger AS (
    SELECT p.external_ref AS object_id, p.currency, sum(p.amount)::bigint AS amount,
           max(p.posted_at) AS at
    FROM accounts a JOIN postings p ON p.account_id = a.id
    JOIN journal_transactions j ON j.id = p.transaction_id
    WHERE a.tenant_id = $1 AND a.code = 'stripe_clearing' AND p.external_ref IS NOT NULL
      AND j.source_type NOT LIKE 'stripe.%'
      AND p.posted_at >= coalesce($3::timestamptz, '-infinity')
      AND p.posted_at < coalesce($4::timestamptz, 'infinity')
    GROUP BY p.external_ref, p.currency
    -- an object Stripe converted: its settlement moved it out of the currency it was booked
    -- in (domain/fx.py), where nothing is left to match
    HAVING sum(p.amount) <> 0 OR NOT bool_or(j.source_type = 'fx.settlement')
), stripe AS (
    SELECT source_id AS object_id, currency, sum(amount)::bigint AS amount, max(created) AS at
    FROM stripe_lines WHERE run_id = $2 AND type <> ALL($5::text[]) GROUP BY source_id, currency
)
SELECT coalesce(l.object_id, s.object_id) AS object_id, coalesce(l.currency, s.currency) AS currency,
       l.amount AS ledger_amount, s.amount AS other_amount,
       CASE WHEN l.object_id IS NULL THEN 'missing_in_ledger'
            WHEN s.object_id IS NULL THEN 'missing_in_stripe'
            WHEN abs(l.amount - s.amount) > coalesce(r.amount_tolerance, 0) THEN 'amount_mismatch'
            WHEN r.date_window_days IS NOT NULL
                 AND abs(extract(epoch FROM s.at - l.at)) > r.date_window_days * 86400.0
                 THEN 'date_mismatch'
            ELSE 'matched' END AS kind
FROM ledger l FULL JOIN stripe s ON s.object_id = l.object_id AND s.currency = l.currency
LEFT JOIN recon_match_rules r                     -- the tenant's rules (domain/breaks.py)
  ON r.tenant_id = $1 AND r.currency = coalesce(l.currency, s.currency)
"""
_ESCROW_RESULTS = """
INSERT INTO recon_result (object_id, currency, ledger_amount, other_amount, kind)
SELECT coalesce(l.order_id, r.order_id), coalesce(l.currency, r.currency), l.held,
       r.held_after, 'escrow_held_mismatch'
FROM (
    SELECT a.subledger AS order_id, a.currency, -sum(p.amount)::bigint AS held
    FROM accounts a JOIN postings p ON p.account_id = a.id
    WHERE a.tenant_id = $1 AND a.code = 'escrow_held' GROUP BY a.subledger, a.currency
) l
FULL JOIN (SELECT order_id, currency, held_after FROM escrow_held_reports WHERE tenant_id = $1) r
  ON r.order_id = l.order_id AND r.currency = l.currency
WHERE coalesce(l.held, 0) <> coalesce(r.held_after, 0)
"""
_FOLD = """
INSERT INTO recon_breaks AS b (tenant_id, kind, object_id, currency, ledger_amount,
    other_amount, owner, first_seen_at, last_seen_at, first_run_id, last_run_id)
SELECT $1, r.kind, r.object_id, r.currency, r.ledger_amount, r.other_amount,
       o.owner, $3, $3, $2, $2
FROM recon_result r JOIN unnest($4::text[], $5::text[]) AS o(kind, owner) ON o.kind = r.kind
ON CONFLICT (tenant_id, kind, object_id, currency) DO UPDATE
SET ledger_amount = excluded.ledger_amount, other_amount = excluded.other_amount,
    last_seen_at = excluded.last_seen_at, last_run_id = excluded.last_run_id,
    status = CASE WHEN b.status = 'cleared' THEN 'open' ELSE b.status END,
    first_seen_at = CASE WHEN b.status = 'cleared' THEN excluded.first_seen_at ELSE b.first_seen_at END
"""
_CLEAR = """
UPDATE recon_breaks SET status = 'cleared'
WHERE tenant_id = $1 AND status = 'open' AND last_run_id <> $2 AND kind = ANY($3::text[])
"""
# A run over part of the time clears only what it saw matched: a break of an object outside
# its window is not evidence either way.
_CLEAR_SEEN = (
    _CLEAR.strip() + " AND (object_id, currency) IN (SELECT object_id, currency FROM recon_result"
    " WHERE kind = 'matched')"
)

Progress = Callable[[int], None]


async def start_run(conn: AsyncConnection, tenant_id: str, source: str, actor: str) -> int:
    q = recon_runs.insert().values(tenant_id=tenant_id, source=source, actor=actor)
    return int((await conn.execute(q.returning(recon_runs.c.id))).scalar_one())


async def stage(
    conn: AsyncConnection,
    run_id: int,
    lines: Iterable[StripeLine],
    progress: Progress | None = None,
) -> int:
    """COPY the Stripe lines of a run into the staging table, in chunks; returns the count.

    A balance transaction is staged once however often it is listed (overlapping report
    exports repeat lines): summing the copies would turn a match into a false mismatch.
    """
    pg, unique, total = await driver(conn), _first_of_each(lines), 0
    while chunk := [(run_id, *line) for line in islice(unique, COPY_CHUNK)]:
        await pg.copy_records_to_table("stripe_lines", records=chunk, columns=STRIPE_COLUMNS)
        total += len(chunk)
        if progress:
            progress(len(chunk))
    return total


def _first_of_each(lines: Iterable[StripeLine]) -> Iterator[StripeLine]:
    seen: set[str] = set()
    for line in lines:
        if line.balance_txn_id not in seen:
            seen.add(line.balance_txn_id)
            yield line


async def reconcile(
    conn: AsyncConnection,
    tenant_id: str,
    run_id: int,
    now: datetime,
    *,
    stripe: bool = True,
    window: RunWindow = RunWindow(),
    escrow: Sequence[EscrowHeld] | None = None,
    as_of: datetime | None = None,
) -> dict[str, int]:
    """Match, three-way check (against ``escrow``'s answer as of ``as_of`` when it was
    asked, else against what its events reported), fold into breaks; counts per outcome."""
    pg = await driver(conn)
    if stripe:
        await pg.execute(
            _STRIPE_RESULTS, tenant_id, run_id, window.start, window.end, sorted(SELF_BOOKED)
        )
    else:
        await pg.execute(
            "CREATE TEMP TABLE recon_result (object_id text, currency text, ledger_amount bigint,"
            " other_amount bigint, kind text) ON COMMIT DROP"
        )
    if escrow is None:
        await pg.execute(_ESCROW_RESULTS, tenant_id)
    else:
        await three_way(pg, tenant_id, escrow, as_of or now)
    kinds = [str(k) for k in DEFAULT_OWNER]
    await pg.execute(_FOLD, tenant_id, run_id, now, kinds, list(DEFAULT_OWNER.values()))
    escrow_kinds = [
        BreakKind.ESCROW_HELD_MISMATCH,
        *(THREE_WAY_KINDS if escrow is not None else ()),
    ]
    if window.whole or not stripe:
        await pg.execute(
            _CLEAR, tenant_id, run_id, [*(STRIPE_KINDS if stripe else ()), *escrow_kinds]
        )
    else:
        await pg.execute(_CLEAR, tenant_id, run_id, escrow_kinds)
        await pg.execute(_CLEAR_SEEN, tenant_id, run_id, list(STRIPE_KINDS))
    counts = {k: 0 for k in ("matched", *kinds)}
    for row in await pg.fetch("SELECT kind, count(*) AS n FROM recon_result GROUP BY kind"):
        counts[row["kind"]] = row["n"]
    await pg.execute("DELETE FROM stripe_lines WHERE run_id = $1", run_id)
    await pg.execute("DROP TABLE recon_result")
    await conn.execute(
        recon_runs.update().where(recon_runs.c.id == run_id).values(finished_at=now, **counts)
    )
    return counts


async def finish_run(
    conn: AsyncConnection,
    run_id: int,
    stripe_rows: int,
    booked: int,
    window: RunWindow,
    balances: list[ClearingBalance],
) -> None:
    summary = [
        {"currency": b.currency, "ledger_clearing": b.clearing, "stripe_balance": b.stripe,
         "difference": b.difference}
        for b in balances
    ]  # fmt: skip
    await conn.execute(
        recon_runs.update()
        .where(recon_runs.c.id == run_id)
        .values(
            stripe_rows=stripe_rows,
            booked=booked,
            window_from=window.start,
            window_to=window.end,
            balances=summary,
        )
    )


async def breaks(
    conn: AsyncConnection,
    tenant_id: str,
    status: str | None,
    kind: str | None,
    page: Page,
    *,
    owner: str | None = None,
    seen_at_most: datetime | None = None,
    seen_after: datetime | None = None,
) -> pagination.Window[dict[str, Any]]:
    """Oldest first on (first_seen_at, id); ``starting_after`` a break id of the tenant's,
    else ``InvalidCursor`` (another tenant's break is no cursor of this one's). The cursor
    is a position, so it need not match the filters itself."""
    b = recon_breaks.c
    q = sa.select(recon_breaks).where(b.tenant_id == tenant_id)
    if status:
        q = q.where(b.status == status)
    if kind:
        q = q.where(b.kind == kind)
    if owner:
        q = q.where(b.owner == owner)
    if seen_at_most is not None:
        q = q.where(b.first_seen_at <= seen_at_most)
    if seen_after is not None:
        q = q.where(b.first_seen_at > seen_after)
    if page.starting_after is not None:
        cursor = page.starting_after
        after = None
        if cursor.isdigit() and int(cursor) < 2**63:
            after = (
                await conn.execute(
                    sa.select(b.first_seen_at, b.id).where(
                        b.tenant_id == tenant_id, b.id == int(cursor)
                    )
                )
            ).first()
        if after is None:
            raise InvalidCursor(cursor)
        q = q.where(sa.tuple_(b.first_seen_at, b.id) > (after.first_seen_at, after.id))
    rows = (await conn.execute(q.order_by(b.first_seen_at, b.id).limit(page.fetch))).all()
    return pagination.Window.cut([dict(r._mapping) for r in rows], page)


async def update_break(
    conn: AsyncConnection, tenant_id: str, break_id: int, **values: Any
) -> dict[str, Any] | None:
    q = (
        recon_breaks.update()
        .where(recon_breaks.c.id == break_id, recon_breaks.c.tenant_id == tenant_id)
        .values(**values)
        .returning(*recon_breaks.c)
    )
    row = (await conn.execute(q)).first()
    return dict(row._mapping) if row else None
