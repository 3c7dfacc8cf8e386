"""Events of the financing service (supplier advances) that the ledger posts.

Owned by the ledger: this is the financing -> ledger contract. Amounts are integer minor
units of ``currency``; every model states the journal transaction the ledger posts for it
(accounts from the chart in docs/ledger.md; "Dr" debits, "Cr" credits). The advance
receivable and the deferred fee income are kept per advance (sub-ledger = advance_id).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from shared.events.registry import EventModel, event, upcaster
from shared.events.types import CurrencyCode, NonNegativeMinorUnits, PositiveMinorUnits
from shared.fx import FxConversion


@event("financing.advance_disbursed", version=1, superseded=True)
class AdvanceDisbursedV1(EventModel):
    """An advance was paid out to the supplier (Stripe transfer of the net amount).

    ``principal`` (what the supplier owes back) = ``net_disbursed`` + ``fee``. Posting:
    Dr advance receivable[advance] principal / Cr Stripe clearing net_disbursed (external
    ref = stripe_transfer_id), Cr deferred fee income[advance] fee.
    """

    model_config = ConfigDict(title="AdvanceDisbursed")

    advance_id: str
    order_id: str
    supplier_id: str
    currency: CurrencyCode
    principal: PositiveMinorUnits
    fee: NonNegativeMinorUnits
    net_disbursed: PositiveMinorUnits
    stripe_transfer_id: str | None = None


@event("financing.fee_amortized", version=1)
class FeeAmortized(EventModel):
    """Part of an advance's fee was earned (amortised over the days to release) up to ``as_of``.

    Posting: Dr deferred fee income[advance] / Cr fee income, ``amount``.
    """

    advance_id: str
    currency: CurrencyCode
    amount: PositiveMinorUnits
    as_of: datetime


@event("financing.advance_repaid_early", version=1)
class AdvanceRepaidEarly(EventModel):
    """The supplier repaid ``amount`` in cash before release; the unearned fee is rebated.

    Posting: Dr Stripe clearing ``amount``, Dr deferred fee income[advance] ``fee_rebate`` /
    Cr advance receivable[advance] ``amount + fee_rebate``.
    """

    advance_id: str
    currency: CurrencyCode
    amount: NonNegativeMinorUnits
    fee_rebate: NonNegativeMinorUnits
    stripe_payment_id: str | None = None


@event("financing.advance_written_off", version=1)
class AdvanceWrittenOff(EventModel):
    """Finance staff wrote off what remained of a defaulted advance.

    Posting: Dr credit losses / Cr advance receivable[advance], ``amount``.
    """

    advance_id: str
    currency: CurrencyCode
    amount: PositiveMinorUnits


@event("financing.recovery_recorded", version=1)
class RecoveryRecorded(EventModel):
    """Money was recovered on a written-off advance.

    Posting: Dr Stripe clearing / Cr credit losses (a recovery reduces the loss), ``amount``.
    """

    advance_id: str
    currency: CurrencyCode
    amount: PositiveMinorUnits
    stripe_payment_id: str | None = None


# Commands from financing to escrow (the lien saga). Escrow answers each with
# escrow.lien_placed / escrow.lien_refused, resp. escrow.lien_released.


@event("financing.lien_requested", version=1)
class LienRequested(EventModel):
    """Financing asks escrow to place a lien for ``advance_id`` on the order's future releases."""

    order_id: str
    advance_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    supplier_id: str


@event("financing.lien_release_requested", version=1)
class LienReleaseRequested(EventModel):
    """Financing no longer needs the lien (advance repaid, cancelled or written off)."""

    order_id: str
    advance_id: str
    reason: str


# The advance's own lifecycle, published by financing for observers (no ledger posting).
# Subject / Kafka key of every financing event is the order id (see docs/financing.md).


