"""Ledger benchmarks: batch posting throughput and reconciliation of many Stripe lines.

Runs against a throw-away database ``<prefix>bench_ledger`` on the configured server.
Sizes: LEDGER_BENCH_TX (default 50,000 journal transactions), LEDGER_BENCH_BATCH (5,000
events per database transaction), LEDGER_BENCH_RECON (200,000 Stripe lines).

The machine may be shared and noisy, so every figure comes with a baseline measured in
the same run, interleaved batch by batch: the same rows written by a plain COPY into bare
tables (no index, trigger or constraint) and committed. The ratio says what the ledger's
guarantees cost over the cheapest possible write; the Python planning time (parsing,
posting rules, hash chain) says how much of the posting time is not the database's.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.results import Figure
from services.ledger.adapters.posting import JOURNAL_COLUMNS, POSTING_COLUMNS, driver
from services.ledger.adapters.recon import STRIPE_COLUMNS
from services.ledger.adapters.stripe_source import StripeLine
from services.ledger.domain.chain import GENESIS, canonical_of, link_bytes
from services.ledger.entrypoints.consumers import post_events
from services.ledger.service_layer.commands import Caller, reconcile
from services.ledger.service_layer.events import plan
from services.ledger.service_layer.unit_of_work import NO_EVENTS, LedgerUnitOfWork
from shared.db import asyncpg_dsn, make_engine
from shared.events import Envelope
from shared.events.escrow import Funded, MilestoneReleased
from shared.migrations import upgrade
from shared.settings import Settings

TENANT = "bench"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BARE = (
    "CREATE UNLOGGED TABLE bare_stripe_lines (LIKE stripe_lines INCLUDING DEFAULTS)",
    "CREATE TABLE bare_journal (LIKE journal_transactions INCLUDING DEFAULTS)",
    "CREATE TABLE bare_postings (LIKE postings INCLUDING DEFAULTS)",
)


def events(n: int) -> list[Envelope]:
    """n money events: each order funded once, then released with fee and transfer."""
    out: list[Envelope] = []
    for i in range(n // 2):
        order, at = f"o{i}", T0 + timedelta(seconds=i)
        out.append(Envelope.wrap(
            Funded(order_id=order, payment_id=f"p{i}", amount=100_000, currency="USD",
                   method="stripe", stripe_payment_intent_id=f"pi_{i}", stripe_charge_id=f"ch_{i}",
                   funded_total=100_000, held_after=100_000, fully_funded=True),
            source="escrow", tenant_id=TENANT, subject=order, occurred_at=at))  # fmt: skip
        out.append(Envelope.wrap(
            MilestoneReleased(order_id=order, milestone_id="m1", payout_id=f"po{i}",
                              currency="USD", gross=100_000,
                              platform_fee=2_000, lien_repayment=0, supplier_net=98_000,
                              advance_id=None, stripe_transfer_id=f"tr_{i}", held_after=0),
            source="escrow", tenant_id=TENANT, subject=order, occurred_at=at))  # fmt: skip
    return out


def plan_seconds(batch: Sequence[Envelope]) -> float:
    """The Python side of posting a batch alone: parse, posting rules, hash chain."""
    started = time.perf_counter()
    drafts, _ = plan(batch)
    prev = GENESIS
    for seq, d in enumerate(drafts, start=1):
        prev = link_bytes(prev, canonical_of(
            d.id, seq, d.tenant_id, d.posted_at, d.original_date, d.source_event_id,
            d.source_type, d.kind, d.actor, d.reason, d.memo, d.reverses, d.lines,
        ))  # fmt: skip
    return time.perf_counter() - started


async def plain_copy_seconds(engine: AsyncEngine, first_seq: int, last_seq: int) -> float:
    """The batch's journal rows and postings, read back, then COPYed into bare tables."""
    async with engine.connect() as conn:
        pg = await driver(conn)
        window = "WHERE seq BETWEEN $1 AND $2"
        journal = await pg.fetch(
            f"SELECT {', '.join(JOURNAL_COLUMNS)} FROM journal_transactions {window}",
            first_seq,
            last_seq,
        )
        postings = await pg.fetch(
            f"SELECT {', '.join(POSTING_COLUMNS)} FROM postings {window}", first_seq, last_seq
        )
    started = time.perf_counter()
    async with engine.begin() as conn:
        pg = await driver(conn)
        await pg.copy_records_to_table("bare_journal", records=journal, columns=JOURNAL_COLUMNS)
        await pg.copy_records_to_table("bare_postings", records=postings, columns=POSTING_COLUMNS)
    return time.perf_counter() - started


