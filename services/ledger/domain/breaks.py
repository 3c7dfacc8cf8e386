"""Working a reconciliation break: comments, assignment, resolution (maker-checker), bulk
resolution, and the tenant's matching rules.

- A **finance user** is who a finance key acts as (``apikey:<name>``): keys that share a
  name (a key and its rotated successor) are one user.
- A **resolution** has a reason and, where money must move, an adjusting transaction that
  is linked to the break. An adjustment above the tenant's ``approval_threshold`` (per
  currency, minor units: the sum of its debits in that currency) waits for a **checker**,
  a finance user other than its **maker**; at or below it, it is posted at once.
- A resolved break stays resolved; a break with a resolution waiting for approval takes no
  other resolution until it is approved.
- The **approval policy** is itself under maker-checker: a raise of a threshold waits, as
  ``ThresholdChange``, for a finance user other than the one who asked for it; a lower
  threshold (stricter) applies at once. Otherwise one user could raise it and resolve alone.
- **Matching rules** (per tenant and currency): a Stripe object matches the ledger when the
  amounts differ by at most ``amount_tolerance`` minor units and, when a ``date_window_days``
  is set, their latest dates are at most that many days apart (else ``date_mismatch``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.ledger.domain.staff import StaffLine


class BreakResolved(Exception):
    """The break is resolved already: it stays so."""


class ResolutionPending(Exception):
    """The break has a resolution waiting for a checker's approval."""


class NoPendingResolution(Exception):
    """There is nothing waiting for approval on this break."""


class SameUserApproval(Exception):
    """The maker of an adjustment cannot be its checker."""


class NoPendingThreshold(Exception):
    """No raise of this currency's approval threshold waits for approval."""


class ApprovalRequired(Exception):
    """An adjustment above the tenant's threshold: it must be asked for, then approved by a
    second finance user (``POST /v1/ledger/adjustment-requests``)."""


class NoPendingAdjustment(Exception):
    """No such adjustment waits for approval (unknown, or applied already)."""


class NotAFinanceUser(ValueError):
    """An assignee that no valid finance key of the tenant acts as."""


@dataclass(frozen=True, slots=True)
class Refusal:
    break_id: int
    code: str
    message: str


class BulkResolveRefused(Exception):
    """A bulk resolution that some of its breaks refuse: none of them was resolved."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        super().__init__(f"{len(refusals)} of the breaks cannot be resolved; none was")
        self.refusals = list(refusals)


@dataclass(frozen=True, slots=True)
class MatchRules:
    currency: str
    amount_tolerance: int = 0  # minor units
    date_window_days: int | None = None  # None: dates are not compared
    approval_threshold: int = 0  # adjustments above it need a second finance user


@dataclass(frozen=True, slots=True)
class ThresholdChange:
    """A raise of a currency's approval threshold, waiting for a second finance user."""

    currency: str
    threshold: int
    maker: str
    made_at: datetime


def raises_threshold(current: MatchRules | None, wanted: MatchRules) -> bool:
    """Whether ``wanted`` loosens maker-checker: a higher threshold lets more adjustments
    through on one user's word, so it waits for a checker (a lower one applies at once)."""
    return wanted.approval_threshold > (current.approval_threshold if current else 0)


Kind = Literal["matched", "missing_in_ledger", "missing_in_stripe", "amount_mismatch",
               "date_mismatch"]  # fmt: skip


def classify(
    ledger_amount: int | None,
    stripe_amount: int | None,
    ledger_at: datetime | None,
    stripe_at: datetime | None,
    rules: MatchRules | None,
) -> Kind:
    """What a run calls one Stripe object (``adapters/recon.py`` says the same in SQL)."""
    if ledger_amount is None:
        return "missing_in_ledger"
    if stripe_amount is None:
        return "missing_in_stripe"
    tolerance = rules.amount_tolerance if rules else 0
    if abs(ledger_amount - stripe_amount) > tolerance:
        return "amount_mismatch"
    window = rules.date_window_days if rules else None
    apart = abs(stripe_at - ledger_at) if ledger_at and stripe_at else timedelta(0)
    if window is not None and apart > timedelta(days=window):
        return "date_mismatch"
    return "matched"


def debits_by_currency(lines: Sequence[StaffLine]) -> dict[str, int]:
    """An adjustment's size per currency: the sum of its debits (= of its credits)."""
    sizes: dict[str, int] = {}
    for ln in lines:
        sizes[ln.currency] = sizes.get(ln.currency, 0) + ln.debit
    return sizes


def needs_approval(lines: Sequence[StaffLine], rules: Mapping[str, MatchRules]) -> bool:
    """Whether an adjustment is above its tenant's threshold in any of its currencies (no
    rules for a currency: threshold 0, every adjustment in it needs a checker)."""
    return any(
        size > (rules[cur].approval_threshold if cur in rules else 0)
        for cur, size in debits_by_currency(lines).items()
    )


def check_resolvable(status: str, pending: bool) -> None:
    if status == "resolved":
        raise BreakResolved("the break is resolved already")
    if pending:
        raise ResolutionPending("the break has a resolution waiting for approval")


def check_checker(maker: str, checker: str) -> None:
    if maker == checker:
        raise SameUserApproval(
            f"{checker} made this adjustment: a different finance user must approve it"
        )


BreakState = tuple[str, bool]  # status, whether a resolution is pending


def bulk_refusals(ids: Sequence[int], found: Mapping[int, BreakState]) -> list[Refusal]:
    """Why each of ``ids`` cannot be resolved (none: all can), ``found`` holding the
    tenant's breaks among them."""
    refusals, seen = [], set()
    for i in ids:
        if i in seen:
            refusals.append(Refusal(i, "duplicate_break", "the break is listed twice"))
            continue
        seen.add(i)
        if i not in found:
            refusals.append(Refusal(i, "break_not_found", f"break {i} does not exist"))
            continue
        try:
            check_resolvable(*found[i])
        except BreakResolved as exc:
            refusals.append(Refusal(i, "break_resolved", str(exc)))
        except ResolutionPending as exc:
            refusals.append(Refusal(i, "resolution_pending", str(exc)))
    return refusals
