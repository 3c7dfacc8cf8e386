"""Service layer of a reconciliation run, shared by the API and ``tradeflow ledger reconcile``.

One run is one database transaction: stage the Stripe lines, match, three-way check, fold
into breaks. A run that fails leaves no trace (and the breaks as they were).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters import recon
from services.ledger.adapters.stripe_source import StripeLine, pull_balance_transactions


@dataclass(frozen=True)
class RunResult:
    run_id: int
    stripe_rows: int
    counts: dict[str, int]


async def reconcile(
    engine: AsyncEngine,
    tenant_id: str,
    *,
    source: str,
    lines: Iterable[StripeLine] | None,
    actor: str,
    now: datetime,
    progress: recon.Progress | None = None,
    before_commit: Callable[[RunResult], object] | None = None,
) -> RunResult:
    """Reconcile ``lines`` (or, with None, only the three-way escrow check).

    ``before_commit`` sees the result inside the run's transaction (the API registers its
    answer there, see shared/http/idempotency.py)."""
    async with engine.begin() as conn:
        run_id = await recon.start_run(conn, tenant_id, source, actor)
        staged = await recon.stage(conn, run_id, lines, progress) if lines is not None else 0
        counts = await recon.reconcile(conn, tenant_id, run_id, now, stripe=lines is not None)
        await conn.execute(
            recon.recon_runs.update()
            .where(recon.recon_runs.c.id == run_id)
            .values(stripe_rows=staged)
        )
        result = RunResult(run_id, staged, counts)
        if before_commit is not None:
            before_commit(result)
    return result


async def pull_from_stripe(
    api_key: str, api_base: str, since: datetime | None = None
) -> Iterator[StripeLine]:
    """All balance transactions, fetched in a worker thread (the stripe client is blocking)."""
    lines = await asyncio.to_thread(
        lambda: list(pull_balance_transactions(api_key, api_base, since))
    )
    return iter(lines)
