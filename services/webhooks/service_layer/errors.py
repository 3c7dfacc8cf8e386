"""The service layer's own errors (the domain's refusals are ``domain/errors.py``'s).

The HTTP entrypoint maps each to its answer in one place (``entrypoints/http/errors.py``).
"""

from __future__ import annotations

from shared.pagination import InvalidCursor  # the lists' one (a 400 for every service)


class EndpointNotFound(Exception):
    """No such endpoint for this tenant (another tenant's is none too)."""

    def __init__(self, endpoint_id: str) -> None:
        super().__init__(endpoint_id)
        self.endpoint_id = endpoint_id


class DeliveryNotFound(Exception):
    def __init__(self, delivery_id: str) -> None:
        super().__init__(delivery_id)
        self.delivery_id = delivery_id


__all__ = ["DeliveryNotFound", "EndpointNotFound", "InvalidCursor"]
