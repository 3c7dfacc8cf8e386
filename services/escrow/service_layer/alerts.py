"""What finance is shown of money escrow could not move or book (the operations records),
and the repository Protocol the use cases see them through (``uow.refund_alerts``).

- ``StuckRefund``: a reserved refund Stripe refused at every settlement attempt so far.
  Counted from the first refusal; alerted once (``escrow.refund_stuck``) when the count
  reaches ``settings.escrow_refund_stuck_after_attempts``; listed while it is alerted and
  still pending in its escrow (once Stripe accepts it, it leaves the list by itself).
- ``RefundBreak``: a refund made outside Tradeflow (``charge.refunded``) that escrow could
  not book (``escrow.external_refund_unbooked``); listed from then on, newest first.
- ``ParkedDeadline``: a deadline timer whose action escrow kept refusing; after
  ``settings.escrow_deadline_max_attempts`` firings it gives up (``escrow.deadline_parked``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class StuckRefund:
    refund_id: str
    tenant_id: str
    order_id: str
    payment_id: str | None
    amount: int
    currency: str
    attempts: int
    last_error: str
    first_refused_at: datetime
    last_refused_at: datetime
    alerted_at: datetime | None = None
    # Finance gave it up (``abandon_stuck_refund``): when, who, how, and why.
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RefundBreak:
    tenant_id: str
    order_id: str
    stripe_refund_id: str
    payment_id: str
    stripe_event_id: str
    amount: int
    currency: str
    bookable: int
    reason: str
    detected_at: datetime
    # Finance worked it (``resolve_refund_break``): when, who, how, and why.
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ParkedDeadline:
    """A person's deadline whose action escrow refused ``attempts`` times: the timer gave
    up (``settings.escrow_deadline_max_attempts``) and finance decides what happens."""

    tenant_id: str
    order_id: str
    what: str
    subject: str
    due_at: datetime
    attempts: int
    error_code: str
    last_error: str
    parked_at: datetime


@dataclass(frozen=True)
class Resolution:
    """Finance's answer to an operations record: the typed action, who, when, and why."""

    resolution: str
    resolved_by: str
    resolved_at: datetime
    note: str


class RefundAlerts(Protocol):
    async def refused(self, first: StuckRefund) -> StuckRefund:
        """One more refusal of ``first.refund_id`` (``first``: the record of a first one,
        attempts 1): the record after it, with the attempts counted so far."""

    async def alerted(self, refund_id: str, at: datetime) -> None: ...

    async def stuck(self, tenant_id: str, limit: int) -> list[StuckRefund]:
        """The tenant's refunds alerted as stuck and still pending, oldest alert first."""

    async def add_break(self, found: RefundBreak) -> bool:
        """Record a break; False if this Stripe refund was recorded before."""

    async def breaks(
        self, tenant_id: str, limit: int, status: str | None = None
    ) -> list[RefundBreak]:
        """The tenant's refund breaks, newest first (``status``: only ``open`` or
        ``resolved`` ones)."""

    async def stuck_refund(self, tenant_id: str, refund_id: str) -> StuckRefund | None: ...

    async def resolve_stuck(self, refund_id: str, resolution: Resolution) -> None: ...

    async def refund_break(self, tenant_id: str, stripe_refund_id: str) -> RefundBreak | None: ...

    async def resolve_break(
        self, tenant_id: str, stripe_refund_id: str, resolution: Resolution
    ) -> None: ...

    async def park_deadline(self, parked: ParkedDeadline) -> bool:
        """Record a parked deadline; False if this one was parked before."""

    async def parked_deadlines(self, tenant_id: str, limit: int) -> list[ParkedDeadline]:
        """The tenant's parked deadlines, most recently parked first."""
