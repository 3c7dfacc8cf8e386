"""The demo's second trade: three currencies (issue 14, docs/fx.md).

A buyer in Frankfurt pays EUR for USD 80,000.00 of machine parts from the Shenzhen supplier,
who is paid in CNY. Finance imports the mid rates first (EUR/USD, USD/CNY) and sets the
tenant's FX markup and policy ("order": the payout rate is locked once, at funding). The
platform asks escrow for a funding quote (EUR -> USD, crediting the total exactly) and a
payout quote (USD -> CNY, of the total), prints them with their rates, and funds the order
with both. The supplier takes an advance paid in CNY at the locked payout rate less the
financing policy's haircut; the releases pay out in CNY and repay the advance in USD. At the
end the FX lines of the books: each currency's FX accounts and the trial balance in the
reporting currency.

Helpers that only shape what is printed (``quote_text``, ``offer_text``, ``fx_lines``,
``reporting_lines``) are pure and unit-tested (tests/unit/test_demo_fx_trade.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.table import Table

from services.demo.support import DemoFailed, stripe_signed, until
from shared.money import Money

if TYPE_CHECKING:
    from services.demo.trade import Trade

CONTRACT, FUNDING, PAYOUT = "USD", "EUR", "CNY"
FX_TOTAL = 8_000_000  # USD 80,000.00
SUPPLIER = "supplier-shenzhen"
# Mid rates finance imports (major units of `to` per one `from`), the platform's FX markup,
# and the financing haircut on the locked payout rate.
RATES = (("EUR", "USD", "1.0842"), ("USD", "CNY", "7.1185"))
MARKUP_BPS = 50
HAIRCUT_BPS = 150
# The ledger's FX accounts (docs/fx.md): shown per currency at the end.
FX_ACCOUNTS = (
    "fx_clearing",
    "fx_revenue",
    "realised_fx_gain",
    "realised_fx_loss",
    "unrealised_fx",
    "escrow_revaluation",
)


def money(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def quote_text(q: dict[str, Any]) -> str:
    """One quote as the demo prints it: both amounts, the mid and customer rates, the markup
    and the expiry."""
    return (
        f"{q['side']} quote {q['id']}: {money(q['from_amount'], q['from_currency'])} -> "
        f"{money(q['to_amount'], q['to_currency'])} at {q['rate']} "
        f"{q['to_currency']}/{q['from_currency']} (mid {q['mid_rate']}, markup "
        f"{q['markup_bps']} bp), expires {q['expires_at']}"
    )


def offer_text(a: dict[str, Any]) -> str:
    """An advance offer in both currencies: what is owed (contract) and what is paid (payout)."""
    text = (
        f"advance {money(a['principal'], a['currency'])} (fee {money(a['fee'], a['currency'])}, "
        f"net {money(a['net'], a['currency'])})"
    )
    payout = a.get("payout")
    if payout:
        text += (
            f", paid as {money(payout['net'], payout['currency'])} at {payout['rate']} "
            f"(locked {payout['locked_rate']} less {payout['fx_haircut_bps']} bp haircut)"
        )
    return text


def fx_lines(trial_balance: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """(currency, number, name, debit, credit) of every FX account line of the per-currency
    trial balance (``GET /v1/ledger/trial-balance``), by currency then account number."""
    found = []
    for block in trial_balance.get("currencies", []):
        for line in block["lines"]:
            if line["account"] in FX_ACCOUNTS:
                found.append(
                    (block["currency"], line["number"], line["name"], line["debit"], line["credit"])
                )
    return sorted(found, key=lambda x: (x[0], x[1]))


def reporting_lines(tb: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    """(number, name, debit, credit) of the reporting-currency trial balance's lines."""
    return [(x["number"], x["name"], x["debit"], x["credit"]) for x in tb["lines"]]


