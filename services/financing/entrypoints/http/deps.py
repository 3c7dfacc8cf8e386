"""What the financing routers depend on: the container, the principals, the answers they
register before a use case commits.

Supplier scope quotes, accepts, repays early and reads its own advances: a supplier key
bound to a party acts for that supplier only, an unbound one names the supplier in every
request (``Principal.acting_supplier`` and ``supplier_filter``, shared/http/principal.py).
Finance scope sets policy, marks defaults, writes off and records recoveries. Platform
scope reads. A write may carry an Idempotency-Key (optional, as on Stripe and the other
services: with one, the shared middleware replays the first answer to a retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.financing.bootstrap import FinancingContainer
from services.financing.domain.advance import Advance
from services.financing.entrypoints.http.errors import refusal_error
from services.financing.entrypoints.http.schemas import AdvancePublic
from services.financing.service_layer.errors import AdvanceRefusal
from shared.clock import Clock
from shared.http.auth import Principal, requires
from shared.http.container import container_of
from shared.http.idempotency import answer, answer_error

Container = Annotated[FinancingContainer, Depends(container_of(FinancingContainer))]

Supplier = Annotated[Principal, Depends(requires("supplier"))]
Finance = Annotated[Principal, Depends(requires("finance"))]
Reader = Annotated[Principal, Depends(requires("platform", "finance", "supplier"))]


@dataclass
class AdvanceAnswer:
    """A use case's ``before_commit``: the answer the advance about to commit gives (or the
    refusal a rejected quote commits), registered in that commit (shared/http/idempotency.py)
    so a retry after a crash replays it; ``of`` returns the same answer as the response."""

    clock: Clock
    registered: AdvancePublic | None = None

    def __call__(self, outcome: Advance | AdvanceRefusal) -> None:
        if isinstance(outcome, AdvanceRefusal):
            answer_error(refusal_error(outcome))
        else:
            self.registered = answer(AdvancePublic.of(outcome, self.clock.now()))

    def of(self, advance: Advance) -> AdvancePublic:
        if self.registered is not None and self.registered.advance_id == advance.advance_id:
            return self.registered
        return AdvancePublic.of(advance, self.clock.now())
