"""The tenant's platform fee policy: basis points plus a fixed fee per currency, per release.

An order copies the policy in force when it is created, so changing the policy never
changes the terms of existing contracts.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.escrow.entrypoints.http.deps import Container, Finance, PlatformOrFinance, caller
from services.escrow.entrypoints.http.schemas import FeePolicy
from services.escrow.service_layer import commands
from services.escrow.service_layer.unit_of_work import FeeTerms
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/fee-policy", tags=["fees"])


@router.get("")
async def get_policy(who: PlatformOrFinance, c: Container) -> FeePolicy:
    terms = await commands.get_fee_policy(c.unit_of_work(), who.tenant_id)
    return FeePolicy(basis_points=terms.basis_points, fixed_fees=terms.fixed_fees)


@router.put("")
async def set_policy(body: FeePolicy, who: Finance, c: Container) -> FeePolicy:
    answer(body)  # the answer the policy's commit carries
    terms = FeeTerms(body.basis_points, dict(body.fixed_fees))
    await commands.set_fee_policy(c.unit_of_work(), caller(who), terms)
    return body
