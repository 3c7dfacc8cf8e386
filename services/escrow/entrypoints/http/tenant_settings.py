"""The tenant's settings beyond fees: its dispute deadlines (``domain/terms.py``).

An order copies the deadlines in force when it is created, so changing them never moves
the deadlines of an existing contract (as for the fee policy).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ConfigDict
from pydantic.config import JsonDict

from services.escrow.domain.terms import DisputeTerms
from services.escrow.entrypoints.http.deps import Container, Finance, PlatformOrFinance, caller
from services.escrow.service_layer import commands
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/tenant-settings", tags=["tenant settings"])

EXAMPLE: JsonDict = {
    "negotiation_seconds": 604800,
    "supplier_answer_seconds": 432000,
    "return_shipping_seconds": 1209600,
    "return_receipt_seconds": 1209600,
    "reinspection_seconds": 864000,
    "replacement_seconds": 2592000,
    "refund_proposal_seconds": 604800,
}


class DisputeDeadlines(DisputeTerms):
    """Seconds each party has, per step: a dispute's negotiation before it escalates to
    finance; a rejection's supplier answer, return shipping, return receipt, re-inspection
    and replacement; a partial refund proposal's lifetime. Each 3600 (an hour) to 7776000
    (90 days); a field left out takes its default (the values of the example)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})


@router.get("/dispute-deadlines")
async def get_dispute_deadlines(who: PlatformOrFinance, c: Container) -> DisputeDeadlines:
    terms = await commands.get_dispute_terms(c.unit_of_work(), who.tenant_id)
    return DisputeDeadlines.model_validate(terms.model_dump())


@router.put("/dispute-deadlines")
async def set_dispute_deadlines(
    body: DisputeDeadlines, who: Finance, c: Container
) -> DisputeDeadlines:
    """The deadlines of orders created from now on (finance)."""
    answer(body)  # the answer the settings' commit carries
    terms = DisputeTerms.model_validate(body.model_dump())
    await commands.set_dispute_terms(c.unit_of_work(), caller(who), terms)
    return body
