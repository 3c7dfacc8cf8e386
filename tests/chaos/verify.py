"""After the faults: wait until the system is quiet, then check that every cent is where it
should be. Each check returns the discrepancies it found (empty: it held) and its figures.

- every trade in its expected final state, amounts to the cent (expectations derived here,
  from what the trade did and the fee policy, independently of the services' code);
- every outbox row published; every event the ledger should post posted exactly once;
- each consumer applied each subject's events in the order they were produced;
- nothing dead-lettered or parked;
- ``tradeflow ledger audit`` and ``verify`` pass; the three-way reconciliation finds no break;
  the ledger's escrow held is zero for every order, like escrow's;
- each advance's statement balance equals the ledger's advance receivable for it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from services.ledger.domain.rules import posts
from shared.settings import SERVICES
from shared.topics import partitions_of
from tests.chaos.stack import DB_PREFIX, ROOT, Infra
from tests.chaos.trades import FEE_BPS, FIXED_FEES, Apis, Trade


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.problems.append(what)


def fee(gross: int, currency: str) -> int:
    """The platform fee of a release: 1.50 % half-up plus the currency's fixed fee, capped."""
    return min(gross, (gross * FEE_BPS + 5_000) // 10_000 + FIXED_FEES[currency])


# --- quiescence ---------------------------------------------------------------------------
def consumer_groups(prefix: str) -> dict[str, list[str]]:
    topic = {s: f"{prefix}.{s}.events" for s in SERVICES}
    return {
        f"{prefix}.escrow.liens": [topic["financing"]],
        f"{prefix}.financing.escrow-events": [topic["escrow"]],
        f"{prefix}.ledger-postings": [topic["escrow"], topic["financing"]],
    }


async def connect(infra: Infra, service: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        port=infra.pg_port,
        user="tradeflow",
        password="tradeflow",
        database=f"{DB_PREFIX}{service}",
    )


async def lag(infra: Infra, prefix: str) -> dict[str, int]:
    """Records not yet committed by each consumer group, over all partitions of its topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    probe = AIOKafkaConsumer(bootstrap_servers=infra.kafka)
    await admin.start()
    await probe.start()
    try:
        out = {}
        for group, topics in consumer_groups(prefix).items():
            tps = [tp for t in topics for tp in await partitions_of(probe, t)]
            if len(tps) < len(topics):  # a topic the broker does not know: never "quiet"
                raise RuntimeError(f"{group}: its topics {topics} have {len(tps)} partitions")
            ends = await probe.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(group)
            out[group] = sum(
                ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps
            )
        return out
    finally:
        await probe.stop()
        await admin.close()


async def unquiet(infra: Infra, prefix: str) -> list[str]:
    """What is still moving: unsent outbox rows, due timers, pending money, consumer lag."""
    busy = []
    for service in SERVICES:
        conn = await connect(infra, service)
        try:
            unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            due = await conn.fetchval(
                "SELECT count(*) FROM timers WHERE due_at <= now() AND fired_at IS NULL"
                " AND cancelled_at IS NULL"
            )
        finally:
            await conn.close()
        if unsent:
            busy.append(f"{service}: {unsent} outbox rows unsent")
        if due:
            busy.append(f"{service}: {due} timers due")
    for group, behind in (await lag(infra, prefix)).items():
        if behind:
            busy.append(f"{group}: {behind} records behind")
    return busy


async def wait_quiet(infra: Infra, prefix: str, within: float) -> tuple[float, list[str]]:
    """Seconds until quiet (two clean looks 2 s apart), and what was still moving if never."""
    started = time.monotonic()
    clean = 0
    busy: list[str] = []
    while time.monotonic() - started < within:
        try:
            busy = await unquiet(infra, prefix)
        except (OSError, asyncpg.PostgresError) as exc:
            busy = [f"cannot look: {exc!r}"]
        clean = clean + 1 if not busy else 0
        if clean >= 2:
            return time.monotonic() - started, []
        await asyncio.sleep(2)
    return time.monotonic() - started, busy


# --- trades -------------------------------------------------------------------------------
def expected_payouts(t: Trade) -> list[tuple[int, int, int, int]]:
    """(gross, fee, lien repayment, net) of each release, in release order."""
    if t.kind in ("cancel", "recourse"):
        grosses = [t.amounts[0]] if t.deposit_released_before_cancel else []
    elif t.kind == "dispute":
        assert t.split_release is not None
        grosses = [t.amounts[0], t.split_release, t.amounts[2]]
    else:
        grosses = list(t.amounts)
    outstanding = (t.principal or 0) if t.kind == "advance" else 0
    out = []
    for g in grosses:
        f = fee(g, t.currency)
        lien = min(outstanding, g - f)
        outstanding -= lien
        out.append((g, f, lien, g - f - lien))
    return out


def check_order(t: Trade, o: dict[str, Any]) -> list[str]:
    bad = []
    payouts = expected_payouts(t)
    released = sum(p[0] for p in payouts)
    refunded = t.total - released
    want_status = "cancelled" if t.kind in ("cancel", "recourse") else "completed"
    got = (o["status"], o["funded"], o["released"], o["refunded"], o["held"])
    want = (want_status, t.total, released, refunded, 0)
    if got != want:
        bad.append(f"(status, funded, released, refunded, held) = {got}, expected {want}")
    seen = [
        (p["gross"], p["platform_fee"], p["lien_repayment"], p["supplier_net"])
        for p in o["payouts"]
    ]
    if seen != payouts:
        bad.append(f"payouts {seen}, expected {payouts}")
    if any(p["status"] != "done" for p in (*o["payouts"], *o["refunds"])):
        bad.append("a payout or refund is still pending")
    if sum(r["amount"] for r in o["refunds"]) != refunded:
        bad.append(f"refunds sum to {sum(r['amount'] for r in o['refunds'])}, expected {refunded}")
    if t.kind == "advance" and {p["advance_id"] for p in o["payouts"] if p["lien_repayment"]} != {
        t.advance_id
    }:
        bad.append("lien repayments do not name the advance")
    return bad


async def check_trades(apis: Apis, trades: list[Trade], f: Findings) -> dict[str, int]:
    """Each trade's order against its expectations; returns what escrow holds per order."""
    held: dict[str, int] = {}
    by_kind: Counter[str] = Counter()
    by_currency: Counter[str] = Counter()
    sem = asyncio.Semaphore(32)

    async def one(t: Trade) -> None:
        by_kind[t.kind] += 1
        by_currency[t.currency] += 1
        if t.error:
            f.fail(f"trade {t.n} ({t.kind}, {t.currency}) failed: {t.error}")
        if t.order_id is None:
            return
        async with sem:
            r = await apis.escrow.call("GET", f"/v1/orders/{t.order_id}", t.tenant.platform)
        held[t.order_id] = r.json()["held"]
        if not t.error:
            for problem in check_order(t, r.json()):
                f.fail(f"trade {t.n} ({t.kind}) order {t.order_id}: {problem}")

    await asyncio.gather(*(one(t) for t in trades))
    f.figures["trades"] = {
        "total": len(trades),
        "by_kind": dict(by_kind),
        "by_currency": dict(by_currency),
        "failed": sum(1 for t in trades if t.error),
    }
    return held


async def check_advances(apis: Apis, trades: list[Trade], f: Findings) -> None:
    """Each advance: the expected state, and its statement balance = ledger advance receivable."""
    with_advance = [t for t in trades if t.advance_id and not t.error]
    ledger_balances: dict[str, int] = {}
    for tenant in {t.tenant.tenant_id: t.tenant for t in with_advance}.values():
        for currency in {t.currency for t in with_advance}:
            r = await apis.ledger.call(
                "GET",
                f"/v1/ledger/accounts?code=advance_receivable&currency={currency}",
                tenant.finance,
            )
            for account in r.json():
                b = await apis.ledger.call(
                    "GET", f"/v1/ledger/accounts/{account['id']}/balance", tenant.finance
                )
                ledger_balances[account["subledger"]] = int(b.json()["balance"])
    agreed = 0
    for t in with_advance:
        key = t.tenant.finance
        a = (await apis.financing.call("GET", f"/v1/advances/{t.advance_id}", key)).json()
        s = (await apis.financing.call("GET", f"/v1/advances/{t.advance_id}/statement", key)).json()
        want_state, want_balance = (
            ("repaid", 0) if t.kind == "advance" else ("recourse", t.principal)
        )
        if (a["state"], s["balance"]) != (want_state, want_balance):
            f.fail(
                f"advance {t.advance_id} (trade {t.n}): state {a['state']}, balance "
                f"{s['balance']}; expected {want_state}, {want_balance}"
            )
        ledger = ledger_balances.get(str(t.advance_id), 0)
        if s["balance"] != ledger:
            f.fail(f"advance {t.advance_id}: statement balance {s['balance']} != ledger {ledger}")
        else:
            agreed += 1
    f.figures["advances"] = {"total": len(with_advance), "statement_equals_ledger": agreed}


# --- the books ------------------------------------------------------------------------------
async def check_events(infra: Infra, f: Findings) -> None:
    """Outbox fully published; every postable event posted exactly once; nothing parked."""
    produced: dict[str, list[asyncpg.Record]] = {}
    for service in SERVICES:
        conn = await connect(infra, service)
        try:
            produced[service] = await conn.fetch(
                "SELECT seq, event_id, topic, key, envelope->>'type' AS type,"
                " sent_at IS NOT NULL AS sent FROM outbox ORDER BY seq"
            )
            parked = await conn.fetch("SELECT consumer, subject, reason FROM parked_subjects")
        finally:
            await conn.close()
        unsent = [r for r in produced[service] if not r["sent"]]
        if unsent:
            f.fail(f"{service}: {len(unsent)} outbox rows never published")
        for p in parked:
            f.fail(f"{service}: {p['consumer']} parked {p['subject']}: {p['reason'][:200]}")
    postable = {
        r["event_id"] for s in ("escrow", "financing") for r in produced[s] if posts(r["type"])
    }
    conn = await connect(infra, "ledger")
    try:
        rows = await conn.fetch(
            "SELECT source_event_id FROM journal_transactions"
            " WHERE kind NOT IN ('adjustment', 'reversal')"
        )
    finally:
        await conn.close()
    posted = Counter(r["source_event_id"] for r in rows)
    missing = postable - set(posted)
    duplicated = sum(n - 1 for n in posted.values() if n > 1)
    stray = set(posted) - postable
    if missing:
        f.fail(f"ledger: {len(missing)} events never posted, e.g. {sorted(map(str, missing))[:3]}")
    if duplicated:
        f.fail(f"ledger: {duplicated} events posted more than once")
    if stray:
        f.fail(f"ledger: {len(stray)} postings without a source event, e.g. {list(stray)[:3]}")
    f.figures["events"] = {
        "produced": {s: len(r) for s, r in produced.items()},
        "ledger_expected": len(postable),
        "ledger_posted": len(set(posted) & postable),
        "ledger_duplicates": duplicated,
    }
    await check_order_of_application(infra, produced, f)


async def check_order_of_application(
    infra: Infra, produced: dict[str, list[asyncpg.Record]], f: Findings
) -> None:
    """Per consumer and subject, events were applied in the order they were produced: the
    transactions that applied them (inbox.processed_at) never go back in time."""
    consumers = {
        "escrow": [("escrow.liens", "financing")],
        "financing": [("financing.escrow-events", "escrow")],
        "ledger": [("ledger-postings", "escrow"), ("ledger-postings", "financing")],
    }
    checked = 0
    for service, pairs in consumers.items():
        conn = await connect(infra, service)
        try:
            for consumer, source in pairs:
                applied = {
                    r["event_id"]: r["processed_at"]
                    for r in await conn.fetch(
                        "SELECT event_id, processed_at FROM inbox WHERE consumer = $1", consumer
                    )
                }
                last: dict[str, Any] = {}
                for row in produced[source]:
                    at = applied.get(row["event_id"])
                    if at is None:
                        continue
                    checked += 1
                    prev = last.get(row["key"])
                    if prev is not None and at < prev[0]:
                        f.fail(
                            f"{consumer}: {row['type']} {row['event_id']} of {row['key']} "
                            f"applied before the earlier {prev[1]}"
                        )
                    last[row["key"]] = (at, row["type"])
                wanted = {r["event_id"] for r in produced[source]}
                if consumer != "ledger-postings" and wanted - set(applied):
                    f.fail(
                        f"{consumer}: {len(wanted - set(applied))} {source} events never "
                        "reached its inbox"
                    )
        finally:
            await conn.close()
    f.figures["ordering_checked"] = checked


def tradeflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


async def check_ledger_tools(env: dict[str, str], tenants: list[str], f: Findings) -> None:
    for args in (
        ["ledger", "audit"],
        ["ledger", "verify"],
        *(["ledger", "reconcile", "--tenant", t, "--escrow-only"] for t in tenants),
    ):
        done = await asyncio.to_thread(tradeflow, env, *args)
        f.figures.setdefault("ledger_tools", {})[" ".join(args)] = done.returncode
        if done.returncode != 0:
            f.fail(
                f"tradeflow {' '.join(args)} exited {done.returncode}: "
                f"{(done.stdout + done.stderr)[-800:]}"
            )


async def check_escrow_held(infra: Infra, held_by_escrow: dict[str, int], f: Findings) -> None:
    """The ledger's escrow held per order (a liability: credits minus debits) equals what
    escrow says it holds for that order, for every order."""
    conn = await connect(infra, "ledger")
    try:
        rows = await conn.fetch(
            "SELECT a.subledger, -sum(p.amount) AS held FROM accounts a"
            " JOIN postings p ON p.account_id = a.id WHERE a.code = 'escrow_held'"
            " GROUP BY a.subledger"
        )
    finally:
        await conn.close()
    ledger = {r["subledger"]: int(r["held"]) for r in rows}
    for order_id, held in held_by_escrow.items():
        if ledger.get(order_id, 0) != held:
            f.fail(
                f"ledger escrow held for {order_id} is {ledger.get(order_id)}, escrow holds {held}"
            )
    never = set(held_by_escrow) - set(ledger)
    if never:
        f.fail(f"{len(never)} orders never reached the ledger's escrow held")
    f.figures["escrow_held_orders_checked"] = len(held_by_escrow)


# --- the log --------------------------------------------------------------------------------
def read_logs(logs: Path) -> dict[str, Any]:
    """Redeliveries the inboxes absorbed and partition moves, from the consumers' JSON logs."""
    absorbed: Counter[str] = Counter()
    assigned: Counter[str] = Counter()
    for path in logs.glob("*-consume-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "inbox.redelivered_absorbed":
                absorbed[entry["consumer"]] += int(entry["count"])
            elif entry.get("event") == "inbox.partitions_assigned":
                assigned[entry["consumer"]] += 1
    return {"redeliveries_absorbed": dict(absorbed), "partition_assignments": dict(assigned)}
