"""Reconciliation of a million Stripe balance transactions against the ledger, actually run.

A throw-away ledger database (``tradeflow_bench_<run>_ledger``) is given ``RECON_BENCH_LINES``
(1,000,000) card charges through the consumer's batch handler (``post_events``: one
Stripe-clearing posting per charge, its charge id as external ref), every 200th left out so
that Stripe holds some the ledger does not. Then the very service call the API and
``tradeflow ledger reconcile`` make, ``services.ledger.service_layer.commands.reconcile``, runs on
``RECON_BENCH_LINES`` balance transactions (one per charge, every 100th with another amount):
staged with COPY, matched in one statement, folded into breaks, committed. Timed: the whole
run, from the first line staged to the commit.

Baseline, same run, once before and once after (averaged): the plain SQL a person would
write, COPY the same lines into a bare unlogged table and FULL JOIN its sums per source with
the Stripe-clearing postings' sums per external ref, counted by outcome, in one transaction.
The ratio is what the product adds to that (deduplication of repeated lines, the three-way
escrow check, the breaks kept across runs).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.ledger_bench import _drop
from bench.results import Figure
from services.ledger.adapters.posting import driver
from services.ledger.adapters.recon import STRIPE_COLUMNS
from services.ledger.adapters.stripe_source import StripeLine
from services.ledger.entrypoints.consumers import post_events
from services.ledger.service_layer.commands import Caller, reconcile
from services.ledger.service_layer.unit_of_work import NO_EVENTS, LedgerUnitOfWork
from shared.db import make_engine
from shared.events import Envelope
from shared.events.escrow import Funded
from shared.migrations import upgrade
from shared.settings import Settings

TENANT = "bench-recon"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
AMOUNT = 100_000
PLAIN_JOIN = """
WITH ledger AS (
    SELECT p.external_ref AS object_id, p.currency, sum(p.amount) AS amount
    FROM accounts a JOIN postings p ON p.account_id = a.id
    WHERE a.tenant_id = $1 AND a.code = 'stripe_clearing' GROUP BY 1, 2
), stripe AS (
    SELECT source_id AS object_id, currency, sum(amount) AS amount
    FROM bare_stripe_lines GROUP BY 1, 2
)
SELECT CASE WHEN l.object_id IS NULL THEN 'missing_in_ledger'
            WHEN s.object_id IS NULL THEN 'missing_in_stripe'
            WHEN l.amount <> s.amount THEN 'amount_mismatch' ELSE 'matched' END AS kind,
       count(*) AS n
FROM ledger l FULL JOIN stripe s ON s.object_id = l.object_id AND s.currency = l.currency
GROUP BY 1
"""


def charges(n: int) -> Iterator[Envelope]:
    for i in range(n):
        if i % 200 == 0:
            continue  # in Stripe, not in the ledger
        order = f"o{i}"
        yield Envelope.wrap(
            Funded(order_id=order, payment_id=f"p{i}", amount=AMOUNT, currency="USD",
                   method="stripe", stripe_payment_intent_id=f"pi_{i}", stripe_charge_id=f"ch_{i}",
                   funded_total=AMOUNT, held_after=AMOUNT, fully_funded=True),
            source="escrow", tenant_id=TENANT, subject=order,
            occurred_at=T0 + timedelta(seconds=i),
        )  # fmt: skip


def stripe_lines(n: int) -> list[StripeLine]:
    return [
        StripeLine(
            f"txn_{i}", f"ch_{i}", "charge", "USD", AMOUNT - (i % 100 == 1), 0, T0, tenant_id=TENANT
        )  # its charge's metadata names the tenant, as escrow sets it
        for i in range(n)
    ]


async def book(engine: AsyncEngine, n: int, batch: int) -> float:
    started, chunk = time.perf_counter(), []
    for env in charges(n):
        chunk.append(env)
        if len(chunk) == batch:
            async with engine.begin() as conn:
                await post_events(conn, chunk)
            chunk = []
    if chunk:
        async with engine.begin() as conn:
            await post_events(conn, chunk)
    return time.perf_counter() - started


async def plain_join_seconds(
    engine: AsyncEngine, lines: list[StripeLine]
) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    async with engine.begin() as conn:
        pg = await driver(conn)
        await pg.execute(
            "CREATE TEMP TABLE bare_stripe_lines (LIKE stripe_lines INCLUDING DEFAULTS)"
            " ON COMMIT DROP"
        )
        await pg.copy_records_to_table(
            "bare_stripe_lines", records=[(0, *ln) for ln in lines], columns=STRIPE_COLUMNS
        )
        counts = {r["kind"]: r["n"] for r in await pg.fetch(PLAIN_JOIN, TENANT)}
    return time.perf_counter() - started, counts


async def main() -> list[Figure]:
    n = int(os.environ.get("RECON_BENCH_LINES", "1000000"))
    batch = int(os.environ.get("RECON_BENCH_BOOK_BATCH", "10000"))
    settings = Settings(
        environment="development", database_prefix=f"tradeflow_bench_{uuid.uuid4().hex[:6]}_"
    )
    await _drop(settings)
    engine = make_engine(await asyncio.to_thread(upgrade, "ledger", settings))
    try:
        booked = await book(engine, n, batch)
        lines = stripe_lines(n)
        before, plain_counts = await plain_join_seconds(engine, lines)
        started = time.perf_counter()
        result = await reconcile(
            LedgerUnitOfWork(engine, NO_EVENTS),
            Caller(TENANT, "bench"),
            source="bench",
            lines=lines,
            now=datetime.now(UTC),
        )
        took = time.perf_counter() - started
        after, _ = await plain_join_seconds(engine, lines)
    finally:
        await engine.dispose()
        try:  # an autovacuum worker on the million fresh rows can hold the database a while
            await _drop(settings)
        except asyncpg.InsufficientPrivilegeError as exc:
            print(f"reconcile_1m: database {settings.database_prefix}ledger left behind: {exc}")
    plain = (before + after) / 2
    print(f"reconcile_1m: {n:,} Stripe lines against {n - n // 200:,} booked charges"
          f" (booked in {booked:.0f}s): {took:.1f}s = {n / took:,.0f} lines/s (target < 30 s);"
          f" {result.counts}")  # fmt: skip
    print(f"  plain COPY + SQL join of the same lines: {plain:.1f}s ({plain_counts});"
          f" a run takes {took / plain:.1f}x")  # fmt: skip
    return [
        Figure("reconcile_1m", took, "s", "plain COPY + SQL join", plain, target="< 30",
               note=f"{n:,} lines, {n / took:,.0f} lines/s",
               details={"lines": n, "counts": result.counts, "plain_counts": plain_counts,
                        "booking_seconds": round(booked, 1)}),
    ]  # fmt: skip
