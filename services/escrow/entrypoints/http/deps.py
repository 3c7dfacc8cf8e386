"""What the escrow routers depend on: the container, the principals, the caller they act as."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.escrow.bootstrap import EscrowContainer
from services.escrow.domain.model import Escrow
from services.escrow.entrypoints.http.schemas import OrderPublic
from services.escrow.service_layer.commands import Caller
from shared.http.auth import Principal, requires
from shared.http.container import container_of
from shared.http.idempotency import answer

Container = Annotated[EscrowContainer, Depends(container_of(EscrowContainer))]

Platform = Annotated[Principal, Depends(requires("platform"))]
Finance = Annotated[Principal, Depends(requires("finance"))]
PlatformOrFinance = Annotated[Principal, Depends(requires("platform", "finance"))]
PlatformOrSupplier = Annotated[Principal, Depends(requires("platform", "supplier"))]
Anyone = Annotated[Principal, Depends(requires("platform", "finance", "supplier"))]


def caller(who: Principal) -> Caller:
    """The use cases' view of a principal: its tenant, actor and the supplier it is bound to."""
    return Caller(tenant_id=who.tenant_id, actor=who.actor, party=who.bound_party)


def answer_order(escrow: Escrow) -> None:
    """A use case's ``before_commit``: the answer the state about to commit gives, registered
    in that commit (shared/http/idempotency.py), so a retry after a crash replays it."""
    answer(OrderPublic.of(escrow))
