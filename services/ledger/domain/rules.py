"""Posting rules: each money event the ledger consumes maps to one balanced transaction.

``draft_for(envelope)`` returns the ``JournalDraft`` an event implies, or ``None`` for the
events the ledger does not post (status changes that move no money). The rule per event is
documented on its event model and in docs/ledger.md; this module is the one place it is coded.
Rules are keyed by event model, not type string: the envelope's payload is upcast to the
current model of its type first, so one rule serves every version of a type.
"""

from __future__ import annotations

from services.ledger.domain.chart import (
    ADVANCE_RECEIVABLE,
    CREDIT_LOSSES,
    DEFERRED_FEE_INCOME,
    FEE_INCOME,
    STRIPE_CLEARING,
)
from services.ledger.domain.escrow_rules import ESCROW_RULES
from services.ledger.domain.fx import Leg, conversion_lines
from services.ledger.domain.journal import JournalDraft, Line, cr, dr
from services.ledger.domain.rule import Rule, keyed
from shared.events import Envelope, EventModel, new_event_id
from shared.events.financing import (
    AdvanceDisbursed,
    AdvanceRepaidEarly,
    AdvanceWrittenOff,
    FeeAmortized,
    RecoveryRecorded,
)

AR, DFI, SC = ADVANCE_RECEIVABLE.code, DEFERRED_FEE_INCOME.code, STRIPE_CLEARING.code


def advance_disbursed(e: AdvanceDisbursed) -> tuple[str, list[Line]]:
    """Dr advance receivable principal / Cr Stripe clearing net, Cr deferred fee income fee.
    Paid out in another currency (``payout_fx``): the net leaves the contract currency
    through FX clearing and Stripe clearing is credited in the payout currency with what the
    transfer sent; what the haircut kept back (``markup_amount``) is FX revenue, as a
    payout's markup is (``domain/fx.conversion_lines``, docs/fx.md)."""
    if e.principal != e.net_disbursed + e.fee:
        raise ValueError(f"principal {e.principal} != net {e.net_disbursed} + fee {e.fee}")
    c, a = e.currency, e.advance_id
    memo = f"advance {a} disbursed for order {e.order_id}"
    fx = e.payout_fx
    if fx is not None:
        if (fx.from_currency, fx.from_amount) != (c, e.net_disbursed):
            raise ValueError(
                f"the payout converts {fx.from_amount} {fx.from_currency}, not the net"
            )
        lines = [dr(AR, c, e.fee, a), cr(DFI, c, e.fee, a)] if e.fee else []
        ref = e.stripe_transfer_id
        lines += conversion_lines(fx, Leg(AR, a), Leg(SC, ref=ref), ref or a)
        return f"{memo}: {e.net_disbursed} {c} -> {fx.to_amount} {fx.to_currency}", lines
    lines = [dr(AR, c, e.principal, a), cr(SC, c, e.net_disbursed, ref=e.stripe_transfer_id)]
    if e.fee:
        lines.append(cr(DFI, c, e.fee, a))
    return memo, lines


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


# Keyed by event model, the current version of each type: ``env.payload()`` upcasts an
# older version before the lookup, so every version of a type posts by its one rule.
RULES: dict[type[EventModel], Rule] = {
    **dict(
        [
            keyed(AdvanceDisbursed, advance_disbursed),
            keyed(FeeAmortized, fee_amortized),
            keyed(AdvanceRepaidEarly, advance_repaid_early),
            keyed(AdvanceWrittenOff, advance_written_off),
            keyed(RecoveryRecorded, recovery_recorded),
        ]
    ),
    **ESCROW_RULES,
}
# The types the ledger posts: any other event is no money event, and is not even parsed.
POSTED_TYPES = frozenset(model.event_type for model in RULES)


def rule_for(payload: EventModel) -> Rule:
    """The posting rule of a money event (its type is in ``POSTED_TYPES``).

    ``payload`` must be the current model of its type (``Envelope.payload()`` gives it): a
    superseded version is refused, never left unposted for want of a rule."""
    rule = RULES.get(type(payload))
    if rule is None:
        raise TypeError(
            f"no posting rule for {type(payload).__name__} ({payload.event_type} "
            f"v{payload.event_version}): is it a current model? Envelope.payload() upcasts"
        )
    return rule


def draft_for(env: Envelope, payload: EventModel | None = None) -> JournalDraft | None:
    """The transaction ``env`` implies, or None when the ledger ignores this event type.

    ``payload``: ``env.payload()`` (upcast to the current model), when the caller has it."""
    if env.type not in POSTED_TYPES:
        return None
    payload = env.payload() if payload is None else payload
    memo, lines = rule_for(payload)(payload)
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
