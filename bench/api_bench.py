"""HTTP API: escrows created per second over POST /v1/orders, as an integrator creates them.

The escrow API runs as the product runs it, ``tradeflow escrow api --workers N`` (uvicorn
worker processes on one port, N = ``BENCH_API_WORKERS``, default one per core), on a stack
of its own (bench/stack.py); only what the API needs runs beside it (PostgreSQL, Kafka for
its producer), no relay. Every request carries a platform API key (authenticated against
the identity database) and a fresh ``Idempotency-Key``, and creates a 30/40/30 order.

Baseline, same app, same run, phases interleaved (``API_BENCH_ROUNDS`` of each, so the
machine's noise falls on both): ``GET /healthz/live``, which passes the same middleware and
checks nothing. The ratio says what creating an escrow costs over the bare HTTP path.
Reported beside it: the API workers' CPU per created escrow, and the load generator's
(bench/load.py) CPU per request, which shows whether the generator was the bottleneck.

With ``API_BENCH_PROFILE=1`` (default) one more create phase runs under py-spy, sampling
one worker; the raw stacks go to bench/results/profile-escrow-api.txt and the functions
that hold the most samples to profile-escrow-api-top.txt.

Sizes: ``API_BENCH_SECONDS`` (20: measured seconds per kind, split over the rounds),
``API_BENCH_ROUNDS`` (2), ``API_BENCH_CONCURRENCY`` (32 clients).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench import load
from bench.results import RESULTS, Figure
from bench.stack import BenchStack

TENANT = "bench-api"
MILESTONES = [
    {"name": "Deposit", "amount": 3_750_000, "kind": "contract"},
    {"name": "Shipment", "amount": 5_000_000, "kind": "shipment"},
    {"name": "Delivery", "amount": 3_750_000, "kind": "inspection"},
]
ORDER = {
    "buyer_id": "buyer-rotterdam",
    "supplier_id": "supplier-shenzhen",
    "supplier_account_id": "acct_1BenchSupplier",
    "currency": "USD",
    "total": 12_500_000,
    "milestones": MILESTONES,
}


def workers() -> int:
    return int(os.environ.get("BENCH_API_WORKERS", "0")) or os.cpu_count() or 1


def creates(key: dict[str, str]) -> load.Request:
    return ("POST", "/v1/orders", {**key, "Idempotency-Key": str(uuid.uuid4())}, ORDER)


def live() -> load.Request:
    return ("GET", "/healthz/live", {}, None)


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def top_functions(raw: Path, limit: int = 40) -> str:
    """What holds the samples of py-spy's raw (collapsed) stacks: per function, the share
    of samples it is on the stack (inclusive) and on top (self)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(":")[0] + ")" if ":" in f else f for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    rows = [f"{total} samples; inclusive% self%  function (file)"]
    for f, n in inclusive.most_common(limit):
        rows.append(f"{100 * n / total:6.1f} {100 * own[f] / total:6.1f}  {f}")
    rows.append("")
    rows.append("by self time:")
    for f, n in own.most_common(limit):
        rows.append(f"{100 * n / total:6.1f}  {f}")
    return "\n".join(rows) + "\n"


async def profile(stack: BenchStack, key: dict[str, str], concurrency: int, seconds: int) -> str:
    """One more create phase with py-spy on the first worker; returns where it wrote."""
    spy = py_spy()
    procs = stack.processes()
    pid = next((p.pid for n, p in procs.items() if "-worker-" in n), None)
    if spy is None or pid is None:
        return "py-spy not found" if spy is None else "no worker process"
    raw = RESULTS.parent / "profile-escrow-api.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    recorder = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
        "--format", "raw", "--output", str(raw), "--nonblocking",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    async with load.session(stack.url("escrow"), concurrency) as client:
        await load.closed_loop(
            client, lambda: creates(key), concurrency=concurrency, seconds=seconds + 1
        )
    await asyncio.wait_for(recorder.wait(), 30)
    if not raw.exists():
        return "py-spy wrote nothing"
    top = raw.with_name("profile-escrow-api-top.txt")
    top.write_text(top_functions(raw))
    return str(top)


