"""The advance aggregate: its state, its balance, and the rules every transition checks.

The supplier receives ``principal - fee`` and owes ``principal``. The balance owed (the
ledger's advance receivable for this advance) is::

    principal - repaid_fee - repaid_principal - repaid_early - fee_rebated - written_off

once disbursed, and 0 before. Transitions live in lifecycle.py (offer -> disbursement),
servicing.py (repayment, amortisation, early repayment) and credit.py (freeze, recourse,
default, write-off, recovery); each returns the new advance and the events it emits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from shared.events.financing import AdvanceStateChanged
from shared.events.registry import EventModel

OFFERED, REJECTED, ACCEPTED, EXPIRED, CANCELLED = (
    "offered",
    "rejected",
    "accepted",
    "expired",
    "cancelled",
)
DISBURSED, PARTIALLY_REPAID, REPAID, FROZEN, RECOURSE = (
    "disbursed",
    "partially_repaid",
    "repaid",
    "frozen",
    "recourse",
)
DEFAULTED, WRITTEN_OFF, RECOVERED = "defaulted", "written_off", "recovered"

# States in which money is out and owed back (the fee amortises, releases repay).
OUTSTANDING = frozenset({DISBURSED, PARTIALLY_REPAID, FROZEN, RECOURSE, DEFAULTED})
# States that count against the limits (accepted: the money is about to go out).
LIVE = OUTSTANDING | {ACCEPTED}


class AdvanceRuleViolated(Exception):
    """A command the advance's state does not allow; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Step = tuple["Advance", list[EventModel]]


@dataclass(frozen=True)
class Advance:
    advance_id: str
    tenant_id: str
    order_id: str
    supplier_id: str
    buyer_id: str
    currency: str
    state: str
    principal: int
    fee: int
    term_days: int
    daily_fee_rate: Decimal
    apr: Decimal
    created_at: datetime
    expires_at: datetime
    reasons: tuple[str, ...] = ()
    disbursed_at: datetime | None = None
    stripe_transfer_id: str | None = None
    repaid_fee: int = 0
    repaid_principal: int = 0
    repaid_early: int = 0
    fee_rebated: int = 0
    fee_amortized: int = 0
    written_off: int = 0
    recovered: int = 0
    recourse: int = 0
    unapplied: int = 0  # repayments that arrived when nothing was owed; due back to the supplier
    frozen_from: str | None = None
    # The platform's own data (shared/metadata.py): never read by any rule here.
    metadata: dict[str, str] = field(default_factory=dict, hash=False)
    external_reference: str | None = None
    # Paid out in another currency than the contract's (domain/fx.py): the net converted at
    # the locked payout rate less the haircut. None: paid in ``currency``.
    payout_currency: str | None = None
    payout_net: int | None = None
    payout_rate: Decimal | None = None
    locked_rate: Decimal | None = None
    fx_haircut_bps: int = 0
    version: int = 0
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def net(self) -> int:
        return self.principal - self.fee

    @property
    def transfer(self) -> tuple[int, str]:
        """What the disbursement transfers: (amount, currency), in the payout currency."""
        if self.payout_currency is not None and self.payout_net is not None:
            return self.payout_net, self.payout_currency
        return self.net, self.currency

    @property
    def disbursed(self) -> bool:
        return self.disbursed_at is not None

    @property
    def owed(self) -> int:
        """What the principal still needs, counting releases that repaid the lien before the
        payout (a parked ``lien_placed`` replayed late)."""
        paid = self.repaid_fee + self.repaid_principal + self.repaid_early
        return self.principal - paid - self.fee_rebated - self.written_off

    @property
    def balance(self) -> int:
        return self.owed if self.disbursed else 0

    @property
    def fee_due(self) -> int:
        return max(0, self.fee - self.repaid_fee - self.fee_rebated)

    @property
    def exposure(self) -> int:
        """What this advance counts against the limits."""
        if self.state == ACCEPTED:
            return self.principal
        return self.balance if self.state in OUTSTANDING else 0

    def require(self, *states: str, code: str = "invalid_state") -> None:
        if self.state not in states:
            raise AdvanceRuleViolated(
                code, f"advance {self.advance_id} is {self.state}; needs {', '.join(states)}"
            )

    def moved(self, state: str, actor: str, reason: str | None = None) -> Step:
        """The advance in ``state`` and the state_changed event (what else changes with the
        state is ``dataclasses.replace``d on the advance first)."""
        event = AdvanceStateChanged(
            advance_id=self.advance_id,
            order_id=self.order_id,
            state_from=self.state,
            state=state,
            reason=reason,
            actor=actor,
            metadata=dict(self.metadata),
            external_reference=self.external_reference,
        )
        return replace(self, state=state), [event]
