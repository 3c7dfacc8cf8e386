"""A full cross-border trade over the public APIs of the running services.

A buyer in Rotterdam orders USD 125,000.00 of machine parts from a supplier in Shenzhen,
30/40/30 (deposit / shipment / delivery + inspection). The buyer pays by card (a Stripe
PaymentIntent on stripe-mock, confirmed by a webhook signed the way Stripe signs it). The
supplier takes a 70% advance on the funded deposit; escrow places a lien; the deposit's
inspection window lapses and the durable timer releases it, repaying the advance first.
Shipment (bill of lading) and delivery + inspection follow; then the ledger must balance.
A second trade follows in three currencies (services/demo/fx_trade.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from rich.console import Console

from services.demo.books import show_books
from services.demo.console import open_order, show_console
from services.demo.fx_trade import FxTrade
from services.demo.support import (
    CURRENCY,
    DEPOSIT_WINDOW_SECONDS,
    TOTAL,
    DemoFailed,
    create_keys,
    stripe_signed,
    until,
)
from services.demo.webhooks import DemoReceiver
from shared.money import Money
from shared.settings import Settings


class Trade:
    def __init__(
        self, settings: Settings, console: Console, keys: dict[str, dict[str, str]]
    ) -> None:
        self.s, self.console, self.keys = settings, console, keys
        # The start of the window the closing account reconciles and reports.
        self.started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        base = f"http://{settings.host}"
        self.escrow = httpx.AsyncClient(base_url=f"{base}:{settings.escrow_port}", timeout=30)
        self.ledger = httpx.AsyncClient(base_url=f"{base}:{settings.ledger_port}", timeout=30)
        self.financing = httpx.AsyncClient(base_url=f"{base}:{settings.financing_port}", timeout=30)

    async def call(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        scope: str,
        body: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Any:
        headers = dict(self.keys[scope])
        if method != "GET":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        r = await client.request(method, path, json=body, headers=headers)
        if r.status_code not in ok:
            raise DemoFailed(f"{method} {path} -> {r.status_code}: {r.text}")
        return r.json()

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]▸[/] {text}")

    async def order(self) -> Any:
        return await self.call(self.escrow, "GET", f"/v1/orders/{self.order_id}", "platform")

    async def run(self) -> dict[str, Any]:
        await self.call(
            self.escrow,
            "PUT",
            "/v1/fee-policy",
            "finance",
            {"basis_points": 150, "fixed_fees": {CURRENCY: 2_500}},
        )
        await self.call(
            self.financing,
            "PUT",
            f"/v1/policies/{CURRENCY}",
            "finance",
            {"advance_rate_bps": 8_000, "daily_fee_rate": "0.0005"},
        )
        self.step(
            "Platform fee policy 1.50% + USD 25.00 per release; advances up to 80% at 0.05%/day"
        )

        # The contract states its schedule in percentages; escrow splits the total to the cent.
        milestones = [
            {
                "name": "Deposit on contract",
                "percent_bps": 3_000,
                "kind": "contract",
                "inspection_window_seconds": DEPOSIT_WINDOW_SECONDS,
            },
            {"name": "Shipment (bill of lading)", "percent_bps": 4_000, "kind": "shipment"},
            {
                "name": "Delivery + inspection",
                "percent_bps": 3_000,
                "kind": "inspection",
                "evidence_required": ["delivery", "inspection"],
            },
        ]
        order = await self.call(
            self.escrow,
            "POST",
            "/v1/orders",
            "platform",
            {
                "buyer_id": "buyer-rotterdam",
                "supplier_id": "supplier-shenzhen",
                "supplier_account_id": "acct_1SupplierShenzhen",
                "currency": CURRENCY,
                "total": TOTAL,
                "milestones": milestones,
                "metadata": {"platform_order": "RTM-SZX-0042", "incoterm": "FOB"},
            },
        )
        self.order_id = order["order_id"]
        deposit, shipment, final = (m["milestone_id"] for m in order["milestones"])
        self.step(f"Order {self.order_id}: {Money(TOTAL, CURRENCY)} in three milestones 30/40/30")

        funding = await self.call(
            self.escrow, "POST", f"/v1/orders/{self.order_id}/fund", "platform", {}
        )
        self.step(f"Buyer pays by card: PaymentIntent {funding['stripe_payment_intent_id']}")
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": funding["stripe_payment_intent_id"],
                    "object": "payment_intent",
                    "amount": funding["amount"],
                    "amount_received": funding["amount"],
                    "currency": CURRENCY.lower(),
                    "latest_charge": f"ch_{uuid.uuid4().hex[:14]}",
                    "metadata": {"order_id": self.order_id, "payment_id": funding["payment_id"]},
                }
            },
        }
        body, headers = stripe_signed(event, self.s.stripe_webhook_secret.get_secret_value())
        r = await self.escrow.post("/v1/webhooks/stripe", content=body, headers=headers)
        if r.status_code != 200:
            raise DemoFailed(f"webhook -> {r.status_code}: {r.text}")
        funded = await self.order()
        self.step(
            f"Signed webhook payment_intent.succeeded: escrow funded {Money(funded['funded'], CURRENCY)}"
        )

        async def offer() -> Any:
            r = await self.financing.post(
                "/v1/quotes",
                json={
                    "order_id": self.order_id,
                    "supplier_id": "supplier-shenzhen",
                    "amount": 2_625_000,
                },
                headers=self.keys["supplier"] | {"Idempotency-Key": str(uuid.uuid4())},
            )
            return r.json() if r.status_code == 201 else None

        adv = await until("an advance offer (financing reads escrow's events)", offer)
        self.step(
            f"Supplier is offered an advance of {Money(adv['principal'], CURRENCY)} for a fee "
            f"of {Money(adv['fee'], CURRENCY)} (APR {Decimal(str(adv['apr'])) * 100:.2f}%), accepts it"
        )
        await self.call(
            self.financing,
            "POST",
            f"/v1/advances/{adv['advance_id']}/accept",
            "supplier",
            {"supplier_id": "supplier-shenzhen"},
        )

        async def disbursed() -> Any:
            a = await self.call(
                self.financing,
                "GET",
                f"/v1/advances/{adv['advance_id']}?supplier_id=supplier-shenzhen",
                "supplier",
            )
            if a["state"] in ("cancelled", "rejected"):
                raise DemoFailed(f"advance {a['state']}: {a['reasons']}")
            return a if a["stripe_transfer_id"] else None

        a = await until("the lien saga and the disbursement", disbursed)
        self.step(
            f"Escrow placed a lien; financing disbursed {Money(a['net'], CURRENCY)} "
            f"(transfer {a['stripe_transfer_id']})"
        )

        self.step(
            f"Deposit inspection window ({DEPOSIT_WINDOW_SECONDS}s) lapses; the durable timers "
            "accept and settle it…"
        )

        async def deposit_paid() -> Any:
            o = await self.order()
            return (
                o
                if any(
                    p["milestone_id"] == deposit and p.get("stripe_transfer_id")
                    for p in o["payouts"]
                )
                else None
            )

        await until("the deposit release", deposit_paid, within=120)
        shipped = {
            "kind": "shipment",
            "document": "bill_of_lading",
            "number": "MAEU-2231-778",
            "carrier": "Maersk",
            "tracking": "MSKU7781",
        }
        await self.call(
            self.escrow,
            "POST",
            f"/v1/orders/{self.order_id}/milestones/{shipment}/evidence",
            "supplier",
            {"evidence": shipped},
        )
        await self.call(
            self.escrow,
            "POST",
            f"/v1/orders/{self.order_id}/milestones/{shipment}/accept",
            "platform",
            {},
        )
        self.step("Shipment: bill of lading MAEU-2231-778 (Maersk) submitted; buyer accepts")
        for ev in (
            {"kind": "delivery", "delivered_at": "2026-11-20T10:00:00Z", "received_by": "Dock 4"},
            {"kind": "inspection", "inspector": "SGS", "report_id": "SGS-NL-5521", "passed": True},
        ):
            await self.call(
                self.escrow,
                "POST",
                f"/v1/orders/{self.order_id}/milestones/{final}/evidence",
                "supplier",
                {"evidence": ev},
            )
        await self.call(
            self.escrow,
            "POST",
            f"/v1/orders/{self.order_id}/milestones/{final}/accept",
            "platform",
            {},
        )
        self.step("Delivery and a passed SGS inspection; buyer accepts")

        async def completed() -> Any:
            o = await self.order()
            return o if o["status"] == "completed" else None

        done = await until("the order to complete", completed)
        return {"order": done, "advance": adv["advance_id"]}


async def run_trade(
    settings: Settings, console: Console, keys: dict[str, dict[str, str]] | None = None
) -> bool:
    """The whole trade for a new tenant, or with ``keys`` (headers by scope) of one."""
    tenant = f"demo-{uuid.uuid4().hex[:8]}"
    keys = keys or await create_keys(settings, tenant)
    console.print(f"\n[bold]A cross-border trade[/] (tenant {tenant})")
    trade = Trade(settings, console, keys)
    # A receiver on http://127.0.0.1 can be registered in development only.
    receiver = (
        DemoReceiver(settings, keys["platform"]) if settings.webhooks_allow_loopback else None
    )
    try:
        if receiver is not None:
            await receiver.start()
        result = await trade.run()
        books = await show_books(trade, result)
        # The second trade: EUR from the buyer, USD contract, CNY to the supplier.
        books = await FxTrade(trade).run() and books
        hooks = await receiver.show(console) if receiver else True
        await open_order(trade)
        await show_console(settings, console, trade)  # informs; the trade stands without it
        return hooks and books
    finally:
        if receiver is not None:
            await receiver.stop()
        for c in (trade.escrow, trade.ledger, trade.financing):
            await c.aclose()
