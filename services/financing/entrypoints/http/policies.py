"""A tenant's financing policy per currency: advance rate, daily fee rate, limits, offer
lifetime and the typical days by milestone kind (finance sets it; every scope reads it)."""

from __future__ import annotations

from fastapi import APIRouter

from services.financing.domain.policy import Policy
from services.financing.entrypoints.http.deps import Container, Finance, Reader
from services.financing.entrypoints.http.errors import answered
from services.financing.entrypoints.http.schemas import PolicyPublic, PolicyUpdate
from services.financing.service_layer import commands
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/policies", tags=["financing"])


def answer_policy(policy: Policy) -> None:
    """``set_policy``'s ``before_commit``: the answer its commit carries."""
    answer(PolicyPublic.of(policy))


@router.put("/{currency}")
async def set_policy(currency: str, body: PolicyUpdate, who: Finance, c: Container) -> PolicyPublic:
    with answered():
        policy = await commands.set_policy(
            c.unit_of_work(), who.tenant_id, body.policy(currency), who.actor, answer_policy
        )
    return PolicyPublic.of(policy)


@router.get("/{currency}")
async def get_policy(currency: str, who: Reader, c: Container) -> PolicyPublic:
    with answered():
        policy = await commands.get_policy(c.unit_of_work(), who.tenant_id, currency)
    return PolicyPublic.of(policy)
