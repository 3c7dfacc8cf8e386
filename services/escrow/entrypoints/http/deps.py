"""Dependencies and error mapping shared by the escrow routers."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import Depends, Request

from services.escrow.adapters.repository import ConcurrentModification
from services.escrow.domain import errors as domain
from services.escrow.domain.model import Escrow
from services.escrow.service_layer.context import EscrowContext
from services.escrow.service_layer.settlement import settle
from services.escrow.service_layer.unit import Decide, OrderNotFound, execute
from shared.http.auth import Principal, requires
from shared.http.errors import ApiError, not_found

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


async def run(ctx: EscrowContext, who: Principal, order_id: str, decide: Decide) -> Escrow:
    """Execute a command for the caller's tenant, then settle what it reserved."""
    try:
        escrow, reserved = await execute(ctx, order_id, who.tenant_id, decide, who.actor)
        return await settle(ctx, escrow, reserved)
    except (OrderNotFound, ConcurrentModification, domain.EscrowError) as exc:
        raise_api_error(exc, order_id)


def page(items: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    return {"data": items, "next_cursor": cursor, "has_more": cursor is not None}
