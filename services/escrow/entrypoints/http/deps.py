"""Dependencies and error mapping shared by the escrow routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NoReturn

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository
from services.escrow.adapters.repository import ConcurrentModification
from services.escrow.domain import errors as domain
from services.escrow.domain.model import Escrow
from services.escrow.domain.rules import Decision
from services.escrow.entrypoints.http.schemas import OrderPublic
from services.escrow.service_layer.context import EscrowContext
from services.escrow.service_layer.settlement import settle
from services.escrow.service_layer.unit import Decide, OrderNotFound, execute
from shared.faults import crash_point
from shared.http.auth import Principal, requires
from shared.http.errors import ApiError, not_found
from shared.http.idempotency import answer

Platform = Annotated[Principal, Depends(requires("platform"))]
Finance = Annotated[Principal, Depends(requires("finance"))]
PlatformOrFinance = Annotated[Principal, Depends(requires("platform", "finance"))]
PlatformOrSupplier = Annotated[Principal, Depends(requires("platform", "supplier"))]
Anyone = Annotated[Principal, Depends(requires("platform", "finance", "supplier"))]

STATUS = {
    domain.InvalidOrder: 422,
    domain.InvalidAmount: 422,
    domain.CurrencyMismatch: 422,
    domain.InvalidTransition: 409,
    domain.InsufficientFunds: 409,
    domain.InvariantViolation: 409,
    domain.UnknownMilestone: 404,
    domain.UnknownDispute: 404,
}


def context(request: Request) -> EscrowContext:
    ctx: EscrowContext = request.app.state.container.context
    return ctx


Ctx = Annotated[EscrowContext, Depends(context)]


def raise_api_error(exc: Exception, order_id: str) -> NoReturn:
    if isinstance(exc, OrderNotFound):
        raise not_found("order", order_id) from exc
    if isinstance(exc, ConcurrentModification):
        raise ApiError(
            409, "concurrent_modification", "the escrow changed meanwhile; retry"
        ) from exc
    if isinstance(exc, domain.EscrowError):
        raise ApiError(STATUS.get(type(exc), 409), exc.code, exc.message) from exc
    raise exc


async def load(conn: AsyncConnection, who: Principal, order_id: str) -> Escrow:
    """The order if the caller may see it; another tenant's or supplier's order is a 404."""
    escrow = await repository.get(conn, order_id, who.tenant_id)
    if escrow is None or not who.may_act_for(escrow.supplier_id):
        raise not_found("order", order_id)
    return escrow


async def run(
    ctx: EscrowContext,
    who: Principal,
    order_id: str,
    decide: Decide,
    render: Callable[[Escrow], Any] = OrderPublic.of,
) -> Escrow:
    """Execute a command for the caller's tenant (and supplier), then settle what it reserved.

    Each commit (the command's, then each settlement's) carries the answer its state gives,
    ``render(state)`` (the endpoint's response; see shared/http/idempotency.py): a retry after
    a crash between two of them gets the state that committed last, never a second run.
    """

    def visible(e: Escrow) -> Decision:
        # Checked on the state the command decides on, inside its transaction.
        if not who.may_act_for(e.supplier_id):
            raise OrderNotFound(order_id)
        return decide(e)

    def answering(e: Escrow) -> None:
        answer(render(e))

    try:
        escrow, reserved = await execute(
            ctx, order_id, who.tenant_id, visible, who.actor, answering
        )
        crash_point("escrow.before_settlement")
        return await settle(ctx, escrow, reserved, answering)
    except (OrderNotFound, ConcurrentModification, domain.EscrowError) as exc:
        raise_api_error(exc, order_id)
