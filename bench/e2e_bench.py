"""End to end: from a buyer's acceptance over HTTP to its journal transaction in the ledger.

All twelve processes run as the product runs them (bench/stack.py: api, relay, consume,
timers of escrow, ledger and financing; the escrow API with one worker per core). Escrows
are offered over HTTP at ``E2E_BENCH_RATE`` per second (200) for ``E2E_BENCH_SECONDS``
(60), open loop: a create is sent on schedule whether or not the last ones answered (at most
``E2E_BENCH_IN_FLIGHT``, 512, outstanding; one due beyond that is counted as not sent).
Every ``E2E_BENCH_ACCEPT_EVERY``-th escrow (10) is then funded by a wire confirmation and
its one milestone accepted by the buyer: the release is paid inline (Stripe transfer on
stripe-mock) and its ``escrow.milestone_released`` event goes outbox → relay → Kafka →
ledger consumer → journal. The latency measured is from sending the acceptance to the
journal transaction of that event (``source_event_id`` = the payout id the acceptance
answered) being visible in the ledger database, which a watcher polls every 5 ms: an upper
bound of the commit time by at most the poll interval.

Baseline, same run: the acceptance request's own HTTP latency (its answer comes once the
release is reserved and the transfer made); the ratio is what the asynchronous path adds.
Also returned: the peak RSS of every process (for the ``memory`` figure) and its CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
import asyncpg

from bench import load
from bench.results import Figure
from bench.stack import BenchStack
from shared.db import asyncpg_dsn
from shared.settings import SERVICES

TENANT = "bench-e2e"
ROLES = ("api", "relay", "consume", "timers")
POLL_SECONDS = 0.005
TOTAL = 1_000_000


def order() -> dict[str, Any]:
    return {
        "buyer_id": "buyer-rotterdam",
        "supplier_id": "supplier-shenzhen",
        "supplier_account_id": "acct_1BenchSupplier",
        "currency": "USD",
        "total": TOTAL,
        # No evidence needed, a window no timer reaches during the run: the buyer accepts.
        "milestones": [
            {"name": "On contract", "amount": TOTAL, "kind": "contract",
             "inspection_window_seconds": 86_400},
        ],
    }  # fmt: skip


class Run:
    def __init__(self, keys: dict[str, dict[str, str]]) -> None:
        self.keys = keys
        self.creates = load.Sample()
        self.accepts = load.Sample()
        self.failures: Counter[str] = Counter()
        self.not_sent = 0
        self.pending: dict[uuid.UUID, float] = {}  # payout id -> when its acceptance was sent
        self.e2e: list[float] = []

    async def call(
        self, client: aiohttp.ClientSession, what: str, path: str, scope: str, body: Any
    ) -> tuple[int, Any, float]:
        headers = {**self.keys[scope], "Idempotency-Key": str(uuid.uuid4())}
        started = time.perf_counter()
        async with client.post(path, json=body, headers=headers) as r:
            raw, status = await r.read(), r.status
        try:
            payload = json.loads(raw)
        except ValueError:
            payload, status = {}, status if status >= 400 else 0
        if status not in (200, 201):
            self.failures[f"{what} {status}"] += 1
        return status, payload, started

    async def trade(self, client: aiohttp.ClientSession, accept: bool) -> None:
        try:
            status, created, started = await self.call(
                client, "create", "/v1/orders", "platform", order()
            )
            self.creates.latencies.append(time.perf_counter() - started)
            self.creates.statuses[status] += 1
            if status != 201 or not accept:
                return
            oid = created["order_id"]
            mid = created["milestones"][0]["milestone_id"]
            wire = {"amount": TOTAL, "reference": f"wire-{oid}"}
            status, _, _ = await self.call(
                client, "wire", f"/v1/orders/{oid}/wire-confirmations", "finance", wire
            )
            if status != 201:
                return
            status, accepted, started = await self.call(
                client, "accept", f"/v1/orders/{oid}/milestones/{mid}/accept", "platform", {}
            )
            self.accepts.latencies.append(time.perf_counter() - started)
            self.accepts.statuses[status] += 1
            for payout in accepted.get("payouts", []) if status == 200 else []:
                if payout["milestone_id"] == mid:
                    self.pending[uuid.UUID(payout["payout_id"])] = started
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.failures[type(exc).__name__] += 1

    async def offer(
        self, client: aiohttp.ClientSession, rate: float, seconds: float, every: int, cap: int
    ) -> None:
        tasks: set[asyncio.Task[None]] = set()
        started = time.perf_counter()
        i = 0
        while (due := started + i / rate) < started + seconds:
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            i += 1
            if len(tasks) >= cap:
                self.not_sent += 1
                continue
            task = asyncio.create_task(self.trade(client, accept=i % every == 0))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        self.creates.seconds = time.perf_counter() - started
        await asyncio.gather(*tasks)

    async def watch(self, dsn: str, done: asyncio.Event) -> None:
        """Poll the ledger for the journal transactions of the pending releases."""
        conn = await asyncpg.connect(dsn)
        try:
            while not (done.is_set() and not self.pending):
                if self.pending:
                    rows = await conn.fetch(
                        "SELECT source_event_id FROM journal_transactions"
                        " WHERE source_event_id = ANY($1::uuid[])",
                        list(self.pending),
                    )
                    seen = time.perf_counter()
                    for row in rows:
                        sent = self.pending.pop(row["source_event_id"], None)
                        if sent is not None:
                            self.e2e.append(seen - sent)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await conn.close()


def percentile(values: list[float], q: float) -> float:
    return load.Sample(latencies=values).percentile(q)


async def main() -> tuple[list[Figure], dict[str, int], dict[str, int]]:
    """The figures, and each process's peak RSS: under the load, and idle after start."""
    rate = float(os.environ.get("E2E_BENCH_RATE", "200"))
    seconds = float(os.environ.get("E2E_BENCH_SECONDS", "60"))
    every = int(os.environ.get("E2E_BENCH_ACCEPT_EVERY", "10"))
    cap = int(os.environ.get("E2E_BENCH_IN_FLIGHT", "512"))
    drain = float(os.environ.get("E2E_BENCH_DRAIN_SECONDS", "60"))
    workers = int(os.environ.get("BENCH_API_WORKERS", "0")) or os.cpu_count() or 1
    stack = BenchStack()
    await stack.prepare(SERVICES)
    try:
        keys = {s: await stack.api_key(TENANT, s) for s in ("platform", "finance")}
        for service in SERVICES:
            for role in ROLES:
                extra = ("--workers", str(workers)) if (service, role) == ("escrow", "api") else ()
                stack.start(service, role, *extra)
        for service in SERVICES:
            await stack.wait_ready(service)
        await asyncio.sleep(5)  # consumers join their groups
        idle = stack.peak_rss()
        cpu_before = {n: stack.cpu_seconds([n]) for n in stack.processes()}
        run, done = Run(keys), asyncio.Event()
        dsn = asyncpg_dsn(stack.settings.service_database_url("ledger"))
        watcher = asyncio.create_task(run.watch(dsn, done))
        async with load.session(stack.url("escrow"), cap) as client:
            await run.offer(client, rate, seconds, every, cap)
        done.set()
        try:
            await asyncio.wait_for(watcher, timeout=drain)
        except TimeoutError:
            run.failures["not in the ledger within the drain"] += len(run.pending)
        peaks = stack.peak_rss()
        cpu = {n: round(stack.cpu_seconds([n]) - b, 1) for n, b in cpu_before.items()}
    finally:
        stack.stop()
        await stack.drop()
    p50, p99 = percentile(run.e2e, 50) * 1000, percentile(run.e2e, 99) * 1000
    accept_p99 = run.accepts.percentile(99) * 1000
    details = {
        "offered_rate": rate,
        "seconds": seconds,
        "creates": run.creates.summary(),
        "accepts": run.accepts.summary(),
        "measured": len(run.e2e),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "not_sent_over_in_flight_cap": run.not_sent,
        "failures": dict(run.failures),
        "cpu_seconds": cpu,
        "api_workers": workers,
    }
    print(f"e2e_latency: {rate:.0f} escrows/s offered for {seconds:.0f}s"
          f" ({run.creates.rate:,.0f}/s created, p99 {run.creates.percentile(99) * 1000:.0f} ms);"
          f" {len(run.e2e):,} acceptances -> journal: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
          f" (acceptance answer p99 {accept_p99:.1f} ms); failures {dict(run.failures)}")  # fmt: skip
    return [
        Figure("e2e_latency", p99, "ms p99", "acceptance answer p99", accept_p99,
               target="< 100", note=f"p50 {p50:.1f} ms; {len(run.e2e)} releases", details=details),
        Figure("e2e_latency_p50", p50, "ms", "acceptance answer p50",
               run.accepts.percentile(50) * 1000),
    ], peaks, idle  # fmt: skip
