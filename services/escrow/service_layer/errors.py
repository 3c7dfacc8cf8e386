"""The service layer's own errors (the domain's refusals are ``domain/errors.py``'s).

The HTTP entrypoint maps each to its answer in one place (``entrypoints/http/errors.py``).
"""

from __future__ import annotations


class OrderNotFound(Exception):
    """No such order for this caller (another tenant's or another supplier's is none too)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(order_id)
        self.order_id = order_id


class PaymentNotSucceeded(Exception):
    """A charge event arrived before its PaymentIntent's success: let Stripe retry it."""

    code = "payment_not_succeeded"


class ChargebackNotOpened(PaymentNotSucceeded):
    """``charge.dispute.closed`` overtook its ``charge.dispute.created``: let Stripe retry
    it (answered like ``PaymentNotSucceeded``: 409, not claimed)."""

    code = "chargeback_not_opened"
