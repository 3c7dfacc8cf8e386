"""One chaos run, start to finish: stack up, trades and faults at once, quiet, checks, figures."""

from __future__ import annotations

import asyncio
import random
import resource
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.db import make_engine
from shared.identity.keys import create_api_key
from shared.settings import IDENTITY, SERVICES, WEBHOOKS
from tests.chaos import books, delivery, quiet, verify, webhooks
from tests.chaos.client import Observations, Service
from tests.chaos.faults import FaultLog, Injector, plan
from tests.chaos.stack import DB_PREFIX, ROOT, Fleet, Infra, hold_stack, service_env
from tests.chaos.stats import spread
from tests.chaos.trades import (
    FEE_BPS,
    FIXED_FEES,
    SUPPLIERS,
    TOTALS,
    Apis,
    Driver,
    Tenant,
    Trade,
)
from tests.chaos.trades import plan as plan_trade


@dataclass(frozen=True)
class Options:
    trades: int = 200
    concurrency: int = 40
    kills_per_kind: int = 1
    instances: int = 2
    tenants: int = 2
    seed: int | None = None
    step_wait: float = 300.0  # longest wait for one asynchronous step of a trade
    quiet_within: float = 300.0
    check_targets: bool = False  # recovery/latency targets (the full run); correctness always
    faults: bool = True
    cache: Path = ROOT / ".cache" / "chaos"
    keep_up: bool = False


# Issue targets, checked on the full run (a timing target is never a unit-test assertion).
RECOVERY_P99_S = 5.0
RELEASE_LATENCY_P99_S = 2.0


@dataclass
class Report:
    ok: bool
    problems: list[str]
    figures: dict[str, Any] = field(default_factory=dict)


async def make_tenant(env: dict[str, str], n: int) -> Tenant:
    """One tenant's keys, issued in the identity database as the operator's CLI does:
    platform, finance, and a key bound to each of its suppliers."""
    tenant_id = f"chaos-t{n}-{uuid.uuid4().hex[:6]}"
    suppliers = [f"supplier-{n}-{i}" for i in range(SUPPLIERS)]
    url = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DB_PREFIX}{IDENTITY}"
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:

            async def key(scope: str, party: str | None = None) -> dict[str, str]:
                issued = await create_api_key(
                    conn,
                    tenant_id,
                    [scope],
                    f"{tenant_id}-{party or scope}",
                    actor="chaos",
                    party_id=party,
                )
                return {"Authorization": f"Bearer {issued.raw}"}

            platform, finance = await key("platform"), await key("finance")
            bound = {s: await key("supplier", s) for s in suppliers}
    finally:
        await engine.dispose()
    return Tenant(tenant_id, platform, finance, bound)


async def set_policies(apis: Apis, tenant: Tenant) -> None:
    r = await apis.escrow.call(
        "PUT",
        "/v1/fee-policy",
        tenant.finance,
        json={"basis_points": FEE_BPS, "fixed_fees": FIXED_FEES},
    )
    assert r.status_code == 200, r.text
    for currency in TOTALS:
        r = await apis.financing.call(
            "PUT",
            f"/v1/policies/{currency}",
            tenant.finance,
            json={"advance_rate_bps": 8_000, "daily_fee_rate": "0.0005"},
        )
        assert r.status_code == 200, r.text


async def release_latencies(apis: Apis, trades: list[Trade]) -> list[float]:
    """Seconds from an inspection window's end to the release it caused being paid."""
    out: list[float] = []
    for t in trades:
        if not t.lapsed or t.error:
            continue
        order = (
            await apis.escrow.call("GET", f"/v1/orders/{t.order_id}", t.tenant.platform)
        ).json()
        timeline = (
            await apis.escrow.call(
                "GET", f"/v1/orders/{t.order_id}/timeline?limit=100", t.tenant.platform
            )
        ).json()["data"]
        ends = {m["milestone_id"]: m["inspection_ends_at"] for m in order["milestones"]}
        for mid in t.lapsed:
            paid = [
                e
                for e in timeline
                if e["type"] == "escrow.milestone_released" and e["data"].get("milestone_id") == mid
            ]
            if paid and ends.get(mid):
                at = datetime.fromisoformat(paid[0]["occurred_at"])
                out.append((at - datetime.fromisoformat(ends[mid])).total_seconds())
    return out


