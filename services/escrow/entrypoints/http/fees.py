"""The tenant's platform fee policy: basis points plus a fixed fee per currency, per release.

An order copies the policy in force when it is created, so changing the policy never
changes the terms of existing contracts.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.escrow.adapters import repository
from services.escrow.entrypoints.http.deps import Ctx, Finance, PlatformOrFinance
from services.escrow.entrypoints.http.schemas import FeePolicy
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/fee-policy", tags=["fees"])


@router.get("")
async def get_policy(who: PlatformOrFinance, ctx: Ctx) -> FeePolicy:
    async with ctx.engine.connect() as conn:
        bps, fixed = await repository.fee_policy(conn, who.tenant_id)
    return FeePolicy(basis_points=bps, fixed_fees=fixed)


@router.put("")
async def set_policy(body: FeePolicy, who: Finance, ctx: Ctx) -> FeePolicy:
    answer(body)
    async with ctx.engine.begin() as conn:
        await repository.set_fee_policy(
            conn, who.tenant_id, body.basis_points, dict(body.fixed_fees), who.actor
        )
    return body
