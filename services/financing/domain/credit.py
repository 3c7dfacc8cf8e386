"""Credit events: a dispute freezes the advance, a refund turns the shortfall into recourse on
the supplier, finance staff mark default, write off and record recoveries.

At default the fee still deferred is earned at once, so the write-off takes the whole
balance to credit losses and the deferred fee income for the advance ends at zero. Writing
off gives the lien back to escrow: later money comes in as recorded recoveries.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.financing.domain.advance import (
    DEFAULTED,
    DISBURSED,
    FROZEN,
    PARTIALLY_REPAID,
    RECOURSE,
    RECOVERED,
    WRITTEN_OFF,
    Advance,
    AdvanceRuleViolated,
    Step,
)
from services.financing.domain.lifecycle import SYSTEM, release_lien
from services.financing.domain.servicing import amortize_to
from shared.events.financing import AdvanceWrittenOff, RecourseClaimed, RecoveryRecorded


def freeze(advance: Advance, dispute_id: str) -> Step:
    if advance.state not in (DISBURSED, PARTIALLY_REPAID):
        return advance, []
    return replace(advance, frozen_from=advance.state).moved(
        FROZEN, SYSTEM, f"dispute:{dispute_id}"
    )


def unfreeze(advance: Advance, dispute_id: str) -> Step:
    if advance.state != FROZEN:
        return advance, []
    back = advance.frozen_from or DISBURSED
    return replace(advance, frozen_from=None).moved(back, SYSTEM, f"dispute_resolved:{dispute_id}")


def claim_recourse(advance: Advance, capacity: int) -> Step:
    """After a refund the escrow can repay at most ``capacity``; claim the rest."""
    shortfall = advance.balance - capacity
    if (
        advance.state not in (DISBURSED, PARTIALLY_REPAID, FROZEN, RECOURSE)
        or shortfall <= advance.recourse
    ):
        return advance, []
    extra = shortfall - advance.recourse
    advance, moved = replace(advance, recourse=shortfall).moved(
        RECOURSE, SYSTEM, "refund_shortfall"
    )
    claim = RecourseClaimed(
        advance_id=advance.advance_id,
        order_id=advance.order_id,
        supplier_id=advance.supplier_id,
        currency=advance.currency,
        amount=extra,
        metadata=dict(advance.metadata),
        external_reference=advance.external_reference,
    )
    return advance, [*moved, claim]


def mark_default(advance: Advance, now: datetime, actor: str, reason: str) -> Step:
    advance.require(DISBURSED, PARTIALLY_REPAID, FROZEN, RECOURSE, code="cannot_default")
    advance, earned = amortize_to(advance, advance.fee, now)
    advance, moved = replace(advance, frozen_from=None).moved(DEFAULTED, actor, reason)
    return advance, [*earned, *moved]


def write_off(advance: Advance, actor: str, reason: str) -> Step:
    advance.require(DEFAULTED, code="not_defaulted")
    amount = advance.balance
    if amount <= 0:
        raise AdvanceRuleViolated("nothing_to_write_off", "the advance has no balance left")
    advance, moved = replace(advance, written_off=amount).moved(WRITTEN_OFF, actor, reason)
    lost = AdvanceWrittenOff(
        advance_id=advance.advance_id, currency=advance.currency, amount=amount
    )
    return advance, [lost, *moved, release_lien(advance, "written_off")]


def record_recovery(advance: Advance, amount: int, actor: str, payment_id: str | None) -> Step:
    advance.require(WRITTEN_OFF, code="not_written_off")
    if amount <= 0 or advance.recovered + amount > advance.written_off:
        raise AdvanceRuleViolated(
            "recovery_exceeds_loss",
            f"at most {advance.written_off - advance.recovered} is recoverable",
        )
    advance = replace(advance, recovered=advance.recovered + amount)
    event = RecoveryRecorded(
        advance_id=advance.advance_id,
        currency=advance.currency,
        amount=amount,
        stripe_payment_id=payment_id,
    )
    if advance.recovered == advance.written_off:
        advance, moved = advance.moved(RECOVERED, actor, "fully_recovered")
        return advance, [event, *moved]
    return advance, [event]
