"""The demo's last step: an open order for the supplier to raise money on, then the
console's address and a ready sign-in link for each role of the tenant: a short-lived,
single-use token the console made for the role's key (``POST /sign-in-links``), so the URL
holds no key (docs/console.md, "Sign-in links")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from rich.console import Console

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


async def sign_in_link(client: httpx.AsyncClient, url: str, key: str) -> tuple[str, str]:
    """``(link, ends)`` for ``key``, made by the console (which keeps the key)."""
    r = await client.post(f"{url}/sign-in-links", headers={"Authorization": f"Bearer {key}"})
    r.raise_for_status()
    found = r.json()
    return f"{url}{found['path']}", str(found["expires_at"])


async def show_console(settings: Settings, console: Console, trade: Trade) -> bool:
    url = settings.api_url(CONSOLE)
    links: list[tuple[str, str, str]] = []
    ends = ""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"{url}/healthz/live")
            r.raise_for_status()
            for scope, role, sees in ROLES:
                key = trade.keys[scope]["Authorization"].removeprefix("Bearer ")
                link, ends = await sign_in_link(client, url, key)
                links.append((role, sees, link))
    except httpx.HTTPError as exc:
        console.print(f"[yellow]the console does not answer at {url}[/] ({exc}; "
                      "deploy/local/services.sh up)")  # fmt: skip
        return False
    # Each link on a line of its own, never folded, so a terminal can open it.
    console.print(f"[bold]Web console: {url}[/]  open a link: each works once, until {ends}")
    for role, sees, link in links:
        console.print(f"  [bold]{role}[/] ({sees}):")
        console.print(f"    {link}", soft_wrap=True, highlight=False)
    console.print(
        "A used or expired link: `tradeflow console sign-in-link` makes another for a key."
    )
    return True
