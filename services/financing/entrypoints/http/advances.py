"""Advances: the supplier's acceptance and early repayment, finance's default, write-off and
recoveries, and reads (an advance, a list, a statement) for every scope."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.financing.entrypoints.http.deps import (
    AdvanceAnswer,
    Container,
    Finance,
    Reader,
    Supplier,
)
from services.financing.entrypoints.http.errors import answered
from services.financing.entrypoints.http.schemas import (
    AdvancePublic,
    AdvanceUpdate,
    EarlyRepayment,
    FinanceAction,
    RecoveryCreate,
    StatementPublic,
    SupplierAction,
)
from services.financing.service_layer import commands
from shared.http.openapi import PARTY_MISMATCH, Responses, link
from shared.http.pagination import ListOf, Paging
from shared.metadata import ExternalReference

router = APIRouter(prefix="/v1/advances", tags=["financing"])


def advance_links(at: str = "") -> dict[str, Any]:
    """Links from a response holding an advance (at JSON pointer ``at``) to its operations."""
    advance = {"advance_id": f"$response.body#{at}/advance_id"}
    paths = {
        "GetAdvance": "GET /v1/advances/{advance_id}",
        "UpdateAdvance": "PATCH /v1/advances/{advance_id}",
        "GetStatement": "GET /v1/advances/{advance_id}/statement",
        "Accept": "POST /v1/advances/{advance_id}/accept",
        "RepayEarly": "POST /v1/advances/{advance_id}/repay-early",
        "MarkDefault": "POST /v1/advances/{advance_id}/default",
        "WriteOff": "POST /v1/advances/{advance_id}/write-off",
        "RecordRecovery": "POST /v1/advances/{advance_id}/recoveries",
    }
    return {"links": {name: link(op, **advance) for name, op in paths.items()}}


# --- the supplier's ----------------------------------------------------------------------


@router.post("/{advance_id}/accept")
async def accept_offer(
    advance_id: str, body: SupplierAction, who: Supplier, c: Container
) -> AdvancePublic:
    supplier = who.acting_supplier(body.supplier_id)
    answering = AdvanceAnswer(c.clock)
    with answered():
        advance = await commands.accept(
            c.unit_of_work, c.clock, who.tenant_id, supplier, advance_id, who.actor, answering
        )
    return answering.of(advance)


@router.post("/{advance_id}/repay-early")
async def repay_early(
    advance_id: str, body: EarlyRepayment, who: Supplier, c: Container
) -> AdvancePublic:
    supplier = who.acting_supplier(body.supplier_id)
    answering = AdvanceAnswer(c.clock)
    with answered():
        advance = await commands.repay_early(
            c.unit_of_work, c.clock, who.tenant_id, supplier, advance_id,
            body.payment_reference, who.actor, answering,
        )  # fmt: skip
    return answering.of(advance)


# --- reads -----------------------------------------------------------------------------


@router.get("", responses={200: advance_links("/data/0"), **PARTY_MISMATCH})
async def list_advances(
    request: Request,
    who: Reader,
    c: Container,
    page: Paging,
    supplier_id: str | None = None,
    external_reference: ExternalReference | None = None,
) -> ListOf[AdvancePublic]:
    """Newest first, in pages: pass the last advance's ``advance_id`` as ``starting_after``
    while ``has_more`` (another tenant's is `400 invalid_cursor`, as an unknown one)."""
    supplier = who.supplier_filter(supplier_id, unbound_must_name=True)
    with answered():
        found = await commands.list_advances(
            c.unit_of_work(), who.tenant_id, supplier, page, external_reference
        )
    now = c.clock.now()
    return ListOf[AdvancePublic].of(found, request, lambda a: AdvancePublic.of(a, now))


PLATFORM_DATA: Responses = {
    **PARTY_MISMATCH,
    400: {"description": "`invalid_metadata` (50 keys, 40-character keys, 500-character values)"},
    409: {"description": "`duplicate_external_reference`: another advance of the tenant has it"},
}


@router.patch("/{advance_id}", responses={200: advance_links(), **PLATFORM_DATA})
async def update_advance(
    advance_id: str, body: AdvanceUpdate, who: Reader, c: Container
) -> AdvancePublic:
    """Change the platform's own data on the advance, in any state: ``metadata`` is merged
    (a key set to ``""`` is removed), ``external_reference`` set (``null`` removes it). A
    supplier key changes its own advances only."""
    supplier = who.supplier_filter(body.supplier_id, unbound_must_name=True)
    changes = commands.PlatformData(
        metadata=body.metadata,
        external_reference=body.external_reference,
        clear_reference="external_reference" in body.model_fields_set
        and body.external_reference is None,
    )
    answering = AdvanceAnswer(c.clock)
    with answered():
        advance = await commands.update_advance(
            c.unit_of_work, c.clock, who.tenant_id, advance_id, supplier, changes,
            who.actor, answering,
        )  # fmt: skip
    return answering.of(advance)


@router.get("/{advance_id}", responses=PARTY_MISMATCH)
async def get_advance(
    advance_id: str, who: Reader, c: Container, supplier_id: str | None = None
) -> AdvancePublic:
    supplier = who.supplier_filter(supplier_id, unbound_must_name=True)
    with answered():
        advance = await commands.get_advance(c.unit_of_work(), who.tenant_id, advance_id, supplier)
    return AdvancePublic.of(advance, c.clock.now())


@router.get("/{advance_id}/statement", responses=PARTY_MISMATCH)
async def get_statement(
    advance_id: str, who: Reader, c: Container, supplier_id: str | None = None
) -> StatementPublic:
    supplier = who.supplier_filter(supplier_id, unbound_must_name=True)
    with answered():
        statement = await commands.advance_statement(
            c.unit_of_work(), who.tenant_id, advance_id, supplier
        )
    return StatementPublic.of(statement)


# --- finance's -------------------------------------------------------------------------


@router.post("/{advance_id}/default")
async def mark_default(
    advance_id: str, body: FinanceAction, who: Finance, c: Container
) -> AdvancePublic:
    answering = AdvanceAnswer(c.clock)
    with answered():
        advance = await commands.mark_default(
            c.unit_of_work, c.clock, who.tenant_id, advance_id, body.reason, who.actor, answering
        )
    return answering.of(advance)


@router.post("/{advance_id}/write-off")
async def write_off(
    advance_id: str, body: FinanceAction, who: Finance, c: Container
) -> AdvancePublic:
    answering = AdvanceAnswer(c.clock)
    with answered():
        advance = await commands.write_off(
            c.unit_of_work, c.clock, who.tenant_id, advance_id, body.reason, who.actor, answering
        )
    return answering.of(advance)


@router.post("/{advance_id}/recoveries", status_code=201)
async def record_recovery(
    advance_id: str, body: RecoveryCreate, who: Finance, c: Container
) -> AdvancePublic:
    answering = AdvanceAnswer(c.clock)
    with answered():
        advance = await commands.record_recovery(
            c.unit_of_work, c.clock, who.tenant_id, advance_id, body.amount,
            body.payment_reference, who.actor, answering,
        )  # fmt: skip
    return answering.of(advance)
