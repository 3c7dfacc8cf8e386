"""The service layer's own errors (the domain's refusals are ``AdvanceRuleViolated`` and
``PolicyError``). The HTTP entrypoint maps each to its answer in one place
(``entrypoints/http/errors.py``); a version conflict is ``shared.unit_of_work.Conflict``.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.financing.domain.sizing import Reason


class AdvanceNotFound(Exception):
    """No such advance for this caller (another tenant's or another supplier's is none too)."""

    def __init__(self, advance_id: str) -> None:
        super().__init__(advance_id)
        self.advance_id = advance_id


class OrderNotFound(Exception):
    """The order financing's read model does not hold (escrow never told of it)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(order_id)
        self.order_id = order_id


class AdvanceRefusal(Exception):
    """No advance can be offered (or accepted) on the order, for the ``reasons`` given.

    ``advance_id`` names the rejected advance recorded for a sized refusal; None when the
    order itself was refused (unknown, not the supplier's, an advance already live), which
    records nothing."""

    code = "advance_refused"

    def __init__(self, advance_id: str | None, reasons: Sequence[Reason]) -> None:
        self.advance_id = advance_id
        self.reasons = tuple(reasons)
        super().__init__("no advance can be offered: " + ", ".join(r.code for r in reasons))


class OrderNotYetKnown(Exception):
    """Financing does not hold the order, but escrow may have created it after the events
    financing has read so far (``domain/arrival.py``): retry after ``retry_after`` s."""

    code = "order_not_yet_known"

    def __init__(self, order_id: str, retry_after: int) -> None:
        super().__init__(order_id)
        self.order_id = order_id
        self.retry_after = retry_after


class FxRateNotLocked(Exception):
    """The order pays the supplier in another currency than its contract currency, and
    escrow locked no payout rate for the whole order (its tenant locks one per milestone at
    release): there is no rate to size an advance in the payout currency at. Nothing is
    recorded."""

    code = "fx_rate_not_locked"

    def __init__(self, order_id: str, currency: str, payout_currency: str) -> None:
        super().__init__(
            f"order {order_id} pays out in {payout_currency} with no locked"
            f" {currency}->{payout_currency} rate: no advance can be sized in {payout_currency}"
        )
        self.order_id = order_id
        self.currency = currency
        self.payout_currency = payout_currency
