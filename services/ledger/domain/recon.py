"""Reconciliation vocabulary: kinds of break, who owns each by default, how old a break is.

A break is a difference between the ledger and another record of the same money:
- against Stripe (balance transactions, matched by Stripe object id, amount, currency):
  ``missing_in_ledger``, ``missing_in_stripe``, ``amount_mismatch``;
- against the escrow service (three-way check, per order): ``escrow_held_mismatch``.
Breaks are kept across runs: ``open`` until a run no longer finds it (``cleared``) or staff
``resolved`` it with a note; a cleared break that comes back is open again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class BreakKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_IN_STRIPE = "missing_in_stripe"
    AMOUNT_MISMATCH = "amount_mismatch"
    ESCROW_HELD_MISMATCH = "escrow_held_mismatch"


STRIPE_KINDS = (BreakKind.MISSING_IN_LEDGER, BreakKind.MISSING_IN_STRIPE, BreakKind.AMOUNT_MISMATCH)

DEFAULT_OWNER: dict[BreakKind, str] = {
    BreakKind.MISSING_IN_LEDGER: "ledger-ops",  # money moved at Stripe, no event booked it
    BreakKind.MISSING_IN_STRIPE: "payments-ops",  # booked, but Stripe has not (yet) got it
    BreakKind.AMOUNT_MISMATCH: "finance",
    BreakKind.ESCROW_HELD_MISMATCH: "escrow-ops",
}


def age_days(first_seen_at: datetime, now: datetime) -> int:
    return max((now - first_seen_at).days, 0)
