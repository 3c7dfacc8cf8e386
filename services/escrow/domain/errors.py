"""Typed domain errors. ``code`` is machine-readable; the HTTP layer maps errors to statuses."""

from __future__ import annotations


class EscrowError(Exception):
    """Base of every refusal by the escrow domain."""

    code = "escrow_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidOrder(EscrowError):
    """The order's terms are not acceptable (schedule does not sum, bad currency, ...)."""

    code = "invalid_order"


class InvalidTransition(EscrowError):
    """The command is not allowed in the escrow's (or milestone's) current state."""

    code = "invalid_transition"


class InvalidAmount(EscrowError):
    code = "invalid_amount"


class InvalidEvidence(EscrowError):
    """Dispute evidence that says nothing: neither text nor a document, blank text, or a
    document whose SHA-256 is not 64 lowercase hex digits."""

    code = "invalid_evidence"


class CurrencyMismatch(EscrowError):
    """Money in another currency than the order's: never added to (or taken from) it."""

    code = "currency_mismatch"


class InsufficientFunds(EscrowError):
    """Paying out would take more than the escrow holds and is free to release."""

    code = "insufficient_funds"


class UnknownMilestone(EscrowError):
    code = "milestone_not_found"


class UnknownDispute(EscrowError):
    code = "dispute_not_found"


class InvariantViolation(EscrowError):
    """held = funded - released - refunded >= 0 (or a sibling rule) would be broken."""

    code = "invariant_violation"


class UnbookableRefund(EscrowError):
    """A refund made outside Tradeflow (seen in ``charge.refunded``) for more than escrow
    can book: ``bookable`` is what it could have booked. Its ``code`` says which limit.
    ``currency``: that of ``amount`` and ``bookable``, when not the order's (a refund of a
    payment in the funding currency is counted in it, as Stripe refunded it)."""

    def __init__(
        self,
        message: str,
        *,
        stripe_refund_id: str,
        payment_id: str,
        amount: int,
        bookable: int,
        currency: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stripe_refund_id = stripe_refund_id
        self.payment_id = payment_id
        self.amount = amount
        self.bookable = bookable
        self.currency = currency


class RefundBeyondPayment(UnbookableRefund, InvalidAmount):
    """More than its payment has left to refund."""

    code = "invalid_amount"


class RefundBeyondAvailable(UnbookableRefund, InsufficientFunds):
    """More than the escrow holds free (not reserved, not frozen)."""

    code = "insufficient_funds"


class UnknownOffer(EscrowError):
    code = "offer_not_found"


class UnknownProposal(EscrowError):
    code = "partial_refund_not_found"


class WrongParty(EscrowError):
    """The step is the other party's (the supplier responds; an offer or a proposal is
    answered by the party that did not make it)."""

    code = "wrong_party"


# --- FX (issue 14; docs/fx.md) ----------------------------------------------------------


class FxError(EscrowError):
    code = "fx_error"


class InvalidFx(FxError):
    """A rate, pair, side or amount of a rate import or quote request that is not usable."""

    code = "invalid_fx"


class FxRateUnavailable(FxError):
    """No rate in force for the pair (none imported, or none effective yet)."""

    code = "fx_rate_unavailable"


class FxQuoteNotFound(FxError):
    code = "fx_quote_not_found"


class FxQuoteExpired(FxError):
    code = "fx_quote_expired"


class FxQuoteUsed(FxError):
    code = "fx_quote_used"


class FxQuoteMismatch(FxError):
    """The quote is for another pair, side, amount or order than what it is used for."""

    code = "fx_quote_mismatch"


class FxQuoteRequired(FxError):
    """A payment in another currency than the contract's needs a quote; a release under the
    "milestone" policy into another payout currency needs one too."""

    code = "fx_quote_required"


class FxWireNotSupported(FxError):
    """A wire funds in the contract currency only."""

    code = "fx_wire_contract_currency_only"
