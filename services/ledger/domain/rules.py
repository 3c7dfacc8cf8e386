"""Posting rules: each money event the ledger consumes maps to one balanced transaction.

``draft_for(envelope)`` returns the ``JournalDraft`` an event implies, or ``None`` for the
events the ledger does not post (status changes that move no money). The rule per event is
documented on its event model and in docs/ledger.md; this module is the one place it is coded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.ledger.domain.chart import (
    ADVANCE_RECEIVABLE,
    CREDIT_LOSSES,
    DEFERRED_FEE_INCOME,
    FEE_INCOME,
    STRIPE_CLEARING,
)
from services.ledger.domain.escrow_rules import ESCROW_RULES
from services.ledger.domain.journal import JournalDraft, Line, cr, dr
from shared.events import Envelope, EventModel, new_event_id
from shared.events.financing import (
    AdvanceDisbursed,
    AdvanceRepaidEarly,
    AdvanceWrittenOff,
    FeeAmortized,
    RecoveryRecorded,
)

Rule = Callable[[Any], tuple[str, list[Line]]]

AR, DFI, SC = ADVANCE_RECEIVABLE.code, DEFERRED_FEE_INCOME.code, STRIPE_CLEARING.code


def advance_disbursed(e: AdvanceDisbursed) -> tuple[str, list[Line]]:
    if e.principal != e.net_disbursed + e.fee:
        raise ValueError(f"principal {e.principal} != net {e.net_disbursed} + fee {e.fee}")
    c, a = e.currency, e.advance_id
    lines = [dr(AR, c, e.principal, a), cr(SC, c, e.net_disbursed, ref=e.stripe_transfer_id)]
    if e.fee:
        lines.append(cr(DFI, c, e.fee, a))
    return f"advance {a} disbursed for order {e.order_id}", lines


def fee_amortized(e: FeeAmortized) -> tuple[str, list[Line]]:
    c, a = e.currency, e.advance_id
    return f"advance {a} fee earned to {e.as_of.date()}", [
        dr(DFI, c, e.amount, a),
        cr(FEE_INCOME.code, c, e.amount),
    ]


def advance_repaid_early(e: AdvanceRepaidEarly) -> tuple[str, list[Line]]:
    c, a = e.currency, e.advance_id
    memo = f"advance {a} repaid early, fee rebate {e.fee_rebate}"
    if e.amount + e.fee_rebate == 0:
        return memo, []
    lines = []
    if e.amount:
        lines.append(dr(SC, c, e.amount, ref=e.stripe_payment_id))
    if e.fee_rebate:
        lines.append(dr(DFI, c, e.fee_rebate, a))
    lines.append(cr(AR, c, e.amount + e.fee_rebate, a))
    return memo, lines


def advance_written_off(e: AdvanceWrittenOff) -> tuple[str, list[Line]]:
    c, a = e.currency, e.advance_id
    return f"advance {a} written off", [
        dr(CREDIT_LOSSES.code, c, e.amount),
        cr(AR, c, e.amount, a),
    ]


def recovery_recorded(e: RecoveryRecorded) -> tuple[str, list[Line]]:
    c = e.currency
    return f"recovery on advance {e.advance_id}", [
        dr(SC, c, e.amount, ref=e.stripe_payment_id),
        cr(CREDIT_LOSSES.code, c, e.amount),
    ]


RULES: dict[str, Rule] = {
    "financing.advance_disbursed": advance_disbursed,
    "financing.fee_amortized": fee_amortized,
    "financing.advance_repaid_early": advance_repaid_early,
    "financing.advance_written_off": advance_written_off,
    "financing.recovery_recorded": recovery_recorded,
    **ESCROW_RULES,
}


def draft_for(env: Envelope, payload: EventModel | None = None) -> JournalDraft | None:
    """The transaction ``env`` implies, or None when the ledger ignores this event type."""
    rule = RULES.get(env.type)
    if rule is None:
        return None
    memo, lines = rule(payload if payload is not None else env.payload())
    if len(lines) < 2:
        return None  # nothing moved (e.g. an early repayment of zero with no rebate)
    return JournalDraft(
        id=new_event_id(),
        tenant_id=env.tenant_id,
        posted_at=env.occurred_at,
        source_event_id=env.id,
        source_type=env.type,
        memo=memo,
        lines=tuple(lines),
    )