def fault_figures(obs: Observations, log: FaultLog) -> tuple[dict[str, Any], list[str]]:
    problems = []
    by_cause: dict[str, list[float]] = {}
    unrecovered = 0
    # A write that failed while Kafka or PostgreSQL was down (or coming back) waits for the
    # server; one that failed otherwise was interrupted by a process kill alone.
    windows = [(o.down_at, (o.up_at or o.down_at) + 10) for o in log.outages]
    for r in obs.recoveries:
        if r.recovered_after is None:
            unrecovered += 1
            continue
        during = any(lo <= r.failed_at <= hi for lo, hi in windows)
        by_cause.setdefault(f"{r.cause}{' (server outage)' if during else ''}", []).append(
            r.recovered_after
        )
    pg = log.outage("postgres")

    def during_db(at: float) -> bool:
        return pg is not None and pg.down_at - 0.5 <= at <= (pg.up_at or pg.down_at) + 15

    # The client retried each of these and a retry may have succeeded: that hides them from
    # every other check. A 503 is an answer for the database restart only; anything else, or
    # a 503 at any other time (an exhausted pool answers 503 too), is a discrepancy.
    for at, service, call, status, body in obs.server_errors:
        if status != 503:
            when = "during the database restart" if during_db(at) else "outside any database outage"
            problems.append(f"{service} {call} answered {status} {when}: {body[:200]}")
        elif not during_db(at):
            problems.append(
                f"{service} {call} answered 503 outside any database outage: {body[:200]}"
            )
    during = [e for e in obs.server_errors if during_db(e[0])]
    statuses = {
        f"{s} {status} {code}".strip(): n for (s, status, code), n in sorted(obs.statuses.items())
    }
    return {
        "requests": obs.requests,
        "replayed": obs.replayed,
        "statuses": statuses,
        "interrupted_writes": {cause: spread(v) for cause, v in sorted(by_cause.items())},
        "unrecovered_writes": unrecovered,
        "clean_writes": spread(obs.clean_writes),
        "slowest_recoveries": [
            {
                "call": f"{r.method} {r.path}",
                "seconds": round(r.recovered_after or 0.0, 2),
                "attempts": r.causes,
            }
            for r in sorted(
                (r for r in obs.recoveries if r.recovered_after is not None),
                key=lambda r: -(r.recovered_after or 0.0),
            )[:10]
        ],
        "server_errors_during_db_restart": {
            "503": sum(1 for e in during if e[3] == 503),
            "other_5xx": sum(1 for e in during if e[3] != 503),
        },
        "kills": dict(sorted(log.kills.items())),
        "outages": [
            {"what": o.what, "seconds": round((o.up_at or o.down_at) - o.down_at, 2)}
            for o in log.outages
        ],
    }, problems


async def run(opts: Options, say: Any = print) -> Report:
    infra = Infra(opts.cache)
    lock = await asyncio.to_thread(hold_stack, infra, say)
    try:
        return await _run(opts, infra, say)
    finally:
        lock.close()


