"""Dependencies and error mapping shared by the escrow routers."""

from __future__ import annotations

from typing import Annotated, NoReturn

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository
from services.escrow.adapters.repository import ConcurrentModification
from services.escrow.domain import errors as domain
from services.escrow.domain.model import Escrow
from services.escrow.domain.rules import Decision
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
# Scopes that make a key tenant-wide, whatever party it names.
TENANT_WIDE = frozenset({"platform", "finance"})

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


def may_see(who: Principal, escrow: Escrow) -> bool:
    """A key holding only the supplier scope sees its own supplier's orders (if it is bound)."""
    return bool(who.scopes & TENANT_WIDE) or who.may_act_for(escrow.supplier_id)


def supplier_of(who: Principal, supplier_id: str | None) -> str | None:
    """The supplier filter of a list: a bound supplier key's own party, whether named or not.

    Naming another supplier is refused (403 party_mismatch) rather than answered with an
    empty page, so the caller learns its mistake; nothing about the other supplier shows.
    """
    if who.scopes & TENANT_WIDE or who.party_id is None:
        return supplier_id
    if supplier_id is not None and not who.may_act_for(supplier_id):
        raise ApiError(403, "party_mismatch", "this API key acts for another supplier")
    return who.party_id


async def load(conn: AsyncConnection, who: Principal, order_id: str) -> Escrow:
    """The order if the caller may see it; another tenant's or supplier's order is a 404."""
    escrow = await repository.get(conn, order_id, who.tenant_id)
    if escrow is None or not may_see(who, escrow):
        raise not_found("order", order_id)
    return escrow


async def run(ctx: EscrowContext, who: Principal, order_id: str, decide: Decide) -> Escrow:
    """Execute a command for the caller's tenant (and supplier), then settle what it reserved."""

    def visible(e: Escrow) -> Decision:
        # Checked on the state the command decides on, inside its transaction.
        if not may_see(who, e):
            raise OrderNotFound(order_id)
        return decide(e)

    try:
        escrow, reserved = await execute(ctx, order_id, who.tenant_id, visible, who.actor)
        return await settle(ctx, escrow, reserved)
    except (OrderNotFound, ConcurrentModification, domain.EscrowError) as exc:
        raise_api_error(exc, order_id)