async def head_seq(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        pg = await driver(conn)
        return int(await pg.fetchval("SELECT coalesce(max(seq), 0) FROM journal_transactions"))


async def bench_posting(engine: AsyncEngine, n: int, batch: int) -> list[Figure]:
    stream = events(n)
    ledger = plain = planning = 0.0
    for lo in range(0, len(stream), batch):
        chunk = stream[lo : lo + batch]
        first = await head_seq(engine) + 1
        started = time.perf_counter()
        async with engine.begin() as conn:
            await post_events(conn, chunk)
        ledger += time.perf_counter() - started
        plain += await plain_copy_seconds(engine, first, await head_seq(engine))
        planning += plan_seconds(chunk)
    txs = len(stream)
    postings = sum(2 if e.type == "escrow.funded" else 5 for e in stream)
    print(f"ledger posting: {txs:,} transactions ({postings:,} postings), batches of {batch:,}:"
          f" {txs / ledger:,.0f} tx/s, {postings / ledger:,.0f} postings/s"
          f" (target >= 10,000 tx/s)")  # fmt: skip
    print(f"  plain COPY of the same rows into bare tables: {txs / plain:,.0f} tx/s;"
          f" the ledger takes {ledger / plain:.1f}x a plain COPY")  # fmt: skip
    print(f"  Python planning alone (parse, posting rules, hash chain): {txs / planning:,.0f}"
          f" tx/s = {planning / ledger:.0%} of the posting time")  # fmt: skip
    return [
        Figure("ledger_post_batch (no Kafka, no inbox)", txs / ledger, "tx/s", "plain COPY",
               txs / plain, note=f"batches of {batch}; Python planning {planning / ledger:.0%}"),
    ]  # fmt: skip


async def plain_stage_seconds(engine: AsyncEngine, lines: list[StripeLine]) -> float:
    started = time.perf_counter()
    async with engine.begin() as conn:
        pg = await driver(conn)
        await pg.copy_records_to_table(
            "bare_stripe_lines", records=[(0, *ln) for ln in lines], columns=STRIPE_COLUMNS
        )
    return time.perf_counter() - started


async def bench_reconciliation(engine: AsyncEngine, rows: int, charges: int) -> list[Figure]:
    lines = [
        StripeLine(
            f"txn_{i}",
            f"ch_{i}",
            "charge",
            "USD",
            100_000 if i % 100 else 99_999,
            0,
            T0,
            tenant_id=TENANT,
        )  # its charge's metadata names the tenant, as escrow sets it
        for i in range(rows)
    ]
    before = await plain_stage_seconds(engine, lines)
    started = time.perf_counter()
    result = await reconcile(
        LedgerUnitOfWork(engine, NO_EVENTS),
        Caller(TENANT, "bench"),
        source="bench",
        lines=lines,
        now=datetime.now(UTC),
    )
    took = time.perf_counter() - started
    plain = (before + await plain_stage_seconds(engine, lines)) / 2
    print(f"reconciliation: {rows:,} Stripe lines vs {charges:,} charges in {took:.2f}s"
          f" = {rows / took:,.0f} lines/s; extrapolated 1,000,000 lines:"
          f" {1_000_000 / rows * took:.1f}s (target < 30s)")  # fmt: skip
    print(f"  plain COPY of the same lines: {rows / plain:,.0f} lines/s; a run takes"
          f" {took / plain:.1f}x a plain COPY; {result.counts}")  # fmt: skip
    return [Figure("reconcile", rows / took, "lines/s", "plain COPY", rows / plain,
                   note=f"{rows:,} lines in {took:.1f}s")]  # fmt: skip


async def _drop(settings: Settings) -> None:
    url = make_url(settings.service_database_url("ledger"))
    admin = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        for attempt in range(10):  # an autovacuum worker on the fresh rows can hold it a moment
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                if attempt == 9:
                    raise
                await asyncio.sleep(1)
    finally:
        await admin.close()


async def main() -> list[Figure]:
    n = int(os.environ.get("LEDGER_BENCH_TX", "50000"))
    batch = int(os.environ.get("LEDGER_BENCH_BATCH", "5000"))
    recon_rows = int(os.environ.get("LEDGER_BENCH_RECON", "200000"))
    # A throw-away database and no secrets used: development settings whatever the shell says.
    settings = Settings(
        environment="development", database_prefix=f"tradeflow_bench_{uuid.uuid4().hex[:6]}_"
    )
    await _drop(settings)
    await asyncio.to_thread(upgrade, "ledger", settings)
    engine = make_engine(settings.service_database_url("ledger"))
    try:
        async with engine.begin() as conn:
            pg = await driver(conn)
            for statement in BARE:
                await pg.execute(statement)
        figures = await bench_posting(engine, n, batch)
        figures += await bench_reconciliation(engine, recon_rows, n // 2)
        return figures
    finally:
        await engine.dispose()
        await _drop(settings)
