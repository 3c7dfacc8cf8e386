"""A Stripe balance report CSV of what a trade moved through Stripe, for reconciliation.

stripe-mock makes PaymentIntents, transfers and refunds, but keeps no balance: it has no
balance transactions, no processing fees and no payouts. This writes the report Stripe's
itemised balance change report would hold for them (the columns the ledger reads,
``services/ledger/adapters/stripe_source.py``): one line per charge (with Stripe's card
processing fee), transfer and refund that escrow and financing recorded (their ids and
amounts read from the services' APIs), the tenant and order in the object's metadata as
escrow and financing write it, and the payouts of the balance to the platform's bank.
Amounts in major units, as Stripe's reports give them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.money import Money

# Stripe's standard card pricing: 2.9% + a fixed part per successful charge (its currency).
CARD_FEE_BPS = 290
CARD_FEE_FIXED = {"USD": 30, "EUR": 25, "GBP": 20}

COLUMNS = (
    "balance_transaction_id", "created_utc", "available_on_utc", "currency", "gross", "fee",
    "net", "reporting_category", "source_id", "description", "payment_metadata[tenant_id]",
    "payment_metadata[order_id]", "transfer_metadata[tenant_id]", "transfer_metadata[order_id]",
    "metadata[tenant_id]",
)  # fmt: skip


@dataclass(frozen=True)
class BalanceLine:
    """One balance transaction; ``gross`` and ``fee`` in minor units, ``net = gross - fee``."""

    id: str
    category: str  # the report's reporting_category: charge, refund, transfer, payout
    source_id: str
    currency: str
    gross: int
    fee: int
    created: datetime
    tenant_id: str
    order_id: str | None = None
    available_on: datetime | None = None
    description: str = ""

    @property
    def net(self) -> int:
        return self.gross - self.fee


def card_fee(amount: int, currency: str) -> int:
    """Stripe's processing fee on a card charge: 2.9% (half up) + the fixed part."""
    return (amount * CARD_FEE_BPS + 5_000) // 10_000 + CARD_FEE_FIXED.get(currency.upper(), 30)


def order_lines(order: Mapping[str, Any], at: datetime) -> list[BalanceLine]:
    """The balance transactions of an order as escrow shows it (``GET /v1/orders/{id}``):
    its succeeded card payments' charges, its payouts' transfers, its Stripe refunds."""
    tenant, oid, cur = order["tenant_id"], order["order_id"], order["currency"]
    lines = [
        BalanceLine(f"txn_{p['stripe_charge_id']}", "charge", p["stripe_charge_id"], cur,
                    p["amount"], card_fee(p["amount"], cur), at, tenant, oid,
                    description=f"order {oid}: card payment")
        for p in order["payments"]
        if p["status"] == "succeeded" and p.get("stripe_charge_id")
    ]  # fmt: skip
    lines += [
        BalanceLine(f"txn_{p['stripe_transfer_id']}", "transfer", p["stripe_transfer_id"], cur,
                    -p["supplier_net"], 0, at, tenant, oid,
                    description=f"order {oid}: release to the supplier")
        for p in order["payouts"]
        if p.get("stripe_transfer_id")
    ]  # fmt: skip
    lines += [
        BalanceLine(f"txn_{r['stripe_refund_id']}", "refund", r["stripe_refund_id"], cur,
                    -r["amount"], 0, at, tenant, oid, description=f"order {oid}: refund")
        for r in order["refunds"]
        if r.get("stripe_refund_id") and r["status"] == "done"
    ]  # fmt: skip
    return lines


def advance_line(advance: Mapping[str, Any], tenant_id: str, at: datetime) -> BalanceLine | None:
    """Financing's disbursement of an advance (``GET /v1/advances/{id}``): its transfer."""
    transfer = advance.get("stripe_transfer_id")
    if not transfer:
        return None
    return BalanceLine(f"txn_{transfer}", "transfer", transfer, advance["currency"],
                       -advance["net"], 0, at, tenant_id, advance["order_id"],
                       description=f"advance {advance['advance_id']}")  # fmt: skip


def payout_line(
    payout_id: str, tenant_id: str, currency: str, amount: int, at: datetime
) -> BalanceLine:
    """A payout of ``amount`` to the bank, created at ``at`` and arrived a second later."""
    return BalanceLine(f"txn_{payout_id}", "payout", payout_id, currency.upper(), -amount, 0, at,
                       tenant_id, available_on=at + timedelta(seconds=1),
                       description="STRIPE PAYOUT")  # fmt: skip


def balances(lines: Iterable[BalanceLine]) -> dict[tuple[str, str], int]:
    """The Stripe balance per tenant and currency after the lines: the sum of their nets."""
    out: dict[tuple[str, str], int] = {}
    for ln in lines:
        out[ln.tenant_id, ln.currency] = out.get((ln.tenant_id, ln.currency), 0) + ln.net
    return out


def _major(minor: int, currency: str) -> str:
    return Money(minor, currency).format().split()[0].replace(",", "")


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else ""


def report_csv(lines: Sequence[BalanceLine]) -> str:
    """The lines as a Stripe itemised balance report: the tenant (and order) in the metadata
    columns of the object's kind (a payment's for charges and refunds, a transfer's for
    transfers, the payout's own for payouts)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for ln in lines:
        payment = ln.category in ("charge", "refund")
        transfer = ln.category == "transfer"
        other = not (payment or transfer)
        writer.writerow([
            ln.id, _when(ln.created), _when(ln.available_on or ln.created), ln.currency.lower(),
            _major(ln.gross, ln.currency), _major(ln.fee, ln.currency),
            _major(ln.net, ln.currency), ln.category, ln.source_id, ln.description,
            ln.tenant_id if payment else "", (ln.order_id or "") if payment else "",
            ln.tenant_id if transfer else "", (ln.order_id or "") if transfer else "",
            ln.tenant_id if other else "",
        ])  # fmt: skip
    return out.getvalue()