async def measure(
    stack: BenchStack, key: dict[str, str], concurrency: int, seconds: float, rounds: int
) -> tuple[load.Sample, load.Sample, float]:
    """Interleaved phases: live, create, live, create...; returns both samples and the API
    workers' CPU seconds during the create phases."""
    base, made, cpu = load.Sample(), load.Sample(), 0.0
    async with load.session(stack.url("escrow"), concurrency) as client:
        await load.closed_loop(client, lambda: creates(key), concurrency=concurrency, seconds=2)
        for _ in range(rounds):
            phase = seconds / rounds
            base = base.merge(
                await load.closed_loop(client, live, concurrency=concurrency, seconds=phase)
            )
            before = stack.cpu_seconds(["escrow-api-worker"])
            made = made.merge(
                await load.closed_loop(
                    client, lambda: creates(key), concurrency=concurrency, seconds=phase
                )
            )
            cpu += stack.cpu_seconds(["escrow-api-worker"]) - before
    return base, made, cpu


async def main() -> tuple[list[Figure], dict[str, int]]:
    """The figures, and the peak RSS of each API process under this load."""
    seconds = float(os.environ.get("API_BENCH_SECONDS", "20"))
    rounds = int(os.environ.get("API_BENCH_ROUNDS", "2"))
    concurrency = int(os.environ.get("API_BENCH_CONCURRENCY", "32"))
    n = workers()
    stack = BenchStack()
    await stack.prepare(["escrow"])
    try:
        key = await stack.api_key(TENANT, "platform")
        stack.start("escrow", "api", "--workers", str(n))
        await stack.wait_ready("escrow")
        base, made, cpu = await measure(stack, key, concurrency, seconds, rounds)
        peaks = stack.peak_rss()
        where = "no profile"
        if os.environ.get("API_BENCH_PROFILE", "1") == "1":
            where = await profile(stack, key, concurrency, max(5, int(seconds / rounds)))
    finally:
        stack.stop()
        await stack.drop()
    created = made.statuses.get(201, 0)
    created_rate = (
        created / made.seconds if made.seconds else 0.0
    )  # answers other than 201 do not count
    server_ms = cpu / max(created, 1) * 1000
    details: dict[str, Any] = {
        "api_workers": n,
        "cores": os.cpu_count(),
        "concurrency": concurrency,
        "create": made.summary(),
        "live": base.summary(),
        "api_cpu_ms_per_create": round(server_ms, 3),
        "load_generator": "aiohttp, keep-alive, one process (bench/load.py)",
        "profile": where,
    }
    print(f"api_create_escrow: {n} API workers on {os.cpu_count()} cores, {concurrency} clients:"
          f" {created_rate:,.0f} escrows/s ({made.rate:,.0f} answers/s), p50 {made.percentile(50) * 1000:.1f} ms,"
          f" p99 {made.percentile(99) * 1000:.1f} ms; API CPU {server_ms:.2f} ms per escrow;"
          f" generator CPU {details['create']['generator_cpu_ms_per_request']} ms/request")  # fmt: skip
    print(f"  /healthz/live, same app, same run: {base.rate:,.0f} req/s,"
          f" p99 {base.percentile(99) * 1000:.1f} ms; statuses {dict(made.statuses)}")  # fmt: skip
    return [
        Figure("api_create_escrow", created_rate, "req/s", "GET /healthz/live", base.rate,
               target=">= 1500", note=f"{n} workers, {concurrency} clients", details=details),
        Figure("api_create_escrow_p99", made.percentile(99) * 1000, "ms", "live p99",
               base.percentile(99) * 1000, target="< 50", note=f"p50 {made.percentile(50) * 1000:.1f} ms"),
    ], peaks  # fmt: skip
