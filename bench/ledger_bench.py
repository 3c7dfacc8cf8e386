"""Ledger benchmarks: batch posting throughput and reconciliation of many Stripe lines.

Runs against a throw-away database ``<prefix>bench_ledger`` on the configured server.
Sizes: LEDGER_BENCH_TX (default 50,000 journal transactions), LEDGER_BENCH_BATCH (5,000
events per database transaction), LEDGER_BENCH_RECON (200,000 Stripe lines).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import make_url

from services.ledger.adapters.stripe_source import StripeLine
from services.ledger.entrypoints.consumer import post_events
from services.ledger.reconciliation import reconcile
from shared.db import asyncpg_dsn, make_engine
from shared.events import Envelope
from shared.events.escrow import Funded, MilestoneReleased
from shared.migrations import upgrade
from shared.settings import Settings

TENANT = "bench"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


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
            MilestoneReleased(order_id=order, milestone_id="m1", currency="USD", gross=100_000,
                              platform_fee=2_000, lien_repayment=0, supplier_net=98_000,
                              advance_id=None, stripe_transfer_id=f"tr_{i}", held_after=0),
            source="escrow", tenant_id=TENANT, subject=order, occurred_at=at))  # fmt: skip
    return out


async def _drop(settings: Settings) -> None:
    url = make_url(settings.service_database_url("ledger"))
    admin = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await admin.close()


async def main() -> None:
    n = int(os.environ.get("LEDGER_BENCH_TX", "50000"))
    batch = int(os.environ.get("LEDGER_BENCH_BATCH", "5000"))
    recon_rows = int(os.environ.get("LEDGER_BENCH_RECON", "200000"))
    settings = Settings(database_prefix=f"tradeflow_bench_{uuid.uuid4().hex[:6]}_")
    await _drop(settings)
    await asyncio.to_thread(upgrade, "ledger", settings)
    engine = make_engine(settings.service_database_url("ledger"))
    try:
        stream = events(n)
        started = time.perf_counter()
        for lo in range(0, len(stream), batch):
            async with engine.begin() as conn:
                await post_events(conn, stream[lo : lo + batch])
        took = time.perf_counter() - started
        postings = sum(2 if e.type == "escrow.funded" else 5 for e in stream)
        print(f"ledger posting: {len(stream)} transactions ({postings} postings) in {took:.2f}s"
              f" = {len(stream) / took:,.0f} tx/s, {postings / took:,.0f} postings/s"
              f" (batches of {batch}; target >= 10,000 tx/s)")  # fmt: skip

        lines = [
            StripeLine(
                f"txn_{i}", f"ch_{i}", "charge", "USD", 100_000 if i % 100 else 99_999, 0, T0
            )
            for i in range(recon_rows)
        ]
        started = time.perf_counter()
        result = await reconcile(
            engine, TENANT, source="bench", lines=lines, actor="bench", now=datetime.now(UTC)
        )
        took = time.perf_counter() - started
        print(f"reconciliation: {recon_rows:,} Stripe lines vs {n // 2:,} charges in {took:.2f}s"
              f" = {recon_rows / took:,.0f} lines/s; extrapolated 1,000,000 lines:"
              f" {1_000_000 / recon_rows * took:.1f}s (target < 30s); {result.counts}")  # fmt: skip
    finally:
        await engine.dispose()
        await _drop(settings)
