"""The books after the faults: the ledger's own tools pass, and the ledger agrees with what
escrow holds and with what the trades must have earned and paid out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter

from tests.chaos.stack import ROOT, Infra, connect
from tests.chaos.trades import Trade
from tests.chaos.verify import Findings, expected_payouts


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


async def balances(infra: Infra, code: str) -> dict[tuple[str, str, str], int]:
    """Credit balances (credits minus debits) of the ledger's ``code`` accounts, per
    (tenant, currency, sub-ledger)."""
    conn = await connect(infra, "ledger")
    try:
        rows = await conn.fetch(
            "SELECT a.tenant_id, a.currency, a.subledger, -sum(p.amount) AS credit"
            " FROM accounts a JOIN postings p ON p.account_id = a.id WHERE a.code = $1"
            " GROUP BY a.tenant_id, a.currency, a.subledger",
            code,
        )
    finally:
        await conn.close()
    return {(r["tenant_id"], r["currency"], r["subledger"]): int(r["credit"]) for r in rows}


async def check_escrow_held(infra: Infra, held_by_escrow: dict[str, int], f: Findings) -> None:
    """The ledger's escrow held per order equals what escrow says it holds for that order,
    for every order."""
    ledger = {sub: held for (_t, _c, sub), held in (await balances(infra, "escrow_held")).items()}
    for order_id, held in held_by_escrow.items():
        if ledger.get(order_id, 0) != held:
            f.fail(
                f"ledger escrow held for {order_id} is {ledger.get(order_id)}, escrow holds {held}"
            )
    never = set(held_by_escrow) - set(ledger)
    if never:
        f.fail(f"{len(never)} orders never reached the ledger's escrow held")
    f.figures["escrow_held_orders_checked"] = len(held_by_escrow)


async def check_ledger_totals(infra: Infra, trades: list[Trade], f: Findings) -> None:
    """Per tenant and currency: every supplier payable was paid out (no balance left), and
    the platform fee revenue is the sum of the fees the trades' releases must have taken.
    Escrow held alone cannot see a release booked without its payout, or a fee booked to
    the supplier: both leave escrow held right."""
    fees: Counter[tuple[str, str]] = Counter()
    unsure = {(t.tenant.tenant_id, t.currency) for t in trades if t.error}
    for t in trades:
        fees[(t.tenant.tenant_id, t.currency)] += sum(p[1] for p in expected_payouts(t))
    revenue = await balances(infra, "platform_fee_revenue")
    payable = await balances(infra, "supplier_payable")
    for (tenant, currency, _sub), owed in payable.items():
        if owed:
            f.fail(f"{tenant} {currency}: supplier payable {owed} never paid out")
    for book, want in sorted(fees.items()):
        got = revenue.get((*book, ""), 0)
        if book not in unsure and got != want:
            f.fail(f"{book[0]} {book[1]}: platform fee revenue {got}, the releases took {want}")
    f.figures["books_checked"] = len(set(fees) - unsure)
