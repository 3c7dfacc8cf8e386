"""The service layer's own errors (the domain's refusals are its modules'). The HTTP
entrypoint maps each to its answer in one place (``entrypoints/http/errors.py``)."""

from __future__ import annotations


class NotFound(Exception):
    """No such ``kind`` (transaction, account, break) for this tenant: another tenant's is
    none either."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key}")
        self.kind, self.key = kind, key


class InvalidCursor(ValueError):
    """A page cursor this service never returned."""


class StripeUnreadable(Exception):
    """Stripe's balance transactions could not be read (refused or unreachable)."""


class StripeAccountTaken(Exception):
    """The Stripe account is another tenant's already: one account, one tenant's books."""

    def __init__(self, account: str) -> None:
        super().__init__(f"Stripe account {account} belongs to another tenant")


class StripeAccountUnknown(Exception):
    """Stripe knows no such account for the platform's key: nothing to bind."""

    def __init__(self, account: str) -> None:
        super().__init__(f"Stripe has no account {account} the platform can read")


class EscrowUnreadable(Exception):
    """Escrow could not say what it holds (refused, unreachable, or an answer not its own)."""
