"""Reconciliation vocabulary: kinds of break, who owns each by default, how old a break is.

A break is a difference between the ledger and another record of the same money:
- against Stripe (balance transactions, matched by Stripe object id, amount, currency):
  ``missing_in_ledger``, ``missing_in_stripe``, ``amount_mismatch``;
- against the escrow service (three-way check, per order): ``escrow_held_mismatch``.
Breaks are kept across runs: ``open`` until a run no longer finds it (``cleared``) or staff
``resolved`` it with a note; a cleared break that comes back is open again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID


class BreakKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_IN_STRIPE = "missing_in_stripe"
    AMOUNT_MISMATCH = "amount_mismatch"
    ESCROW_HELD_MISMATCH = "escrow_held_mismatch"
    DATE_MISMATCH = "date_mismatch"  # amounts agree, dates further apart than the rules allow


STRIPE_KINDS = (
    BreakKind.MISSING_IN_LEDGER,
    BreakKind.MISSING_IN_STRIPE,
    BreakKind.AMOUNT_MISMATCH,
    BreakKind.DATE_MISMATCH,
)

DEFAULT_OWNER: dict[BreakKind, str] = {
    BreakKind.MISSING_IN_LEDGER: "ledger-ops",  # money moved at Stripe, no event booked it
    BreakKind.MISSING_IN_STRIPE: "payments-ops",  # booked, but Stripe has not (yet) got it
    BreakKind.AMOUNT_MISMATCH: "finance",
    BreakKind.ESCROW_HELD_MISMATCH: "escrow-ops",
    BreakKind.DATE_MISMATCH: "finance",
}


def age_days(first_seen_at: datetime, now: datetime) -> int:
    return max((now - first_seen_at).days, 0)


class StripeLine(NamedTuple):
    """One Stripe balance transaction (from the API or a report CSV), in minor units."""

    balance_txn_id: str
    source_id: str
    type: str
    currency: str  # upper case ISO 4217
    amount: int  # gross, minor units, signed as on the Stripe balance
    fee: int
    created: datetime


class ReportFormatError(ValueError):
    """A Stripe report that cannot be read (not UTF-8, a column missing, a bad amount)."""


@dataclass(frozen=True, slots=True)
class HeldReport:
    """What the escrow service says an order holds (``held_after`` of a money event)."""

    tenant_id: str
    order_id: str
    currency: str
    held_after: int
    as_of: datetime
    event_id: UUID


def latest_reports(reports: Iterable[HeldReport]) -> list[HeldReport]:
    """The latest report per order and currency (by event time, then UUIDv7 event id)."""
    latest: dict[tuple[str, str, str], HeldReport] = {}
    for r in reports:
        key = (r.tenant_id, r.order_id, r.currency)
        seen = latest.get(key)
        if seen is None or (r.as_of, r.event_id) > (seen.as_of, seen.event_id):
            latest[key] = r
    return list(latest.values())
