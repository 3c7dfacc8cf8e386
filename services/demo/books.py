"""The demo's closing account: releases, the advance's statement, the trial balance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

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
    return balanced