@event("financing.advance_offered", version=1, superseded=True)
class AdvanceOfferedV1(EventModel):
    model_config = ConfigDict(title="AdvanceOffered")

    advance_id: str
    order_id: str
    supplier_id: str
    buyer_id: str
    currency: CurrencyCode
    principal: PositiveMinorUnits
    fee: NonNegativeMinorUnits
    term_days: PositiveMinorUnits
    daily_fee_rate: Decimal
    apr: Decimal
    expires_at: datetime


@event("financing.advance_refused", version=1, superseded=True)
class AdvanceRefusedV1(EventModel):
    model_config = ConfigDict(title="AdvanceRefused")

    advance_id: str
    order_id: str
    supplier_id: str
    reasons: list[str]


@event("financing.advance_state_changed", version=1, superseded=True)
class AdvanceStateChangedV1(EventModel):
    """accepted, expired, cancelled, frozen, unfrozen, repaid, defaulted, recovered, ..."""

    model_config = ConfigDict(title="AdvanceStateChanged")

    advance_id: str
    order_id: str
    state_from: str
    state: str
    reason: str | None = None
    actor: str


@event("financing.repayment_applied", version=1, superseded=True)
class RepaymentAppliedV1(EventModel):
    """A release repaid part of the advance: fee first, then principal (docs/financing.md)."""

    model_config = ConfigDict(title="RepaymentApplied")

    advance_id: str
    order_id: str
    currency: CurrencyCode
    amount: PositiveMinorUnits
    to_fee: NonNegativeMinorUnits
    to_principal: NonNegativeMinorUnits
    balance_after: NonNegativeMinorUnits


@event("financing.recourse_claimed", version=1, superseded=True)
class RecourseClaimedV1(EventModel):
    """A refund left the escrow unable to repay: the shortfall is claimed from the supplier."""

    model_config = ConfigDict(title="RecourseClaimed")

    advance_id: str
    order_id: str
    supplier_id: str
    currency: CurrencyCode
    amount: PositiveMinorUnits


# --- v2: the advance's platform data -----------------------------------------------------
# Each v2 below carries the advance's ``metadata`` and ``external_reference`` (the platform's
# own data, shared/metadata.py), so a platform receiving the webhook can match the advance to
# its records without a read. The v1 above stay, frozen as published (retention, replays),
# and are upcast with none.


@event("financing.advance_disbursed", version=2)
class AdvanceDisbursed(EventModel):
    """An advance was paid out to the supplier (Stripe transfer of the net amount).

    ``principal`` (what the supplier owes back) = ``net_disbursed`` + ``fee``, all in the
    contract ``currency``. Posting: Dr advance receivable[advance] principal / Cr Stripe
    clearing net_disbursed (external ref = stripe_transfer_id), Cr deferred fee
    income[advance] fee.

    Paid out in another currency (``payout_currency`` set): the Stripe transfer sent
    ``payout_amount`` minor units of ``payout_currency``, which is ``net_disbursed`` converted
    at ``payout_rate`` (payout units per one contract unit, major units, a decimal string):
    the locked payout rate ``locked_rate`` of the order (escrow.funded's ``payout_lock``)
    less ``fx_haircut_bps``, rounded down (docs/financing.md, "Advances in the payout
    currency"); ``payout_fx`` is that payout as a conversion. Principal, fee and the lien stay
    in ``currency``. Posting then: Dr advance receivable[advance] principal / Cr deferred fee
    income[advance] fee, Cr FX clearing net_disbursed (in ``currency``); Dr FX clearing
    ``payout_fx.mid_amount`` / Cr Stripe clearing ``payout_amount`` (ref = transfer), Cr FX
    revenue ``payout_fx.markup_amount`` (in ``payout_currency``). None (0) for an advance
    paid in ``currency``.
    """

    advance_id: str
    order_id: str
    supplier_id: str
    currency: CurrencyCode
    principal: PositiveMinorUnits
    fee: NonNegativeMinorUnits
    net_disbursed: PositiveMinorUnits
    stripe_transfer_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None
    payout_currency: CurrencyCode | None = None
    payout_amount: PositiveMinorUnits | None = None
    payout_rate: str | None = None
    locked_rate: str | None = None
    fx_haircut_bps: int = Field(0, ge=0, le=10_000)
    payout_fx: FxConversion | None = Field(
        None,
        description="the payout as a conversion: from = net_disbursed in `currency`, to = "
        "payout_amount in payout_currency; mid_rate = the locked payout rate, rate = "
        "payout_rate, markup_bps = fx_haircut_bps, markup_amount = what the haircut (and "
        "rounding down) kept back, in payout_currency",
    )


