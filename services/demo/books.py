"""The demo's closing account: releases, the advance's statement, the trial balance, then
the books proved against Stripe (a reconciliation run) and the period's balance sheet."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.table import Table

from services.demo.stripe_report import (
    advance_line,
    balances,
    order_lines,
    payout_line,
    report_csv,
)
from services.demo.support import (
    CURRENCY,
    amount,
    until,
)

if TYPE_CHECKING:
    from services.demo.trade import Trade


async def show_books(trade: Trade, result: dict[str, Any]) -> bool:
    """Wait for the ledger to post the trade, then show payouts, the advance and the books."""
    order, console = result["order"], trade.console
    fees = sum(p["platform_fee"] for p in order["payouts"])
    table = Table(title=f"Releases of order {order['order_id']} ({CURRENCY})")
    for col in ("milestone", "gross", "platform fee", "advance repaid", "to supplier", "transfer"):
        table.add_column(col, justify="right" if col not in ("milestone", "transfer") else "left")
    names = {m["milestone_id"]: m["name"] for m in order["milestones"]}
    for p in order["payouts"]:
        table.add_row(
            names[p["milestone_id"]],
            *(amount(p[k]) for k in ("gross", "platform_fee", "lien_repayment", "supplier_net")),
            str(p["stripe_transfer_id"]),
        )
    console.print(table)

    statement = await trade.call(
        trade.financing,
        "GET",
        f"/v1/advances/{result['advance']}/statement?supplier_id=supplier-shenzhen",
        "supplier",
    )
    totals = statement["totals"]
    console.print(
        f"Advance {result['advance']}: principal {amount(totals['principal'])}, fee "
        f"{amount(totals['fee'])} (earned {amount(totals['fee_earned'])}), repaid from releases "
        f"{amount(totals['repaid'])}; balance {amount(statement['balance'])} {CURRENCY}"
    )

    async def posted() -> Any:
        tb = await trade.call(trade.ledger, "GET", "/v1/ledger/trial-balance", "finance")
        usd = next((c for c in tb["currencies"] if c["currency"] == CURRENCY), None)
        if usd is None:
            return None
        credit = {line["account"]: line["credit"] - line["debit"] for line in usd["lines"]}
        return (
            usd
            if credit.get("platform_fee_revenue") == fees and credit.get("escrow_held", 0) == 0
            else None
        )

    usd = await until("the ledger to post every event", posted)
    tb = Table(title=f"Trial balance ({CURRENCY}), tenant's books")
    for col in ("account", "name", "debit", "credit"):
        tb.add_column(col, justify="right" if col in ("debit", "credit") else "left")
    for line in usd["lines"]:
        tb.add_row(
            line["number"],
            line["name"],
            amount(line["debit"]),
            amount(line["credit"]),
        )
    tb.add_row(
        "",
        "total",
        amount(usd["total_debit"]),
        amount(usd["total_credit"]),
    )
    console.print(tb)
    balanced = usd["difference"] == 0
    console.print(
        "[green]Ledger balanced to the cent.[/]" if balanced else "[red]Ledger out of balance![/]"
    )
    return balanced and await show_reconciliation(trade, result)


async def show_reconciliation(trade: Trade, result: dict[str, Any]) -> bool:
    """Reconcile the trade's window from the Stripe report of what it moved (stripe-mock
    reports no balance: the report is written from the charge, transfer and refund ids the
    services recorded, with Stripe's processing fee and a payout of the balance to the
    bank), then show Stripe clearing against the Stripe balance and the balance sheet."""
    order, console = result["order"], trade.console
    tenant = order["tenant_id"]
    advance = await trade.call(
        trade.financing,
        "GET",
        f"/v1/advances/{result['advance']}?supplier_id=supplier-shenzhen",
        "supplier",
    )
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    lines = order_lines(order, at)
    if (disbursed := advance_line(advance, tenant, at)) is not None:
        lines.append(disbursed)
    balance = balances(lines).get((tenant, CURRENCY), 0)
    if (payout := balance // 2 // 100 * 100) > 0:
        lines.append(payout_line(f"po_{uuid.uuid4().hex[:14]}", tenant, CURRENCY, payout, at))
    window = {
        "from": trade.started.isoformat(),
        "to": (at + timedelta(seconds=4)).isoformat(),
    }
    r = await trade.ledger.post(
        "/v1/ledger/reconciliation/runs",
        params={"source": "csv", **window},
        content=report_csv(lines).encode(),
        headers=trade.keys["finance"] | {"Content-Type": "text/csv"},
    )
    if r.status_code != 201:
        console.print(f"[red]Reconciliation run -> {r.status_code}: {r.text}[/]")
        return False
    run = r.json()
    breaks = sum(v for k, v in run.items() if k.endswith(BREAK_KINDS))
    usd = next(b for b in run["balances"] if b["currency"] == CURRENCY)
    console.print(
        f"Reconciliation run {run['run_id']}: {run['stripe_rows']} Stripe lines, "
        f"{run['matched']} matched, {run['booked']} booked from Stripe (processing fee"
        f"{', payout and its arrival' if payout > 0 else ''}), {breaks} break(s)"
    )
    console.print(
        f"Stripe clearing {amount(usd['ledger_clearing'])} vs Stripe balance "
        f"{amount(usd['stripe_balance'])} {CURRENCY}: difference {amount(usd['difference'])}"
    )

    r = await trade.ledger.get(
        "/v1/ledger/reports/balance-sheet",
        params={**window, "currency": CURRENCY},
        headers=trade.keys["finance"],
    )
    if r.status_code != 200:
        console.print(f"[red]Balance sheet -> {r.status_code}: {r.text}[/]")
        return False
    sheet = r.json()
    table = Table(title=f"Balance sheet ({CURRENCY}) at the end of the trade")
    for col in ("", "closing"):
        table.add_column(col, justify="right" if col else "left")
    for x in sheet["assets"] + sheet["liabilities"]:
        table.add_row(f"{x['number']} {x['name']}", amount(x["closing"]))
    table.add_row("Total assets", amount(sheet["total_assets"]["closing"]))
    table.add_row("Total liabilities", amount(sheet["total_liabilities"]["closing"]))
    table.add_row("Equity (retained before the trade)", amount(sheet["equity"]["closing"]))
    table.add_row("Net income of the trade", amount(sheet["net_income"]))
    console.print(table)
    proved = usd["difference"] == 0 and breaks == 0 and sheet["closing_difference"] == 0
    console.print(
        "[green]Stripe clearing equals the Stripe balance; "
        "assets = liabilities + equity + net income.[/]"
        if proved
        else "[red]The books do not match Stripe or do not balance![/]"
    )
    return proved


BREAK_KINDS = ("_in_ledger", "_in_stripe", "_mismatch", "_disagrees", "_disagree")
