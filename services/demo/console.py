"""The demo's last step: an open order for the supplier to raise money on, then the
console's address and a ready sign-in (an API key to paste) for each role of the tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from rich.console import Console
from rich.table import Table

from services.demo.support import CURRENCY
from shared.money import Money
from shared.settings import CONSOLE, Settings

if TYPE_CHECKING:
    from services.demo.trade import Trade

ROLES = (
    ("finance", "finance", "trial balance, statements, CSV"),
    ("platform", "operations", "orders, milestones, timelines"),
    ("supplier", "supplier (supplier-shenzhen)", "offers and advances"),
)


async def open_order(trade: Trade) -> str:
    """A second order, funded by an offline wire, on which the supplier can take an advance
    in the console."""
    order = await trade.call(
        trade.escrow, "POST", "/v1/orders", "platform",
        {
            "buyer_id": "buyer-hamburg", "supplier_id": "supplier-shenzhen",
            "supplier_account_id": "acct_1SupplierShenzhen", "currency": CURRENCY,
            "total": 4_000_000,
            "milestones": [
                {"name": "Shipment (bill of lading)", "amount": 2_400_000, "kind": "shipment"},
                {"name": "Delivery", "amount": 1_600_000, "kind": "delivery"},
            ],
        },
    )  # fmt: skip
    oid = str(order["order_id"])
    await trade.call(
        trade.escrow, "POST", f"/v1/orders/{oid}/wire-confirmations", "finance",
        {"amount": order["total"], "reference": f"WIRE-{oid[-6:]}"},
    )  # fmt: skip
    trade.step(
        f"A second order {oid} ({Money(order['total'], CURRENCY)}, Hamburg) is funded by wire: "
        "the supplier can take an advance on it in the console"
    )
    return oid


async def show_console(settings: Settings, console: Console, trade: Trade) -> bool:
    url = settings.api_url(CONSOLE)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            up = (await client.get(f"{url}/healthz/live")).status_code == 200
    except httpx.HTTPError:
        up = False
    table = Table(title=f"Web console: {url}  (sign in by pasting a key)")
    for col in ("role", "sees", "API key"):
        table.add_column(col, overflow="fold")
    for scope, role, sees in ROLES:
        table.add_row(role, sees, trade.keys[scope]["Authorization"].removeprefix("Bearer "))
    console.print(table)
    if not up:
        console.print(
            f"[yellow]the console does not answer at {url}[/] (deploy/local/services.sh up)"
        )
    return up
