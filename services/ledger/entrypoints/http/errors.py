"""The one mapping of the ledger's domain and service-layer errors to API answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.ledger.domain.breaks import (
    ApprovalRequired,
    BreakResolved,
    BulkResolveRefused,
    NoPendingAdjustment,
    NoPendingResolution,
    NoPendingThreshold,
    NotAFinanceUser,
    ResolutionPending,
    SameUserApproval,
)
from services.ledger.domain.fx import (
    FxRateMissing,
    InvalidClosingRate,
    NoReportingCurrency,
    NotReportingCurrency,
)
from services.ledger.domain.periods import ClosedPeriod, PeriodCloseRefused
from services.ledger.domain.recon import (
    InvalidAgeRange,
    InvalidWindow,
    ReportFormatError,
    ReportNotAttributable,
)
from services.ledger.domain.reports import InvalidPeriod
from services.ledger.domain.staff import InvalidAdjustment, NotReversible
from services.ledger.service_layer.errors import (
    EscrowUnreadable,
    InvalidCursor,
    NotFound,
    StripeAccountTaken,
    StripeAccountUnknown,
    StripeUnreadable,
)
from services.ledger.service_layer.fx import RateExists
from shared.http.errors import ApiError, not_found
from shared.unit_of_work import Conflict

# (status, code) per refusal; its message is the error's own.
REFUSALS: dict[type[Exception], tuple[int, str]] = {
    InvalidAdjustment: (422, "invalid_adjustment"),
    ClosedPeriod: (409, "period_closed"),
    NotReversible: (409, "not_reversible"),
    PeriodCloseRefused: (409, "period_close_refused"),
    ReportFormatError: (422, "invalid_report"),
    ReportNotAttributable: (422, "report_not_attributable"),
    InvalidCursor: (400, "invalid_cursor"),
    InvalidPeriod: (422, "invalid_period"),
    StripeUnreadable: (502, "payment_provider_error"),
    EscrowUnreadable: (502, "escrow_unavailable"),
    InvalidWindow: (422, "invalid_window"),
    InvalidAgeRange: (422, "invalid_age_range"),
    StripeAccountTaken: (409, "stripe_account_taken"),
    StripeAccountUnknown: (422, "stripe_account_unknown"),
    Conflict: (409, "concurrent_modification"),
    BreakResolved: (409, "break_resolved"),
    ResolutionPending: (409, "resolution_pending"),
    NoPendingResolution: (409, "no_pending_resolution"),
    NoPendingThreshold: (409, "no_pending_threshold"),
    ApprovalRequired: (409, "approval_required"),
    NoPendingAdjustment: (409, "no_pending_adjustment"),
    SameUserApproval: (403, "same_user_approval"),
    NotAFinanceUser: (422, "not_a_finance_user"),
    InvalidClosingRate: (422, "invalid_rate"),
    RateExists: (409, "fx_rate_exists"),
    FxRateMissing: (422, "fx_rate_missing"),
    NoReportingCurrency: (422, "reporting_currency_unset"),
    NotReportingCurrency: (422, "not_reporting_currency"),
}


def api_error(exc: Exception) -> ApiError | None:
    """The answer to ``exc``, or None for an error that is no refusal (a 500)."""
    if isinstance(exc, NotFound):
        return not_found(exc.kind, exc.key)
    if isinstance(exc, BulkResolveRefused):
        details = [
            {"break_id": r.break_id, "code": r.code, "message": r.message} for r in exc.refusals
        ]
        return ApiError(409, "bulk_resolve_refused", str(exc), details)
    for kind, (status, code) in REFUSALS.items():
        if isinstance(exc, kind):
            return ApiError(status, code, str(exc))
    return None


@contextmanager
def answered() -> Iterator[None]:
    """Run a use case, answering its refusals as the API does."""
    try:
        yield
    except Exception as exc:
        error = api_error(exc)
        if error is None:
            raise
        raise error from exc