async def _run(opts: Options, infra: Infra, say: Any) -> Report:
    rng = random.Random(opts.seed)
    started = time.monotonic()
    say(f"chaos: stack up (PostgreSQL :{infra.pg_port}, Kafka :{infra.kafka_port})")
    await asyncio.to_thread(infra.up)
    await infra.recreate_databases()
    prefix = f"chaos-{uuid.uuid4().hex[:8]}"
    env = service_env(infra, prefix)
    for args in (["migrate"], ["topics", "--partitions", "6"]):
        done = await asyncio.to_thread(books.tradeflow, env, *args)
        if done.returncode:
            raise RuntimeError(f"tradeflow {args}: {done.stdout}{done.stderr}")
    logs = opts.cache / "logs" / prefix
    fleet = Fleet(env, logs, opts.instances)
    obs = Observations()
    stop_supervising = asyncio.Event()
    supervised: asyncio.Task[None] | None = None
    apis = Apis(*(Service(s, fleet.api_ports(s), obs, opts.step_wait) for s in SERVICES))
    hooks_api = Service(WEBHOOKS, fleet.api_ports(WEBHOOKS), obs, opts.step_wait)
    receiver = webhooks.Receiver(random.Random(rng.random()))
    try:
        tenants = [await make_tenant(env, n) for n in range(opts.tenants)]
        await receiver.start()
        fleet.start_all()
        await fleet.wait_ready()
        supervised = asyncio.create_task(fleet.supervise(stop_supervising))
        say(f"chaos: {len(fleet.procs)} processes up ({opts.instances} of each), logs in {logs}")
        for tenant in tenants:
            # Before anything the tenant does: every event of its trades is for the endpoint.
            await webhooks.register(hooks_api, tenant, receiver)
            await set_policies(apis, tenant)
        trades = [plan_trade(n, tenants[n % len(tenants)], rng) for n in range(opts.trades)]
        finished = 0
        driver = Driver(apis, rng, opts.step_wait)
        faults_planned = plan(fleet.kinds, opts.kills_per_kind, rng) if opts.faults else []
        injector = Injector(fleet, infra, faults_planned, lambda: finished / len(trades), rng)
        sem = asyncio.Semaphore(opts.concurrency)

        async def one(t: Trade) -> None:
            nonlocal finished
            async with sem:
                await driver.run(t)
            finished += 1
            injector.progressed.set()
            if finished % max(1, len(trades) // 10) == 0:
                say(f"chaos: {finished}/{len(trades)} trades, {sum(log_kills(injector))} kills")

        traded_at = time.monotonic()
        faults = asyncio.create_task(injector.run())
        await asyncio.gather(*(one(t) for t in trades))
        await faults
        trading = time.monotonic() - traded_at
        say("chaos: trades done; waiting for quiet")
        quiet_after, busy = await quiet.wait_quiet(infra, prefix, opts.quiet_within)
        findings = verify.Findings()
        for what in busy:
            findings.fail(f"never quiet: {what}")
        say("chaos: checking")
        held = await verify.check_trades(apis, trades, findings)
        await verify.check_advances(apis, trades, findings)
        produced = await delivery.check_events(infra, prefix, findings)
        await webhooks.check(infra, produced, [t.tenant_id for t in tenants], receiver, findings)
        await books.check_escrow_held(infra, held, findings)
        await books.check_ledger_totals(infra, trades, findings)
        await books.check_ledger_tools(env, [t.tenant_id for t in tenants], findings)
        latencies = await release_latencies(apis, trades)
        figures, problems = fault_figures(obs, injector.log)
        for p in problems:
            findings.fail(p)
        figures.update(findings.figures)
        figures.update(delivery.read_logs(logs))
        figures["release_latency_after_window"] = spread(latencies)
        figures["seconds"] = {
            "trading": round(trading, 1),
            "quiet_after": round(quiet_after, 1),
            "wall": round(time.monotonic() - started, 1),
        }
        cpu: dict[str, float] = {}
        for proc in fleet:
            cpu[proc.kind] = round(cpu.get(proc.kind, 0.0) + proc.cpu_seconds(), 1)
        cpu["kafka (since its restart)"] = round(infra.kafka_cpu(), 1)
        cpu["driver"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 1)
        figures["cpu_seconds"] = dict(sorted(cpu.items(), key=lambda kv: -kv[1]))
        figures["processes"] = {
            "instances_per_role": opts.instances,
            "count": len(fleet.procs),
            "starts": sum(p.starts for p in fleet),
        }
        stop_supervising.set()
        await supervised
        for e in fleet.exits:
            findings.fail(f"{e.name} exited by itself with status {e.status}: ...{e.tail[-600:]}")
        figures["processes"]["exited_by_themselves"] = len(fleet.exits)
        if opts.check_targets:
            check_targets(figures, findings)
        return Report(not findings.problems, findings.problems, figures)
    finally:
        stop_supervising.set()
        if supervised is not None:
            await supervised
        for s in (apis.escrow, apis.ledger, apis.financing, hooks_api):
            await s.close()
        fleet.stop_all()
        await receiver.stop()
        if not opts.keep_up:
            await asyncio.to_thread(infra.down)


def log_kills(injector: Injector) -> list[int]:
    return list(injector.log.kills.values())


def check_targets(figures: dict[str, Any], findings: verify.Findings) -> None:
    interrupted = figures["interrupted_writes"].get("interrupted", {})
    p99 = interrupted.get("p99")
    if p99 is not None and p99 >= RECOVERY_P99_S:
        findings.fail(
            f"interrupted writes recovered in p99 {p99:.2f}s (target < {RECOVERY_P99_S}s)"
        )
    latency = figures["release_latency_after_window"].get("p99")
    if latency is not None and latency >= RELEASE_LATENCY_P99_S:
        findings.fail(
            f"release after a lapsed window took p99 {latency:.2f}s "
            f"(target < {RELEASE_LATENCY_P99_S}s)"
        )
    if figures["server_errors_during_db_restart"]["other_5xx"]:
        findings.fail("a 5xx other than 503 during the database restart")
