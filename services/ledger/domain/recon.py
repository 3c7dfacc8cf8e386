"""Reconciliation vocabulary: kinds of break, who owns each by default, how old a break is.

A break is a difference between the ledger and another record of the same money:
- against Stripe (balance transactions, matched by Stripe object id, amount, currency):
  ``missing_in_ledger``, ``missing_in_stripe``, ``amount_mismatch``;
- against the escrow service (per order): ``escrow_held_mismatch``, what it holds;
- three-way (escrow asked, per order): the money taken in through Stripe as the ledger,
  escrow and Stripe know it; ``ledger_disagrees``, ``escrow_disagrees``,
  ``stripe_disagrees`` name the odd one out, ``three_way_disagree`` when all differ.
Breaks are kept across runs: ``open`` until a run no longer finds it (``cleared``) or staff
``resolved`` it with a note; a cleared break that comes back is open again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID


class BreakKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_IN_STRIPE = "missing_in_stripe"
    AMOUNT_MISMATCH = "amount_mismatch"
    ESCROW_HELD_MISMATCH = "escrow_held_mismatch"
    DATE_MISMATCH = "date_mismatch"  # amounts agree, dates further apart than the rules allow
    # Three-way, per order: the money taken in through Stripe as the ledger, escrow and
    # Stripe each know it; the kind names the one of the three that disagrees.
    LEDGER_DISAGREES = "ledger_disagrees"
    ESCROW_DISAGREES = "escrow_disagrees"
    STRIPE_DISAGREES = "stripe_disagrees"
    THREE_WAY_DISAGREE = "three_way_disagree"  # all three differ


STRIPE_KINDS = (
    BreakKind.MISSING_IN_LEDGER,
    BreakKind.MISSING_IN_STRIPE,
    BreakKind.AMOUNT_MISMATCH,
    BreakKind.DATE_MISMATCH,
)
THREE_WAY_KINDS = (
    BreakKind.LEDGER_DISAGREES, BreakKind.ESCROW_DISAGREES, BreakKind.STRIPE_DISAGREES,
    BreakKind.THREE_WAY_DISAGREE,
)  # fmt: skip

DEFAULT_OWNER: dict[BreakKind, str] = {
    BreakKind.MISSING_IN_LEDGER: "ledger-ops",  # money moved at Stripe, no event booked it
    BreakKind.MISSING_IN_STRIPE: "payments-ops",  # booked, but Stripe has not (yet) got it
    BreakKind.AMOUNT_MISMATCH: "finance",
    BreakKind.ESCROW_HELD_MISMATCH: "escrow-ops",
    BreakKind.DATE_MISMATCH: "finance",
    BreakKind.LEDGER_DISAGREES: "ledger-ops",
    BreakKind.ESCROW_DISAGREES: "escrow-ops",
    BreakKind.STRIPE_DISAGREES: "payments-ops",
    BreakKind.THREE_WAY_DISAGREE: "finance",
}


def age_days(first_seen_at: datetime, now: datetime) -> int:
    return max((now - first_seen_at).days, 0)


class InvalidAgeRange(ValueError):
    """An age filter whose highest age is below its lowest."""


def first_seen_bounds(
    now: datetime, min_age_days: int | None, max_age_days: int | None
) -> tuple[datetime | None, datetime | None]:
    """``(seen_at_most, seen_after)``: a break is between ``min_age_days`` and
    ``max_age_days`` old (both included, in ``age_days``) exactly when its ``first_seen_at``
    is at most the first and after the second (None: no bound)."""
    if min_age_days is not None and max_age_days is not None and max_age_days < min_age_days:
        raise InvalidAgeRange(
            f"max_age_days ({max_age_days}) is below min_age_days ({min_age_days})"
        )
    at_most = now - timedelta(days=min_age_days) if min_age_days else None
    after = now - timedelta(days=max_age_days + 1) if max_age_days is not None else None
    return at_most, after


class StripeLine(NamedTuple):
    """One Stripe balance transaction (from the API or a report CSV), in minor units."""

    balance_txn_id: str
    source_id: str
    type: str
    currency: str  # upper case ISO 4217
    amount: int  # gross, minor units, signed as on the Stripe balance
    fee: int
    created: datetime
    available_on: datetime | None = None  # when the money is available (a payout: arrives)
    tenant_id: str | None = None  # the tenant its source object's metadata names, if any
    order_id: str | None = None  # the order its source object's metadata names, if any
    # Stripe's ``exchange_rate`` (a decimal string) when it converted the source object's
    # money into this line's currency: the settlement of a conversion (domain/fx.py).
    exchange_rate: str | None = None


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


@dataclass(frozen=True, slots=True)
class ClearingBalance:
    """Stripe clearing in the ledger against the Stripe balance, one currency, at a moment.
    ``stripe`` is the sum of the nets of the tenant's balance transactions seen so far
    (which is Stripe's available + pending balance once runs have covered its history)."""

    currency: str
    clearing: int
    stripe: int

    @property
    def difference(self) -> int:
        return self.clearing - self.stripe


@dataclass(frozen=True, slots=True)
class RunWindow:
    """The ``[start, end)`` of ``created`` a run reconciles (None: unbounded on that side)."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidWindow(f"from ({self.start}) must be before to ({self.end})")

    @property
    def whole(self) -> bool:
        """All of it: the run may clear the breaks it no longer finds."""
        return self.start is None and self.end is None

    def holds(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


class InvalidWindow(ValueError):
    pass


class LineRefusal(StrEnum):
    """Why a run did not take a line as the tenant's (reported per line, never booked)."""

    NO_TENANT = "no_tenant"  # names no tenant, and the tenant has no own account to read
    OTHER_TENANT = "other_tenant"  # names another tenant, or is another tenant's already


class RefusedLine(NamedTuple):
    balance_txn_id: str
    code: LineRefusal


class ReportNotAttributable(ValueError):
    """Not one line of the report is attributable to the tenant: without tenant metadata
    columns, a report is a tenant's only when it has its own (connected) Stripe account."""


def attribute(line: StripeLine, tenant_id: str, own_account: bool) -> LineRefusal | None:
    """Why a line is not the tenant's, or None when it is: by the tenant its metadata
    names, or (from a source that says nothing of tenants) by being read from the tenant's
    own connected account (``own_account``); from such a source without one, the whole
    report is refused (``ReportNotAttributable``). Balance transaction ids are global: a
    line naming nobody is nobody's, never the uploader's by default."""
    if line.tenant_id == tenant_id:
        return None
    if line.tenant_id is None:  # the source says nothing of tenants
        if own_account:
            return None
        raise ReportNotAttributable(
            f"balance transaction {line.balance_txn_id} names no tenant (the report has no"
            " tenant metadata columns) and the tenant has no connected Stripe account: send"
            " a report with payment_metadata[tenant_id], or set the tenant's Stripe account"
        )
    return LineRefusal.NO_TENANT if line.tenant_id == "" else LineRefusal.OTHER_TENANT


def in_scope(
    lines: Iterable[StripeLine],
    tenant_id: str,
    window: RunWindow,
    own_account: bool = False,
    refused: list[RefusedLine] | None = None,
) -> Iterator[StripeLine]:
    """The lines a tenant's run sees: in the window, and attributable to the tenant
    (``attribute``); those in the window that are not go to ``refused``."""
    for line in lines:
        if not window.holds(line.created):
            continue
        why = attribute(line, tenant_id, own_account)
        if why is not None:
            if refused is not None:
                refused.append(RefusedLine(line.balance_txn_id, why))
            continue
        yield line._replace(tenant_id=tenant_id)


@dataclass(frozen=True, slots=True)
class EscrowHeld:
    """What escrow says of an order at a moment (``GET /v1/escrow/held``): what it held, and
    the money taken in through Stripe (Stripe fundings minus Stripe refunds)."""

    order_id: str
    currency: str
    held: int
    collected: int


def odd_one_out(ledger: int, escrow: int, stripe: int | None) -> BreakKind | None:
    """Which of the three disagrees about an order's money taken in through Stripe (None:
    they agree, or Stripe's figure is unknown)."""
    if stripe is None or ledger == escrow == stripe:
        return None
    if ledger == escrow:
        return BreakKind.STRIPE_DISAGREES
    if ledger == stripe:
        return BreakKind.ESCROW_DISAGREES
    if escrow == stripe:
        return BreakKind.LEDGER_DISAGREES
    return BreakKind.THREE_WAY_DISAGREE
