"""Booking Stripe's own balance movements: what no escrow or financing event books.

Escrow and financing events book the gross of the money they move (charges, refunds,
transfers). Everything else that changes the Stripe balance is booked from the balance
transactions reconciliation reads, one journal transaction per balance transaction:

- a processing fee on any balance transaction (``fee``): Dr psp_fee_expense / Cr
  stripe_clearing (a fee refunded: the other way round);
- a payout to the platform's bank: Dr payouts_in_transit / Cr stripe_clearing, dated
  ``created``; its arrival, once ``available_on`` (the arrival date) has passed: Dr bank /
  Cr payouts_in_transit, dated ``available_on``;
- a failed or cancelled payout (the money back on the balance): Dr stripe_clearing / Cr
  payouts_in_transit, or Cr bank when its arrival was booked already;
- Stripe's own fees billed on the balance (``stripe_fee``, ``network_cost``, ...):
  stripe_clearing against psp_fee_expense;
- reserves held or released: stripe_clearing against stripe_reserve;
- disputes: the disputed amount Stripe withdrew, Dr disputed_funds / Cr stripe_clearing;
  a dispute won (``dispute_reversal``) puts it back, Dr stripe_clearing / Cr
  disputed_funds; a dispute lost is cleared by escrow's ``chargeback`` refund (Dr
  escrow_held / Cr disputed_funds); the dispute's fee is its ``fee``, booked as above;
- transfer reversals (``transfer_reversal``, ``reversal``, the API's ``transfer_refund``,
  ``transfer_cancel``, ``transfer_failure``): money pulled back from a supplier's connected
  account is owed to the supplier again, Dr stripe_clearing / Cr supplier_payable;
- refund failures (``refund_failure``, in the API and in reports: a refund that failed, the
  money back on the balance): the refund escrow booked did not reach the buyer, owed it
  still, Dr stripe_clearing / Cr refunds_payable;
- other adjustments: stripe_clearing against suspense, for finance to classify.

The clearing lines carry the source object id (charge, payout, dispute...) as
``external_ref``. The source event id of each booking is derived from the balance
transaction id (``source_of``), so the journal's unique source event id, with the unique
balance transaction id of ``stripe_balance_transactions``, books each one once.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID, uuid5

from services.ledger.domain.chart import (
    BANK,
    DISPUTED_FUNDS,
    PAYOUTS_IN_TRANSIT,
    PSP_FEE_EXPENSE,
    REFUNDS_PAYABLE,
    STRIPE_CLEARING,
    STRIPE_RESERVE,
    SUPPLIER_PAYABLE,
    SUSPENSE,
)
from services.ledger.domain.journal import JournalDraft, Line
from services.ledger.domain.recon import StripeLine

NAMESPACE = UUID("5d2f0a8e-6c1b-4f47-9a3e-2b7c1d9e4f10")  # fixed: ids must never change
SC = STRIPE_CLEARING.code

# API ``type`` values and report ``reporting_category`` values, by what books their gross.
PAYOUTS = frozenset({"payout"})
PAYOUT_RETURNS = frozenset({"payout_failure", "payout_cancel", "payout_reversal"})
STRIPE_FEES = frozenset({"stripe_fee", "fee", "network_cost", "tax_fee", "stripe_fx_fee"})
RESERVES = frozenset({
    "reserve_transaction", "reserved_funds", "risk_reserved_funds", "reserve_hold",
    "reserve_release", "payment_network_reserve_hold", "payment_network_reserve_release",
    "payout_minimum_balance_hold", "payout_minimum_balance_release",
    "connect_reserved_funds", "payment_network_reserved_funds",
})  # fmt: skip
DISPUTES = frozenset({"dispute", "dispute_reversal"})
TRANSFER_REVERSALS = frozenset({
    "transfer_reversal", "reversal", "transfer_refund", "transfer_cancel", "transfer_failure",
})  # fmt: skip
REFUND_FAILURES = frozenset({"refund_failure"})
ADJUSTMENTS = frozenset({"adjustment", "other_adjustment"})
# Their gross is booked here; every other type's gross is booked by an event (charge,
# payment, refund, transfer...) and is what reconciliation matches.
SELF_BOOKED = (
    PAYOUTS | PAYOUT_RETURNS | STRIPE_FEES | RESERVES | DISPUTES | TRANSFER_REVERSALS
    | REFUND_FAILURES | ADJUSTMENTS
)  # fmt: skip
# The money a buyer paid for an order through Stripe, and what went back: the lines that
# count, by the order their metadata names, in the three-way check.
GROSS_BY_ORDER = frozenset({"charge", "payment", "refund", "payment_refund"})


def source_of(balance_txn_id: str, leg: str = "movement") -> UUID:
    """The source event id of a balance transaction's booking (``arrival``: a payout's)."""
    return uuid5(NAMESPACE, f"stripe:{leg}:{balance_txn_id}")


def movement(tenant_id: str, line: StripeLine, arrived: bool = False) -> JournalDraft | None:
    """The booking of one balance transaction, or None when an event books all of it.
    ``arrived``: for a payout return, whether the payout's arrival was booked."""
    c, ref, kind = line.currency, line.source_id, line.type
    lines: list[Line] = []
    if kind in SELF_BOOKED and line.amount:
        other = (
            PAYOUTS_IN_TRANSIT.code if kind in PAYOUTS
            else (BANK.code if arrived else PAYOUTS_IN_TRANSIT.code) if kind in PAYOUT_RETURNS
            else PSP_FEE_EXPENSE.code if kind in STRIPE_FEES
            else STRIPE_RESERVE.code if kind in RESERVES
            else DISPUTED_FUNDS.code if kind in DISPUTES
            else SUPPLIER_PAYABLE.code if kind in TRANSFER_REVERSALS
            else REFUNDS_PAYABLE.code if kind in REFUND_FAILURES
            else SUSPENSE.code
        )  # fmt: skip
        lines += [Line(SC, c, line.amount, external_ref=ref), Line(other, c, -line.amount)]
    if line.fee:
        lines += [Line(PSP_FEE_EXPENSE.code, c, line.fee), Line(SC, c, -line.fee, external_ref=ref)]
    if not lines:
        return None
    what = f"fee on {kind} {ref}" if kind not in SELF_BOOKED else f"{kind} {ref}"
    source = source_of(line.balance_txn_id)
    return JournalDraft(
        id=source, tenant_id=tenant_id, posted_at=line.created, source_event_id=source,
        source_type=f"stripe.{kind if kind in SELF_BOOKED else 'fee'}",
        memo=f"Stripe {what} (balance transaction {line.balance_txn_id})", lines=tuple(lines),
    )  # fmt: skip


def arrival(tenant_id: str, payout: StripeLine) -> JournalDraft:
    """A payout arrived at the bank on its ``available_on`` date."""
    assert payout.type in PAYOUTS and payout.available_on is not None
    source = source_of(payout.balance_txn_id, "arrival")
    amount = -payout.amount  # a payout's balance transaction is negative
    return JournalDraft(
        id=source, tenant_id=tenant_id, posted_at=payout.available_on, source_event_id=source,
        source_type="stripe.payout_arrival",
        memo=f"Stripe payout {payout.source_id} arrived (balance transaction "
        f"{payout.balance_txn_id})",
        lines=(
            Line(BANK.code, payout.currency, amount),
            Line(PAYOUTS_IN_TRANSIT.code, payout.currency, -amount, external_ref=payout.source_id),
        ),
    )  # fmt: skip


def event_booked(lines: Iterable[StripeLine]) -> list[StripeLine]:
    """The lines whose gross an event books: what reconciliation matches against the journal."""
    return [line for line in lines if line.type not in SELF_BOOKED]