@upcaster("financing.advance_disbursed", from_version=1)
def _advancedisbursed_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried no platform data (none) and paid the net in the contract currency (no
    payout conversion)."""
    return {
        **data,
        "metadata": {},
        "external_reference": None,
        "payout_currency": None,
        "payout_amount": None,
        "payout_rate": None,
        "locked_rate": None,
        "fx_haircut_bps": 0,
        "payout_fx": None,
    }


@event("financing.advance_offered", version=2)
class AdvanceOffered(EventModel):
    """An offer: principal, fee and term in the contract ``currency``; paid out in another
    currency, also the net in ``payout_currency`` (``payout_net``), the rate it is converted
    at (``payout_rate``: ``locked_rate`` less ``fx_haircut_bps``). None (0) otherwise."""

    advance_id: str
    order_id: str
    supplier_id: str
    buyer_id: str
    currency: CurrencyCode
    principal: PositiveMinorUnits
    fee: NonNegativeMinorUnits
    term_days: PositiveMinorUnits
    daily_fee_rate: Decimal
    apr: Decimal
    expires_at: datetime
    payout_currency: CurrencyCode | None = None
    payout_net: PositiveMinorUnits | None = None
    payout_rate: str | None = None
    locked_rate: str | None = None
    fx_haircut_bps: int = Field(0, ge=0, le=10_000)
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None


@upcaster("financing.advance_offered", from_version=1)
def _advanceoffered_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried no platform data (none) and offered in the contract currency only."""
    return {
        **data,
        "metadata": {},
        "external_reference": None,
        "payout_currency": None,
        "payout_net": None,
        "payout_rate": None,
        "locked_rate": None,
        "fx_haircut_bps": 0,
    }


@event("financing.advance_refused", version=2)
class AdvanceRefused(EventModel):
    advance_id: str
    order_id: str
    supplier_id: str
    reasons: list[str]
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None


@upcaster("financing.advance_refused", from_version=1)
def _advancerefused_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried no platform data: none."""
    return {**data, "metadata": {}, "external_reference": None}


@event("financing.advance_state_changed", version=2)
class AdvanceStateChanged(EventModel):
    """accepted, expired, cancelled, frozen, unfrozen, repaid, defaulted, recovered, ..."""

    advance_id: str
    order_id: str
    state_from: str
    state: str
    reason: str | None = None
    actor: str
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None


@upcaster("financing.advance_state_changed", from_version=1)
def _advancestatechanged_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried no platform data: none."""
    return {**data, "metadata": {}, "external_reference": None}


@event("financing.repayment_applied", version=2)
class RepaymentApplied(EventModel):
    """A release repaid part of the advance: fee first, then principal (docs/financing.md)."""

    advance_id: str
    order_id: str
    currency: CurrencyCode
    amount: PositiveMinorUnits
    to_fee: NonNegativeMinorUnits
    to_principal: NonNegativeMinorUnits
    balance_after: NonNegativeMinorUnits
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None


@upcaster("financing.repayment_applied", from_version=1)
def _repaymentapplied_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried no platform data: none."""
    return {**data, "metadata": {}, "external_reference": None}


@event("financing.recourse_claimed", version=2)
class RecourseClaimed(EventModel):
    """A refund left the escrow unable to repay: the shortfall is claimed from the supplier."""

    advance_id: str
    order_id: str
    supplier_id: str
    currency: CurrencyCode
    amount: PositiveMinorUnits
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None


@upcaster("financing.recourse_claimed", from_version=1)
def _recourseclaimed_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried no platform data: none."""
    return {**data, "metadata": {}, "external_reference": None}