class FxTrade:
    """The three-currency trade, on the first trade's clients and keys (same tenant)."""

    def __init__(self, trade: Trade) -> None:
        self.t = trade
        self.console = trade.console

    async def run(self) -> bool:
        t = self.t
        now = datetime.now(UTC).replace(microsecond=0)
        self.console.print("\n[bold]A trade in three currencies[/]: EUR in, USD contract, CNY out")
        await t.call(t.escrow, "PUT", "/v1/fx/settings", "finance",
                     {"markup_bps": MARKUP_BPS, "policy": "order", "quote_ttl_seconds": 900})  # fmt: skip
        rates = [
            {"from_currency": f, "to_currency": to, "mid_rate": mid,
             "effective_at": (now - timedelta(minutes=1)).isoformat(), "source": "demo: ECB"}
            for f, to, mid in RATES
        ]  # fmt: skip
        await t.call(t.escrow, "POST", "/v1/fx/rates", "finance", {"rates": rates})
        t.step(
            "Finance imports mid rates "
            + ", ".join(f"{f}/{to} {mid}" for f, to, mid in RATES)
            + f"; FX markup {MARKUP_BPS} bp, payout rate locked per order at funding"
        )
        await t.call(t.financing, "PUT", f"/v1/policies/{CONTRACT}", "finance",
                     {"advance_rate_bps": 8_000, "daily_fee_rate": "0.0005",
                      "fx_haircut_bps": HAIRCUT_BPS})  # fmt: skip
        t.step(f"Financing: advances in another payout currency take a {HAIRCUT_BPS} bp haircut")

        order = await t.call(t.escrow, "POST", "/v1/orders", "platform", {
            "buyer_id": "buyer-frankfurt", "supplier_id": SUPPLIER,
            "supplier_account_id": "acct_1SupplierShenzhen",
            "currency": CONTRACT, "funding_currency": FUNDING, "payout_currency": PAYOUT,
            "total": FX_TOTAL,
            "milestones": [
                {"name": "Shipment (bill of lading)", "percent_bps": 6_000, "kind": "shipment"},
                {"name": "Delivery + inspection", "percent_bps": 4_000, "kind": "inspection",
                 "evidence_required": ["delivery", "inspection"]},
            ],
            "metadata": {"platform_order": "FRA-SZX-0043", "incoterm": "CIF"},
        })  # fmt: skip
        oid = order["order_id"]
        shipment, final = (m["milestone_id"] for m in order["milestones"])
        t.step(
            f"Order {oid}: {money(FX_TOTAL, CONTRACT)}, 60/40; buyer pays {FUNDING}, "
            f"supplier paid in {PAYOUT}"
        )

        funding_q = await t.call(t.escrow, "POST", "/v1/fx/quotes", "platform", {
            "from_currency": FUNDING, "to_currency": CONTRACT, "amount": FX_TOTAL,
            "side": "funding",
        })  # fmt: skip
        payout_q = await t.call(t.escrow, "POST", "/v1/fx/quotes", "platform", {
            "from_currency": CONTRACT, "to_currency": PAYOUT, "amount": FX_TOTAL,
            "side": "payout",
        })  # fmt: skip
        for q in (funding_q, payout_q):
            t.step(quote_text(q))

        funding = await t.call(t.escrow, "POST", f"/v1/orders/{oid}/fund", "platform",
                               {"quote_id": funding_q["id"], "payout_quote_id": payout_q["id"]})  # fmt: skip
        t.step(
            f"Buyer pays {money(funding['amount'], funding['currency'])} by card "
            f"(PaymentIntent {funding['stripe_payment_intent_id']}), crediting "
            f"{money(funding['credits'], CONTRACT)}; payout rate locked at "
            f"{(funding.get('payout_lock') or {}).get('rate')} {PAYOUT}/{CONTRACT}"
        )
        await self.paid(oid, funding)

        async def offer() -> Any:
            r = await t.financing.post(
                "/v1/quotes",
                json={"order_id": oid, "supplier_id": SUPPLIER},
                headers=t.keys["supplier"] | {"Idempotency-Key": str(uuid.uuid4())},
            )
            return r.json() if r.status_code == 201 else None

        adv = await until("an advance offer on the FX order", offer)
        t.step(f"Supplier is offered an {offer_text(adv)}; accepts it")
        await t.call(t.financing, "POST", f"/v1/advances/{adv['advance_id']}/accept",
                     "supplier", {"supplier_id": SUPPLIER})  # fmt: skip

        async def disbursed() -> Any:
            a = await t.call(t.financing, "GET",
                             f"/v1/advances/{adv['advance_id']}?supplier_id={SUPPLIER}", "supplier")  # fmt: skip
            if a["state"] in ("cancelled", "rejected"):
                raise DemoFailed(f"FX advance {a['state']}: {a['reasons']}")
            return a if a["stripe_transfer_id"] else None

        a = await until("the FX advance's disbursement", disbursed)
        paid = a["payout"] or {"net": a["net"], "currency": a["currency"]}
        t.step(
            f"Financing transferred {money(paid['net'], paid['currency'])} "
            f"(transfer {a['stripe_transfer_id']}); the lien is "
            f"{money(a['principal'], a['currency'])}"
        )

        await t.call(t.escrow, "POST", f"/v1/orders/{oid}/milestones/{shipment}/evidence",
                     "supplier", {"evidence": {"kind": "shipment", "document": "bill_of_lading",
                                               "number": "COSU-6620-114", "carrier": "COSCO",
                                               "tracking": "CSNU6620114"}})  # fmt: skip
        await t.call(t.escrow, "POST", f"/v1/orders/{oid}/milestones/{shipment}/accept",
                     "platform", {})  # fmt: skip
        for ev in (
            {"kind": "delivery", "delivered_at": "2026-12-01T10:00:00Z", "received_by": "Gate 2"},
            {"kind": "inspection", "inspector": "SGS", "report_id": "SGS-DE-7730", "passed": True},
        ):
            await t.call(t.escrow, "POST", f"/v1/orders/{oid}/milestones/{final}/evidence",
                         "supplier", {"evidence": ev})  # fmt: skip
        await t.call(t.escrow, "POST", f"/v1/orders/{oid}/milestones/{final}/accept",
                     "platform", {})  # fmt: skip
        t.step("Shipment and a passed inspection accepted; the releases pay out in CNY")

        async def completed() -> Any:
            o = await t.call(t.escrow, "GET", f"/v1/orders/{oid}", "platform")
            return o if o["status"] == "completed" else None

        done = await until("the FX order to complete", completed)
        self.show_payouts(done)
        return await self.show_fx_books()

    async def paid(self, oid: str, funding: dict[str, Any]) -> None:
        """Stripe's signed payment_intent.succeeded, in the funding currency."""
        t = self.t
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
                    "currency": funding["currency"].lower(),
                    "latest_charge": f"ch_{uuid.uuid4().hex[:14]}",
                    "metadata": {"order_id": oid, "payment_id": funding["payment_id"]},
                }
            },
        }
        body, headers = stripe_signed(event, t.s.stripe_webhook_secret.get_secret_value())
        r = await t.escrow.post("/v1/webhooks/stripe", content=body, headers=headers)
        if r.status_code != 200:
            raise DemoFailed(f"webhook -> {r.status_code}: {r.text}")

    def show_payouts(self, order: dict[str, Any]) -> None:
        table = Table(title=f"Releases of order {order['order_id']} ({CONTRACT} -> {PAYOUT})")
        for col in ("milestone", "gross", "advance repaid", "to supplier", "sent", "rate"):
            table.add_column(col, justify="left" if col == "milestone" else "right")
        names = {m["milestone_id"]: m["name"] for m in order["milestones"]}
        for p in order["payouts"]:
            fx = p.get("payout_fx") or {}
            sent = money(fx["to_amount"], fx["to_currency"]) if fx else "-"
            table.add_row(
                names.get(p["milestone_id"], p["milestone_id"]),
                money(p["gross"], CONTRACT),
                money(p["lien_repayment"], CONTRACT),
                money(p["supplier_net"], CONTRACT),
                sent,
                str(fx.get("rate", "-")),
            )
        self.console.print(table)

    async def show_fx_books(self) -> bool:
        """The FX accounts of each currency's books and, once finance set a reporting
        currency and closing rates, the trial balance in it. Informative: a ledger without
        FX accounts shows none."""
        t = self.t

        async def posted() -> Any:
            tb = await t.call(t.ledger, "GET", "/v1/ledger/trial-balance", "finance")
            return tb if fx_lines(tb) else None

        try:
            tb = await until("the ledger's FX postings", posted, within=60)
        except DemoFailed:
            self.console.print("[yellow]The ledger shows no FX lines.[/]")
            return True
        table = Table(title="FX lines of the books, per currency")
        for col in ("currency", "account", "name", "debit", "credit"):
            table.add_column(col, justify="right" if col in ("debit", "credit") else "left")
        for ccy, number, name, debit, credit in fx_lines(tb):
            table.add_row(ccy, number, name, money(debit, ccy), money(credit, ccy))
        self.console.print(table)
        balanced = all(block["difference"] == 0 for block in tb["currencies"])
        self.console.print(
            "[green]Every currency's trial balance is zero.[/]"
            if balanced
            else "[red]A currency's trial balance is out of balance![/]"
        )
        return balanced and await self.show_reporting()

    async def show_reporting(self) -> bool:
        t = self.t
        now = datetime.now(UTC).replace(microsecond=0)
        r = await t.ledger.put(
            "/v1/ledger/fx/reporting-currency", json={"currency": CONTRACT},
            headers=t.keys["finance"] | {"Idempotency-Key": str(uuid.uuid4())},
        )  # fmt: skip
        if r.status_code == 404:
            return True  # a ledger without a reporting currency: nothing more to show
        for base, quote, rate in (("EUR", "USD", "1.0842"), ("CNY", "USD", "0.1405")):
            await t.call(t.ledger, "POST", "/v1/ledger/fx/rates", "finance",
                         {"base": base, "quote": quote, "rate": rate,
                          "as_of": (now - timedelta(seconds=1)).isoformat(),
                          "source": "demo: closing"})  # fmt: skip
        rtb = await t.call(t.ledger, "GET", "/v1/ledger/fx/trial-balance", "finance")
        table = Table(title=f"Trial balance in the reporting currency ({rtb['currency']})")
        for col in ("account", "name", "debit", "credit"):
            table.add_column(col, justify="right" if col in ("debit", "credit") else "left")
        for number, name, debit, credit in reporting_lines(rtb):
            table.add_row(
                number, name, money(debit, rtb["currency"]), money(credit, rtb["currency"])
            )
        self.console.print(table)
        self.console.print(
            f"Closing rates {rtb['rates']}; translation difference "
            f"{money(rtb['translation_difference'], rtb['currency'])}"
        )
        return True
