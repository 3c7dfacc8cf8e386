"""After the faults, once the system is quiet (quiet.py): every trade where it should be,
to the cent. Expectations are derived here, from what each trade did and the fee policy the
run set, independently of the services' code; a figure the services report is compared with
that, never taken as the expectation.

- every trade in its expected final state: status, funded, released, refunded, held 0, each
  payout's split, a Stripe transfer for every net payout and a Stripe refund for every card
  refund, every release and refund attributed to whoever caused it;
- each advance: the principal the policy gives, its final state, and its statement equal to
  the ledger's advance receivable and deferred fee income for it;
- delivery (delivery.py): every outbox row in Kafka in order, every money event posted once,
  applied in order, nothing dead-lettered or parked;
- the books (books.py): ``tradeflow ledger audit``, ``verify``, the reconciliation, escrow
  held per order, supplier payable and platform fee revenue per tenant and currency.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.trades import FEE_BPS, FIXED_FEES, Apis, Trade

ADVANCE_RATE_BPS = 8_000  # the financing policy the run sets (run.set_policies)


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.problems.append(what)


def fee(gross: int, currency: str) -> int:
    """The platform fee of a release: 1.50 % half-up plus the currency's fixed fee, capped."""
    return min(gross, (gross * FEE_BPS + 5_000) // 10_000 + FIXED_FEES[currency])


# --- trades -------------------------------------------------------------------------------
def expected_principal(t: Trade) -> int:
    """The advance the policy offers on a funded order with nothing released yet: the advance
    rate (half-up) of the milestones net of the platform fee on each."""
    financeable = t.total - sum(fee(a, t.currency) for a in t.amounts)
    return (financeable * ADVANCE_RATE_BPS + 5_000) // 10_000


def expected_actors(t: Trade) -> Counter[tuple[str, str]]:
    """(event type, actor) of every release and refund on the trade's timeline: whoever
    caused it, whichever process completed it."""
    platform = f"apikey:{t.tenant.tenant_id}-platform"
    finance = f"apikey:{t.tenant.tenant_id}-finance"
    released = "escrow.milestone_released"
    out: Counter[tuple[str, str]] = Counter()
    if t.kind in ("cancel", "recourse"):
        if t.deposit_released_before_cancel:
            out[(released, platform)] += 1
        out[("escrow.refunded", platform)] += 1  # one card payment: one refund
        return out
    for i, mid in enumerate(t.milestone_ids):
        if t.kind == "dispute" and i == 1:
            out[(released, finance)] += 1
            out[("escrow.refunded", finance)] += 1
        else:
            out[(released, "system:inspection_window" if mid in t.lapsed else platform)] += 1
    return out


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
    unpaid = [
        p["payout_id"] for p in o["payouts"] if p["supplier_net"] and not p["stripe_transfer_id"]
    ]
    if unpaid:
        bad.append(f"payouts booked without a Stripe transfer: {unpaid}")
    unrefunded = [r["refund_id"] for r in o["refunds"] if not r["stripe_refund_id"]]
    if unrefunded:
        bad.append(f"card refunds booked without a Stripe refund: {unrefunded}")
    if sum(r["amount"] for r in o["refunds"]) != refunded:
        bad.append(f"refunds sum to {sum(r['amount'] for r in o['refunds'])}, expected {refunded}")
    if t.kind == "advance" and {p["advance_id"] for p in o["payouts"] if p["lien_repayment"]} != {
        t.advance_id
    }:
        bad.append("lien repayments do not name the advance")
    return bad


def check_timeline(t: Trade, events: list[dict[str, Any]]) -> list[str]:
    got = Counter(
        (e["type"], e["actor"])
        for e in events
        if e["type"] in ("escrow.milestone_released", "escrow.refunded")
    )
    want = expected_actors(t)
    return [] if got == want else [f"releases and refunds by {dict(got)}, expected {dict(want)}"]


async def check_trades(apis: Apis, trades: list[Trade], f: Findings) -> dict[str, int]:
    """Each trade's order and timeline against its expectations; returns what escrow holds
    per order."""
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
        path = f"/v1/orders/{t.order_id}"
        async with sem:
            r = await apis.escrow.call("GET", path, t.tenant.platform)
            # One page holds a trade's whole timeline (a few dozen events at most).
            timeline = await apis.escrow.call(
                "GET", f"{path}/timeline?limit=100", t.tenant.platform
            )
        held[t.order_id] = r.json()["held"]
        if not t.error:
            problems = check_order(t, r.json()) + check_timeline(t, timeline.json()["data"])
            for problem in problems:
                f.fail(f"trade {t.n} ({t.kind}) order {t.order_id}: {problem}")

    await asyncio.gather(*(one(t) for t in trades))
    f.figures["trades"] = {
        "total": len(trades),
        "by_kind": dict(by_kind),
        "by_currency": dict(by_currency),
        "failed": sum(1 for t in trades if t.error),
    }
    return held


async def ledger_balances(apis: Apis, trades: list[Trade], code: str) -> dict[str, int]:
    """Balances of the ledger's ``code`` accounts per sub-ledger, over the trades' tenants."""
    out: dict[str, int] = {}
    for tenant in {t.tenant.tenant_id: t.tenant for t in trades}.values():
        for currency in {t.currency for t in trades}:
            r = await apis.ledger.call(
                "GET", f"/v1/ledger/accounts?code={code}&currency={currency}", tenant.finance
            )
            for account in r.json():
                b = await apis.ledger.call(
                    "GET", f"/v1/ledger/accounts/{account['id']}/balance", tenant.finance
                )
                out[account["subledger"]] = int(b.json()["balance"])
    return out


def check_advance(
    t: Trade, a: dict[str, Any], s: dict[str, Any], receivable: int | None, deferred: int | None
) -> list[str]:
    """One advance: principal, state and statement as expected; the ledger agrees with the
    statement on what is owed and on the fee not yet earned."""
    bad = []
    if t.principal != expected_principal(t):
        bad.append(f"principal {t.principal}, the policy gives {expected_principal(t)}")
    want_state, want_balance = ("repaid", 0) if t.kind == "advance" else ("recourse", t.principal)
    if (a["state"], s["balance"]) != (want_state, want_balance):
        bad.append(
            f"state {a['state']}, balance {s['balance']}; expected {want_state}, {want_balance}"
        )
    totals = s["totals"]
    if t.kind == "advance" and totals["fee_earned"] != totals["fee"]:
        bad.append(f"repaid, yet {totals['fee_earned']} of the fee {totals['fee']} earned")
    if receivable is None:
        bad.append("no advance receivable for it in the ledger")
    elif receivable != s["balance"]:
        bad.append(f"statement balance {s['balance']} != ledger advance receivable {receivable}")
    unearned = totals["fee"] - totals["fee_earned"] - totals["fee_rebated"]
    if (deferred or 0) != unearned:
        bad.append(f"statement leaves {unearned} of the fee unearned, the ledger {deferred}")
    return bad


async def check_advances(apis: Apis, trades: list[Trade], f: Findings) -> None:
    """Each advance against check_advance."""
    with_advance = [t for t in trades if t.advance_id and not t.error]
    receivable = await ledger_balances(apis, with_advance, "advance_receivable")
    deferred = await ledger_balances(apis, with_advance, "deferred_fee_income")
    agreed = 0
    for t in with_advance:
        key = t.tenant.finance
        a = (await apis.financing.call("GET", f"/v1/advances/{t.advance_id}", key)).json()
        s = (await apis.financing.call("GET", f"/v1/advances/{t.advance_id}/statement", key)).json()
        problems = check_advance(
            t, a, s, receivable.get(str(t.advance_id)), deferred.get(str(t.advance_id))
        )
        for problem in problems:
            f.fail(f"advance {t.advance_id} (trade {t.n}): {problem}")
        agreed += not problems
    f.figures["advances"] = {"total": len(with_advance), "as_expected": agreed}
